//! The one AWS SDK loader every function uses.
//!
//! Endpoints follow the AWS SDK convention (`AWS_ENDPOINT_URL`, overridden per service by
//! `AWS_ENDPOINT_URL_<SERVICE>`, all ignored with `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`), but are
//! resolved here from [`Env`] so the same rules hold for a snapshot of variables in tests. S3 gets
//! path-style addressing whenever an endpoint is set, since emulators do not serve
//! virtual-hosted bucket names.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};

use crate::config::{ConfigError, Env};
use crate::error::AwsError;

/// Settings the loader reads from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsSettings {
    /// `AWS_REGION` (Lambda sets it); None leaves it to the SDK's default chain.
    pub region: Option<String>,
    /// `AWS_MAX_ATTEMPTS`: attempts per call in the standard retry mode, first one included.
    pub max_attempts: u32,
    /// `RETRY_INITIAL_BACKOFF_MS`: the base of the exponential, jittered backoff.
    pub initial_backoff: Duration,
    /// The global endpoint override, `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    /// Per-service overrides: (service id as in the variable name, e.g. `EC2`, `ROUTE_53`; URL).
    pub service_endpoints: Vec<(String, String)>,
}

/// Service ids as they appear in `AWS_ENDPOINT_URL_<SERVICE>`.
pub const SERVICES: &[&str] = &[
    "EC2",
    "SSM",
    "S3",
    "ROUTE_53",
    "STS",
    "CLOUDWATCH",
    "SECRETS_MANAGER",
];

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            region: None,
            max_attempts: 3,
            initial_backoff: Duration::from_secs(1),
            endpoint_url: None,
            service_endpoints: Vec::new(),
        }
    }
}

impl AwsSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let ignore = env.bool("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", false)?;
        let url = |var: &str| -> Result<Option<String>, ConfigError> {
            if ignore {
                return Ok(None);
            }
            env.parse_with(var, "an http:// or https:// URL", |s| {
                (s.starts_with("http://") || s.starts_with("https://")).then(|| s.to_owned())
            })
        };
        let mut service_endpoints = Vec::new();
        for service in SERVICES {
            if let Some(u) = url(&format!("AWS_ENDPOINT_URL_{service}"))? {
                service_endpoints.push(((*service).to_owned(), u));
            }
        }
        Ok(AwsSettings {
            region: env
                .get("AWS_REGION")
                .or_else(|| env.get("AWS_DEFAULT_REGION")),
            max_attempts: env.u64_in("AWS_MAX_ATTEMPTS", 3, 1, 10)? as u32,
            initial_backoff: Duration::from_millis(env.u64_in(
                "RETRY_INITIAL_BACKOFF_MS",
                1000,
                1,
                20_000,
            )?),
            endpoint_url: url("AWS_ENDPOINT_URL")?,
            service_endpoints,
        })
    }

    /// The endpoint for one service: its own override, else the global one, else AWS's.
    pub fn endpoint_for(&self, service: &str) -> Option<&str> {
        self.service_endpoints
            .iter()
            .find(|(s, _)| s == service)
            .map(|(_, u)| u.as_str())
            .or(self.endpoint_url.as_deref())
    }

    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(self.initial_backoff)
    }
}

/// A loaded SDK configuration plus the endpoint rules; build clients from it once, in `main`.
#[derive(Debug, Clone)]
pub struct Aws {
    sdk: SdkConfig,
    settings: AwsSettings,
}

impl Aws {
    /// Loads credentials, region and retry settings (the SDK's default chains for the rest).
    pub async fn load(settings: AwsSettings) -> Self {
        Self::load_with(settings, |loader| loader).await
    }

