//! Settings from environment variables.

use std::sync::Arc;

use fleetkeeper::exec::{BucketSpec, buckets};
use fleetkeeper::tags::ScheduleTag;
use fleetkeeper::{ConfigError, Env, Mode};
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::model::Kind;
use crate::schedule::{self, Schedules};

/// What SCHEDULES and SCHEDULES_PARAMETER hold, as errors name it.
pub const DOCUMENT: &str = "schedules document";

/// Where the schedules come from.
#[derive(Debug, Clone)]
pub enum SchedulesSource {
    /// `SCHEDULES` (or, with neither variable, the one default schedule).
    Given(Arc<Schedules>),
    /// `SCHEDULES_PARAMETER`: an SSM parameter, read again at most every 5 minutes.
    Parameter(String),
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `REGIONS`: empty means the function's own region.
    pub regions: Vec<String>,
    /// `ROLE_ARNS`: roles to assume to act in other accounts (each in every region).
    pub role_arns: Vec<String>,
    /// `SCHEDULE_TAG_KEY`: the tag whose value names an instance's schedule.
    /// `SCHEDULE_TAG_VALUE` names the default schedule when no document is given.
    pub schedule_tag: ScheduleTag,
    pub schedules: SchedulesSource,
    /// `SCHEDULE_TIMEZONE`: the zone of schedules that name none, and of SKIP_DATES and
    /// keep-running-until dates for manual stops and starts.
    pub time_zone: TimeZone,
    pub time_zone_name: String,
    /// `SKIP_DATES`: days on which nothing is done.
    pub skip_dates: Vec<Date>,
    /// `MAX_ACTIONS`: a plan with more actions (over all regions) acts on nothing.
    pub max_actions: usize,
    pub mode: Mode,
    /// `STOP_RATE_BURST` / `STOP_RATE_PER_SECOND`: StopInstances calls (EC2's mutating bucket).
    pub stop_rate: BucketSpec,
    /// `START_RATE_BURST` / `START_RATE_PER_SECOND`: StartInstances calls (5 burst, 2/s at AWS).
    pub start_rate: BucketSpec,
    /// `RESOURCES`: the kinds a schedule keeps (default `ec2`).
    pub resources: Vec<Kind>,
}

impl Config {
    pub fn keeps(&self, kind: Kind) -> bool {
        self.resources.contains(&kind)
    }
}

/// Pace at 90% of AWS's buckets: AWS counts on arrival and shares them across the account.
const HEADROOM: f64 = 0.9;

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let time_zone_name = env.string("SCHEDULE_TIMEZONE", "UTC");
        let time_zone = env.time_zone("SCHEDULE_TIMEZONE", "UTC")?;
        let schedule_tag = ScheduleTag::from_env(env);
        let schedules = match (env.get("SCHEDULES"), env.get("SCHEDULES_PARAMETER")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    "SCHEDULES_PARAMETER",
                    "(set)",
                    "either SCHEDULES or SCHEDULES_PARAMETER, not both",
                ));
            }
            (Some(text), None) => SchedulesSource::Given(Arc::new(
                schedule::parse(&text, (&time_zone, &time_zone_name)).map_err(|e| {
                    ConfigError::document("environment variable SCHEDULES", DOCUMENT, e)
                })?,
            )),
            (None, Some(name)) => SchedulesSource::Parameter(name),
            (None, None) => SchedulesSource::Given(Arc::new(schedule::default_schedules(
                &schedule_tag.value,
                &time_zone,
                &time_zone_name,
            ))),
        };
        Ok(Config {
            resources: fleetkeeper::kinds::resources_from_env(env)?,
            regions: env.regions("REGIONS")?,
            role_arns: env.role_arns("ROLE_ARNS")?,
            schedule_tag,
            schedules,
            time_zone,
            time_zone_name,
            skip_dates: env.date_list("SKIP_DATES")?,
            max_actions: env.u64_in("MAX_ACTIONS", 500, 0, 100_000)? as usize,
            mode: Mode::from_env(env)?,
            stop_rate: BucketSpec::from_env(
                env,
                "STOP_RATE",
                buckets::EC2_MUTATING.headroom(HEADROOM),
            )?,
            start_rate: BucketSpec::from_env(
                env,
                "START_RATE",
                buckets::EC2_START_INSTANCES.headroom(HEADROOM),
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::from_env(&Env::of(&[])).unwrap();
        assert_eq!(
            (c.schedule_tag.key.as_str(), c.schedule_tag.value.as_str()),
            ("fleetkeeper:schedule", "office-hours")
        );
        assert_eq!(c.max_actions, 500);
        assert_eq!(c.time_zone_name, "UTC");
        assert_eq!(c.start_rate.burst, 4);
        assert!(!c.mode.is_dry_run());
        assert_eq!(c.resources, [Kind::Ec2], "today's behaviour");
    }

    #[test]
    fn resources_are_kinds_and_an_unknown_one_is_named() {
        let c = Config::from_env(&Env::of(&[("RESOURCES", "ec2, RDS,aurora,rds")])).unwrap();
        assert_eq!(c.resources, [Kind::Ec2, Kind::Rds, Kind::Aurora]);
        for (value, says) in [
            ("ec2,lambda", "\"lambda\" is not one"),
            ("ec2,vm", "\"vm\" is not one"),
        ] {
            let err = Config::from_env(&Env::of(&[("RESOURCES", value)])).unwrap_err();
            let err = err.to_string();
            assert!(err.contains("RESOURCES") && err.contains(says), "{err}");
        }
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("SCHEDULE_TIMEZONE", "Europe/Atlantis"),
            ("REGIONS", "eu-west-1,moon-1"),
            ("SKIP_DATES", "2026-12-24,christmas"),
            ("MAX_ACTIONS", "-5"),
            ("ROLE_ARNS", "fleetkeeper-role"),
            ("DRY_RUN", "sure"),
            ("SCHEDULES", "{}"),
            ("SCHEDULES", r#"{"a": {"periods": [{"stop": "25:00"}]}}"#),
        ] {
            let err = Config::from_env(&Env::of(&[(var, value)])).unwrap_err();
            assert!(err.to_string().contains(var), "{var}: {err}");
        }
    }
}
