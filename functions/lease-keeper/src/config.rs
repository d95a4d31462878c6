//! Settings from environment variables; every error names the variable.

use fleetkeeper::exec::{BucketSpec, buckets};
use fleetkeeper::lease::Terms;
use fleetkeeper::{ConfigError, Env, Mode};

/// Where warnings go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notify {
    /// An e-mail to the owner through SES, from this verified sender.
    Email { sender: String },
    /// A message to the alerts topic (no sender configured).
    Topic { arn: String },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub regions: Vec<String>,
    /// `WARN_HOURS`: warn this long before a lease ends.
    pub warn_hours: u32,
    /// `GRACE_DAYS`: terminate this long after the expiry stop.
    pub grace_days: u32,
    /// `MAX_TERMINATIONS`: more in one run refuses the whole run.
    pub max_terminations: usize,
    /// `TERMINATE_TAGGED`: terminate leased instances instance-launcher did not launch too.
    pub terminate_tagged: bool,
    pub notify: Notify,
    /// `EXTEND_URL`: where an owner extends a lease (the launch form's "your instances" page).
    pub extend_url: Option<String>,
    /// `OWNER_DOMAINS`: the only e-mail domains warnings are sent to (required with SENDER).
    pub owner_domains: Vec<String>,
    /// `SEAL_SECRET`: the Secrets Manager secret (name or ARN) holding the seal key.
    pub seal_secret: String,
    /// `MAX_HOURS`: the longest lease period (instance-launcher's); an expiry further from
    /// the instance's launch than this (once per extension) counts as that far.
    pub max_hours: u32,
    pub mode: Mode,
    /// `ACTION_RATE_BURST` / `ACTION_RATE_PER_SECOND`: EC2's mutating calls.
    pub rate: BucketSpec,
}

impl Config {
    /// The terms every lease runs under here.
    pub fn terms(&self) -> Terms {
        Terms {
            warn_hours: self.warn_hours,
            grace_days: self.grace_days,
            max_hours: self.max_hours,
        }
    }

    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let regions = env.regions("REGIONS")?;
        let warn_hours = env.u64_in("WARN_HOURS", 24, 1, 720)? as u32;
        let grace_days = env.u64_in("GRACE_DAYS", 7, 0, 365)? as u32;
        let max_terminations = env.u64_in("MAX_TERMINATIONS", 10, 0, 10_000)? as usize;
        let terminate_tagged = env.bool("TERMINATE_TAGGED", false)?;
        let notify = match (env.get("SENDER"), env.get("ALERTS_TOPIC_ARN")) {
            (Some(sender), _) => {
                let looks_like_address = sender
                    .split_once('@')
                    .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'));
                if !looks_like_address {
                    return Err(ConfigError::invalid(
                        "SENDER",
                        &sender,
                        "an e-mail address verified in SES, such as fleet@example.com",
                    ));
                }
                Notify::Email { sender }
            }
            (None, Some(arn)) if arn.starts_with("arn:aws") && arn.contains(":sns:") => {
                Notify::Topic { arn }
            }
            (None, Some(arn)) => {
                return Err(ConfigError::invalid(
                    "ALERTS_TOPIC_ARN",
                    &arn,
                    "an SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:alerts",
                ));
            }
            (None, None) => {
                return Err(ConfigError::Missing {
                    var: "SENDER".into(),
                    expected: "an SES sender address for the warnings, or ALERTS_TOPIC_ARN for an SNS topic".into(),
                });
            }
        };
        let owner_domains: Vec<String> = env
            .list("OWNER_DOMAINS")
            .into_iter()
            .map(|d| d.to_ascii_lowercase())
            .collect();
        // The owner tag is anyone's to write: without a list of domains, the sender would
        // mail whatever address a tag names.
        if matches!(notify, Notify::Email { .. }) && owner_domains.is_empty() {
            return Err(ConfigError::Missing {
                var: "OWNER_DOMAINS".into(),
                expected: "the e-mail domains lease warnings may be sent to, comma-separated, such as example.com (required with SENDER)".into(),
            });
        }
        Ok(Config {
            regions,
            owner_domains,
            seal_secret: env.string("SEAL_SECRET", fleetkeeper::seal::DEFAULT_SECRET),
            max_hours: env.u64_in("MAX_HOURS", 72, 1, 24 * 90)? as u32,
            warn_hours,
            grace_days,
            max_terminations,
            terminate_tagged,
            notify,
            extend_url: env.get("EXTEND_URL"),
            mode: Mode::from_env(env)?,
            rate: BucketSpec::from_env(env, "ACTION_RATE", buckets::EC2_MUTATING.headroom(0.9))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_where_warnings_go() {
        let c = Config::from_env(&Env::of(&[
            ("SENDER", "fleet@example.com"),
            ("OWNER_DOMAINS", "Example.com, example.org"),
        ]))
        .unwrap();
        assert_eq!(c.owner_domains, ["example.com", "example.org"]);
        assert_eq!(
            (c.warn_hours, c.grace_days, c.max_terminations),
            (24, 7, 10)
        );
        assert!(!c.terminate_tagged);
        assert_eq!(
            c.notify,
            Notify::Email {
                sender: "fleet@example.com".into()
            }
        );
        let arn = "arn:aws:sns:us-east-1:123456789012:alerts";
        let c = Config::from_env(&Env::of(&[("ALERTS_TOPIC_ARN", arn)])).unwrap();
        assert_eq!(c.notify, Notify::Topic { arn: arn.into() });
    }

    #[test]
    fn bad_values_name_the_variable() {
        let ok = ("SENDER", "fleet@example.com");
        let domains = ("OWNER_DOMAINS", "example.com");
        for (pairs, var) in [
            (vec![ok, domains, ("WARN_HOURS", "0")], "WARN_HOURS"),
            (vec![ok, domains, ("GRACE_DAYS", "a week")], "GRACE_DAYS"),
            (
                vec![ok, domains, ("MAX_TERMINATIONS", "-1")],
                "MAX_TERMINATIONS",
            ),
            (
                vec![ok, domains, ("TERMINATE_TAGGED", "maybe")],
                "TERMINATE_TAGGED",
            ),
            (vec![ok, domains, ("REGIONS", "mars-1")], "REGIONS"),
            (vec![ok], "OWNER_DOMAINS"),
            (vec![("SENDER", "fleet")], "SENDER"),
            (vec![("ALERTS_TOPIC_ARN", "alerts")], "ALERTS_TOPIC_ARN"),
            (vec![], "SENDER"),
        ] {
            let err = Config::from_env(&Env::of(&pairs)).unwrap_err();
            assert!(err.to_string().contains(var), "{pairs:?}: {err}");
        }
    }
}
