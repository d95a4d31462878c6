//! Settings from environment variables.

use fleetkeeper::http::AuthMode;
use fleetkeeper::tags::ScheduleTag;
use fleetkeeper::{ConfigError, Env, Mode};

/// `LAUNCH_TEMPLATE`: an id (`lt-` + hex) or a name. The AMI, subnet and security groups come
/// from it, never from this code or the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Template {
    Id(String),
    Name(String),
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `ALLOWED_SIZES`: form label -> instance type, in the order the form lists them.
    pub sizes: Vec<(String, String)>,
    pub template: Template,
    /// `LAUNCH_TEMPLATE_VERSION`: `$Default` (default), `$Latest` or a number.
    pub template_version: String,
    /// `MAX_PER_OWNER`: live instances (stopped ones too) one caller may have.
    pub max_per_owner: usize,
    /// `DEFAULT_HOURS` / `MAX_HOURS`: hours to live.
    pub default_hours: u32,
    pub max_hours: u32,
    /// `MAX_EXTENSIONS`: how many times the "your instances" page may extend one lease.
    pub max_extensions: u32,
    /// `OWNER_DOMAINS`: if set, owner e-mails must be in one of these domains.
    pub owner_domains: Vec<String>,
    /// `SCHEDULE_TAG_KEY` / `SCHEDULE_TAG_VALUE`: nightly-stopper's opt-in tag.
    pub schedule_tag: ScheduleTag,
    /// `MAX_BODY_BYTES`: larger bodies are refused with 413.
    pub max_body: usize,
    /// `SECRET_PARAMETER` (+ `SECRET_HEADER`), else AWS_IAM.
    pub auth: AuthMode,
    /// `PUBLIC_URL`: where people open the form behind a proxy; its `host[:port]` is the only
    /// origin a browser may post from. Unset: the function URL's own host.
    pub public_authority: Option<String>,
    /// `SEAL_SECRET`: the Secrets Manager secret (name or ARN) holding the seal key.
    pub seal_secret: String,
    /// `QUOTA_BUCKET`: where each caller's claim book lives (the quota's conditional writes).
    pub quota_bucket: String,
    /// `SESSION_ROLES`: roles whose session names an identity provider sets (a name, or a
    /// prefix ending in `*`); every other assumed role's sessions are the role itself.
    pub session_roles: Vec<String>,
    pub mode: Mode,
}

fn valid_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `t3.micro`, `m7g.large`, `c6in.2xlarge`: a family, a dot, a size.
fn valid_instance_type(s: &str) -> bool {
    let mut parts = s.split('.');
    let (Some(family), Some(size), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let ok = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    ok(family) && ok(size) && family.as_bytes()[0].is_ascii_lowercase()
}

/// `LAUNCH_TEMPLATE_VERSION`: a number (pinned, as the template deploys it) or `$Default`.
/// `$Latest` is refused: whoever may add a version to the template would decide what the
/// form launches.
fn template_version(env: &Env) -> Result<String, ConfigError> {
    const VAR: &str = "LAUNCH_TEMPLATE_VERSION";
    let v = env.string(VAR, "$Default");
    let number = !v.is_empty() && !v.starts_with('0') && v.bytes().all(|b| b.is_ascii_digit());
    if v == "$Default" || number {
        Ok(v)
    } else {
        Err(ConfigError::invalid(
            VAR,
            &v,
            "a version number such as 3 (pinned), or $Default; not $Latest, which anyone who may add a template version would choose",
        ))
    }
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        const SIZES: &str = "ALLOWED_SIZES";
        let mut sizes: Vec<(String, String)> = Vec::new();
        for item in env.list(SIZES) {
            let bad = || {
                ConfigError::invalid(
                    SIZES,
                    &item,
                    "label=instance-type pairs such as small=t3.micro,medium=t3.small",
                )
            };
            let (label, ty) = item.split_once('=').ok_or_else(bad)?;
            let (label, ty) = (label.trim(), ty.trim());
            if !valid_label(label) || !valid_instance_type(ty) {
                return Err(bad());
            }
            if sizes.iter().any(|(l, _)| l == label) {
                return Err(ConfigError::invalid(SIZES, &item, "each label once"));
            }
            sizes.push((label.to_owned(), ty.to_owned()));
        }
        if sizes.is_empty() {
            return Err(ConfigError::Missing {
                var: SIZES.into(),
                expected: "label=instance-type pairs such as small=t3.micro,medium=t3.small".into(),
            });
        }
        let template = env.required(
            "LAUNCH_TEMPLATE",
            "a launch template id (lt-0123456789abcdef0) or name",
        )?;
        let template = match template.strip_prefix("lt-") {
            Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Template::Id(template.clone())
            }
            _ => Template::Name(template.clone()),
        };
        let default_hours = env.u64_in("DEFAULT_HOURS", 8, 1, 24 * 90)? as u32;
        let max_hours = env.u64_in("MAX_HOURS", 72, 1, 24 * 90)? as u32;
        if default_hours > max_hours {
            return Err(ConfigError::invalid(
                "DEFAULT_HOURS",
                &default_hours.to_string(),
                format!("at most MAX_HOURS ({max_hours})"),
            ));
        }
        let auth = AuthMode::from_env(env)?;
        Ok(Config {
            sizes,
            template,
            template_version: template_version(env)?,
            max_per_owner: env.u64_in("MAX_PER_OWNER", 3, 1, 1000)? as usize,
            default_hours,
            max_hours,
            max_extensions: env.u64_in("MAX_EXTENSIONS", 3, 0, 100)? as u32,
            owner_domains: env
                .list("OWNER_DOMAINS")
                .into_iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
            schedule_tag: ScheduleTag::from_env(env),
            max_body: env.u64_in("MAX_BODY_BYTES", 16 * 1024, 1024, 1024 * 1024)? as usize,
            auth,
            public_authority: env.parse_with(
                "PUBLIC_URL",
                "the https:// URL people open the form at, such as https://launch.example.com/",
                fleetkeeper::http::authority,
            )?,
            seal_secret: env.string("SEAL_SECRET", fleetkeeper::seal::DEFAULT_SECRET),
            quota_bucket: env.required(
                "QUOTA_BUCKET",
                "the S3 bucket that holds each caller's launch claims (the template creates it)",
            )?,
            session_roles: env.list("SESSION_ROLES"),
            mode: Mode::from_env(env)?,
        })
    }

    pub fn instance_type(&self, label: &str) -> Option<&str> {
        self.sizes
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, t)| t.as_str())
    }
}

