//! Settings from environment variables.

use jiff::SignedDuration;

use fleetkeeper::{ConfigError, Env, Mode};

use crate::history::MAX_ENTRIES;

/// How an instance is restarted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// SSM Automation runbook AWS-RestartEC2Instance (stop, wait, start), optionally run as
    /// `assume_role`.
    Automation { assume_role: Option<String> },
    /// EC2 RebootInstances: an OS reboot, the instance keeps its host.
    Reboot,
    /// SSM Run Command AWS-RunShellScript exiting 194, which asks the SSM agent to reboot.
    RunCommand,
}

impl Strategy {
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Automation { .. } => "automation",
            Strategy::Reboot => "reboot",
            Strategy::RunCommand => "run-command",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `REGIONS`: where alarms may come from; empty means the function's own region.
    pub regions: Vec<String>,
    /// `RESTART_TAG_KEY`: instances must carry it with the value `true`.
    pub tag_key: String,
    /// `ALLOW_ALL`: drop the tag requirement.
    pub allow_all: bool,
    /// `HISTORY_TAG_KEY`: the tag holding the restart history.
    pub history_tag: String,
    /// `COOLDOWN_MINUTES`: no second restart of an instance sooner than this.
    pub cooldown: SignedDuration,
    /// `MAX_RESTARTS` within `WINDOW_HOURS`.
    pub max_restarts: usize,
    pub window: SignedDuration,
    /// `RESTART_STRATEGY` (+ `AUTOMATION_ASSUME_ROLE_ARN` for automation).
    pub strategy: Strategy,
    /// `ALARM_NAME_PREFIX`: alarms whose name does not start with it are ignored.
    pub alarm_prefix: String,
    pub mode: Mode,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let assume_role = env.role_arn("AUTOMATION_ASSUME_ROLE_ARN")?;
        let strategy = match env.string("RESTART_STRATEGY", "automation").as_str() {
            "automation" => Strategy::Automation { assume_role },
            "reboot" => Strategy::Reboot,
            "run-command" => Strategy::RunCommand,
            other => {
                return Err(ConfigError::invalid(
                    "RESTART_STRATEGY",
                    other,
                    "automation, reboot or run-command",
                ));
            }
        };
        let tag_key = env.string("RESTART_TAG_KEY", "fleetkeeper:auto-restart");
        let history_tag = env.string("HISTORY_TAG_KEY", "fleetkeeper:restart-history");
        if history_tag == tag_key {
            return Err(ConfigError::invalid(
                "HISTORY_TAG_KEY",
                &history_tag,
                "a tag key other than RESTART_TAG_KEY",
            ));
        }
        let cooldown = env.u64_in("COOLDOWN_MINUTES", 15, 0, 7 * 24 * 60)?;
        let max = env.u64_in("MAX_RESTARTS", 3, 1, MAX_ENTRIES as u64)?;
        let window = env.u64_in("WINDOW_HOURS", 6, 1, 7 * 24)?;
        Ok(Config {
            regions: env.regions("REGIONS")?,
            tag_key,
            allow_all: env.bool("ALLOW_ALL", false)?,
            history_tag,
            cooldown: SignedDuration::from_mins(cooldown as i64),
            max_restarts: max as usize,
            window: SignedDuration::from_hours(window as i64),
            strategy,
            alarm_prefix: env.string("ALARM_NAME_PREFIX", ""),
            mode: Mode::from_env(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::from_env(&Env::of(&[])).unwrap();
        assert_eq!(c.tag_key, "fleetkeeper:auto-restart");
        assert_eq!(c.history_tag, "fleetkeeper:restart-history");
        assert_eq!(c.cooldown, SignedDuration::from_mins(15));
        assert_eq!(
            (c.max_restarts, c.window),
            (3, SignedDuration::from_hours(6))
        );
        assert_eq!(c.strategy, Strategy::Automation { assume_role: None });
        assert!(!c.allow_all);
        assert_eq!(c.alarm_prefix, "");
    }

    #[test]
    fn strategies() {
        let c = Config::from_env(&Env::of(&[
            ("RESTART_STRATEGY", "automation"),
            (
                "AUTOMATION_ASSUME_ROLE_ARN",
                "arn:aws:iam::123456789012:role/restart",
            ),
        ]))
        .unwrap();
        assert_eq!(
            c.strategy,
            Strategy::Automation {
                assume_role: Some("arn:aws:iam::123456789012:role/restart".into())
            }
        );
        let c = Config::from_env(&Env::of(&[("RESTART_STRATEGY", "run-command")])).unwrap();
        assert_eq!(c.strategy.name(), "run-command");
    }

    #[test]
    fn bad_settings_name_the_variable() {
        for (var, value) in [
            ("RESTART_STRATEGY", "terminate"),
            ("AUTOMATION_ASSUME_ROLE_ARN", "restart-role"),
            ("MAX_RESTARTS", "0"),
            ("MAX_RESTARTS", "11"),
            ("WINDOW_HOURS", "0"),
            ("COOLDOWN_MINUTES", "-1"),
            ("ALLOW_ALL", "maybe"),
            ("HISTORY_TAG_KEY", "fleetkeeper:auto-restart"),
        ] {
            let err = Config::from_env(&Env::of(&[(var, value)])).unwrap_err();
            assert!(err.to_string().contains(var), "{var}={value}: {err}");
        }
    }
}