    /// As [`Aws::load`], with a hook to adjust the loader (tests pass fixed credentials).
    pub async fn load_with(
        settings: AwsSettings,
        customize: impl FnOnce(ConfigLoader) -> ConfigLoader,
    ) -> Self {
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).retry_config(settings.retry_config());
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        let sdk = customize(loader).load().await;
        Aws { sdk, settings }
    }

    pub fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }

    pub fn settings(&self) -> &AwsSettings {
        &self.settings
    }

    pub fn region(&self) -> Option<&str> {
        self.sdk.region().map(|r| r.as_ref())
    }

    /// The SdkConfig for one service, with its endpoint override applied.
    pub fn sdk_for(&self, service: &str) -> SdkConfig {
        match self.settings.endpoint_for(service) {
            Some(url) => self.sdk.to_builder().endpoint_url(url).build(),
            None => self.sdk.clone(),
        }
    }

    /// A client for one service: `aws.client("EC2", aws_sdk_ec2::Client::new)`.
    pub fn client<C>(&self, service: &str, make: impl Fn(&SdkConfig) -> C) -> C {
        make(&self.sdk_for(service))
    }

    /// One client per region, for functions that span regions. Regions keep their order and
    /// duplicates are dropped; an empty list means the loaded region alone.
    pub fn regional<C>(
        &self,
        service: &str,
        regions: &[String],
        make: impl Fn(&SdkConfig) -> C,
    ) -> Vec<(String, C)> {
        let mut wanted: Vec<String> = Vec::new();
        for r in regions {
            if !wanted.contains(r) {
                wanted.push(r.clone());
            }
        }
        if wanted.is_empty() {
            wanted.extend(self.region().map(str::to_owned));
        }
        let base = self.sdk_for(service);
        wanted
            .into_iter()
            .map(|region| {
                let cfg = base
                    .to_builder()
                    .region(Region::new(region.clone()))
                    .build();
                (region, make(&cfg))
            })
            .collect()
    }

    /// Every (account, region) a run acts in, with a client for each: the function's own
    /// account, or each account in `role_arns` (its role assumed through STS), crossed with
    /// `regions`. The label is the region, or `account/region` across accounts.
    pub async fn places<C>(
        &self,
        role_arns: &[String],
        session_name: &str,
        service: &str,
        regions: &[String],
        make: impl Fn(&SdkConfig) -> C,
    ) -> Vec<(String, C)> {
        let mut accounts = Vec::new();
        if role_arns.is_empty() {
            accounts.push((String::new(), self.clone()));
        }
        for arn in role_arns {
            let account = arn.split(':').nth(4).unwrap_or_default().to_owned();
            accounts.push((account, self.assume_role(arn, session_name).await));
        }
        let mut out = Vec::new();
        for (account, aws) in &accounts {
            for (region, client) in aws.regional(service, regions, &make) {
                let label = if account.is_empty() {
                    region
                } else {
                    format!("{account}/{region}")
                };
                out.push((label, client));
            }
        }
        out
    }

    /// The same configuration acting as `role_arn` through STS (for functions that reach into
    /// other accounts). Credentials are fetched on first use and refreshed before they expire.
    pub async fn assume_role(&self, role_arn: &str, session_name: &str) -> Aws {
        let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name(session_name)
            .configure(&self.sdk_for("STS"))
            .build()
            .await;
        let sdk = self
            .sdk
            .to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            )
            .build();
        Aws {
            sdk,
            settings: self.settings.clone(),
        }
    }

    /// The same configuration acting as `role_arn` in `region`, with the role assumed now: a
    /// role that cannot be assumed is this call's error, not every later call's. The session
    /// lasts an hour, longer than any invocation.
    pub async fn assume_role_now(
        &self,
        role_arn: &str,
        session_name: &str,
        region: &str,
    ) -> Result<Aws, AwsError> {
        use aws_credential_types::provider::ProvideCredentials;
        let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name(session_name)
            .configure(&self.sdk_for("STS"))
            .build()
            .await;
        let credentials = provider.provide_credentials().await.map_err(|e| AwsError {
            operation: "sts:AssumeRole".into(),
            kind: crate::error::AwsErrorKind::Service,
            code: Some("AssumeRoleFailed".into()),
            message: Some(format!(
                "{role_arn} cannot be assumed: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            )),
            http_status: None,
        })?;
        let sdk = self
            .sdk
            .to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
            )
            .region(aws_types::region::Region::new(region.to_owned()))
            .build();
        Ok(Aws {
            sdk,
            settings: self.settings.clone(),
        })
    }

    /// The S3 client, path-style whenever an endpoint override is in force.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let sdk = self.sdk_for("S3");
        let config = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(self.settings.endpoint_for("S3").is_some())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<AwsSettings, ConfigError> {
        AwsSettings::from_env(&Env::of(pairs))
    }

    #[test]
    fn service_endpoint_overrides_the_global_one() {
        let s = settings(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_ROUTE_53", "http://127.0.0.1:6000"),
        ])
        .unwrap();
        assert_eq!(s.endpoint_for("ROUTE_53"), Some("http://127.0.0.1:6000"));
        assert_eq!(s.endpoint_for("EC2"), Some("http://127.0.0.1:5000"));
        assert_eq!(settings(&[]).unwrap().endpoint_for("EC2"), None);
    }

    #[test]
    fn ignore_configured_endpoints_wins() {
        let s = settings(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:6000"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ])
        .unwrap();
        assert_eq!(s.endpoint_for("S3"), None);
    }

    #[test]
    fn bad_values_are_named() {
        let err = settings(&[("AWS_ENDPOINT_URL_EC2", "localhost:5000")]).unwrap_err();
        assert!(err.to_string().contains("AWS_ENDPOINT_URL_EC2"), "{err}");
        let err = settings(&[("AWS_MAX_ATTEMPTS", "0")]).unwrap_err();
        assert!(err.to_string().contains("from 1 to 10"), "{err}");
    }

    #[test]
    fn defaults_match_the_sdk_standard_mode() {
        let s = settings(&[("AWS_REGION", "eu-central-1")]).unwrap();
        assert_eq!(s.max_attempts, 3);
        assert_eq!(s.region.as_deref(), Some("eu-central-1"));
        assert_eq!(s.retry_config().max_attempts(), 3);
    }

    #[tokio::test]
    async fn regional_clients_follow_the_list_without_duplicates() {
        let aws = Aws::load(settings(&[("AWS_REGION", "us-east-1")]).unwrap()).await;
        let clients = aws.regional(
            "EC2",
            &["eu-west-1".into(), "us-west-2".into(), "eu-west-1".into()],
            |c| c.region().map(|r| r.to_string()),
        );
        let got: Vec<_> = clients
            .iter()
            .map(|(r, c)| (r.as_str(), c.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("eu-west-1", Some("eu-west-1")),
                ("us-west-2", Some("us-west-2"))
            ]
        );
        let own = aws.regional("EC2", &[], |c| c.region().map(|r| r.to_string()));
        assert_eq!(own[0].0, "us-east-1");
    }
}