/// The settings the unit tests share: two sizes, a template by name.
#[cfg(test)]
pub fn test_config() -> Config {
    Config::from_env(&Env::of(&[
        ("ALLOWED_SIZES", "small=t3.micro,medium=t3.small"),
        ("LAUNCH_TEMPLATE", "dev-box"),
        ("QUOTA_BUCKET", "launch-claims"),
    ]))
    .expect("valid test settings")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: [(&str, &str); 3] = [
        ("ALLOWED_SIZES", "small=t3.micro, medium=t3.small"),
        ("LAUNCH_TEMPLATE", "lt-0abc123def4567890"),
        ("QUOTA_BUCKET", "launch-claims"),
    ];

    fn with(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut pairs = BASE.to_vec();
        pairs.extend_from_slice(extra);
        Config::from_env(&Env::of(&pairs))
    }

    #[test]
    fn reads_sizes_template_and_defaults() {
        let c = with(&[]).unwrap();
        assert_eq!(c.instance_type("medium"), Some("t3.small"));
        assert_eq!(c.instance_type("huge"), None);
        assert_eq!(c.template, Template::Id("lt-0abc123def4567890".into()));
        assert_eq!((c.default_hours, c.max_hours, c.max_per_owner), (8, 72, 3));
        assert_eq!(c.auth, AuthMode::Iam);
        assert_eq!(c.template_version, "$Default");
        assert_eq!(
            with(&[("LAUNCH_TEMPLATE_VERSION", "7")])
                .unwrap()
                .template_version,
            "7"
        );
        let c = with(&[
            ("LAUNCH_TEMPLATE", "dev-box"),
            ("SECRET_PARAMETER", "/fleetkeeper/launcher-secret"),
        ])
        .unwrap();
        assert_eq!(c.template, Template::Name("dev-box".into()));
        assert_eq!(
            c.auth,
            AuthMode::SharedSecret {
                parameter: "/fleetkeeper/launcher-secret".into(),
                header: "x-fleetkeeper-secret".into(),
                overlap: std::time::Duration::from_secs(600),
            }
        );
    }

    #[test]
    fn bad_settings_name_the_variable() {
        for (var, value) in [
            ("ALLOWED_SIZES", "small"),
            ("ALLOWED_SIZES", "small=t3micro"),
            ("ALLOWED_SIZES", "Small=t3.micro"),
            ("ALLOWED_SIZES", "a=t3.micro,a=t3.small"),
            ("MAX_PER_OWNER", "0"),
            ("DEFAULT_HOURS", "100"),
            ("MAX_HOURS", "zero"),
            ("MAX_EXTENSIONS", "101"),
            ("LAUNCH_TEMPLATE_VERSION", "$Latest"),
            ("LAUNCH_TEMPLATE_VERSION", "03"),
        ] {
            let err = with(&[(var, value)]).unwrap_err();
            assert!(err.to_string().contains(var), "{var}={value}: {err}");
        }
        let err = Config::from_env(&Env::of(&[BASE[0], BASE[2]])).unwrap_err();
        assert!(err.to_string().contains("LAUNCH_TEMPLATE"), "{err}");
        let err = Config::from_env(&Env::of(&[BASE[1], BASE[2]])).unwrap_err();
        assert!(err.to_string().contains("ALLOWED_SIZES"), "{err}");
        let err = Config::from_env(&Env::of(&[BASE[0], BASE[1]])).unwrap_err();
        assert!(err.to_string().contains("QUOTA_BUCKET"), "{err}");
    }
}
