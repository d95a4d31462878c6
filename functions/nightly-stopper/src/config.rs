//! Settings from environment variables.

use fleetkeeper::exec::{BucketSpec, buckets};
use fleetkeeper::tags::ScheduleTag;
use fleetkeeper::{ConfigError, Env, Mode};
use jiff::civil::Date;
use jiff::tz::TimeZone;

#[derive(Debug, Clone)]
pub struct Config {
    /// `REGIONS`: empty means the function's own region.
    pub regions: Vec<String>,
    /// `ROLE_ARNS`: roles to assume to act in other accounts (each in every region).
    pub role_arns: Vec<String>,
    /// `SCHEDULE_TAG_KEY` / `SCHEDULE_TAG_VALUE`: the opt-in tag.
    /// The opt-in tag (`SCHEDULE_TAG_KEY`, `SCHEDULE_TAG_VALUE`).
    pub schedule_tag: ScheduleTag,
    /// `SCHEDULE_TIMEZONE`: the zone SKIP_DATES and keep-running-until dates are read in.
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
}

/// Pace at 90% of AWS's buckets: AWS counts on arrival and shares them across the account.
const HEADROOM: f64 = 0.9;

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let time_zone_name = env.string("SCHEDULE_TIMEZONE", "UTC");
        Ok(Config {
            regions: env.regions("REGIONS")?,
            role_arns: env.role_arns("ROLE_ARNS")?,
            schedule_tag: ScheduleTag::from_env(env),
            time_zone: env.time_zone("SCHEDULE_TIMEZONE", "UTC")?,
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
        ] {
            let err = Config::from_env(&Env::of(&[(var, value)])).unwrap_err();
            assert!(err.to_string().contains(var), "{var}: {err}");
        }
    }
}
