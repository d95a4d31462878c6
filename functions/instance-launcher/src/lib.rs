//! instance-launcher: a function URL that serves a launch form (GET /) and launches an EC2
//! instance from a launch template when it is posted (POST /, form or JSON).
//!
//! parse and validate ([`request`], pure) -> observe ([`ports`]: an earlier launch of the same
//! form, the owner's instances) -> plan ([`plan`], pure: whether to launch, the type, tags and
//! token) -> apply ([`apply`] over [`ports`]: RunInstances) -> answer ([`report`]: JSON for scripts, [`page`]
//! for browsers), routed by [`handler`].

pub mod apply;
pub mod config;
pub mod handler;
pub mod lease;
pub mod model;
pub mod page;
pub mod plan;
pub mod ports;
pub mod quota;
pub mod report;
pub mod request;

use fleetkeeper::Error;
use fleetkeeper::http::SecretSource;
use fleetkeeper::lambda::{Boot, Invocation};
use fleetkeeper::seal::{Keys, SecretKeys};

use config::Config;
pub use handler::{App, RESERVE};
use ports::{Ec2, S3Claims};

/// What one cold start builds: the settings and the clients.
pub struct Lambda {
    pub config: Config,
    pub app: App,
}

/// The wiring of `main`.
pub async fn init(boot: &Boot) -> Result<Lambda, Error> {
    let config = Config::from_env(&boot.env)?;
    let ssm = boot.aws.client("SSM", aws_sdk_ssm::Client::new);
    let app = App {
        ec2: Ec2 {
            client: boot.aws.client("EC2", aws_sdk_ec2::Client::new),
        },
        secret: SecretSource::for_mode(&config.auth, ssm),
        region: boot.aws.region().unwrap_or("us-east-1").to_owned(),
        keys: Keys::Secret(SecretKeys::new(
            boot.aws
                .client("SECRETS_MANAGER", aws_sdk_secretsmanager::Client::new),
            &config.seal_secret,
        )),
        claims: S3Claims {
            client: boot.aws.client("S3", aws_sdk_s3::Client::new),
            bucket: config.quota_bucket.clone(),
        },
    };
    // A shared secret that cannot be read, or is too short, stops the cold start.
    if let Some(secret) = &app.secret {
        secret.check().await?;
    }
    Ok(Lambda { config, app })
}

/// One invocation: one HTTP request.
pub async fn handle(
    lambda: &Lambda,
    inv: Invocation<'_>,
) -> Result<aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse, Error> {
    handler::run(
        &lambda.app,
        &lambda.config,
        inv.payload,
        inv.now,
        inv.metrics,
    )
    .await
}
