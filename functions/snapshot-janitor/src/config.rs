//! Settings from environment variables.

use fleetkeeper::exec::{BucketSpec, buckets};
use fleetkeeper::{ConfigError, Env, Mode};
use jiff::tz::TimeZone;

use crate::plan::retention::Rules;

#[derive(Debug, Clone)]
pub struct Config {
    pub regions: Vec<String>,
    pub rules: Rules,
    /// `SCHEDULE_TIMEZONE`: the zone days, weeks, months and years are counted in.
    pub time_zone: TimeZone,
    /// `MAX_DELETES`: deletions per run; the rest wait for the next run.
    pub max_deletes: usize,
    pub mode: Mode,
    /// `SNAPSHOT_RATE_BURST` / `SNAPSHOT_RATE_PER_SECOND`: CreateSnapshot and DeleteSnapshot calls.
    pub rate: BucketSpec,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config {
            regions: env.regions("REGIONS")?,
            rules: Rules::from_env(env)?,
            time_zone: env.time_zone("SCHEDULE_TIMEZONE", "UTC")?,
            max_deletes: env.u64_in("MAX_DELETES", 1000, 0, 1_000_000)? as usize,
            mode: Mode::from_env(env)?,
            rate: BucketSpec::from_env(env, "SNAPSHOT_RATE", buckets::EC2_SNAPSHOTS.headroom(0.9))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_named_errors() {
        let c = Config::from_env(&Env::from_pairs::<&str, &str>([])).unwrap();
        assert_eq!(
            (c.max_deletes, c.rules.keep_last, c.rate.burst),
            (1000, 7, 90)
        );
        for (var, value) in [
            ("KEEP_LAST", "-3"),
            ("KEEP_WEEKLY", "lots"),
            ("MAX_DELETES", "all"),
            ("SCHEDULE_TIMEZONE", "Mars/Base"),
            ("SNAPSHOT_RATE_PER_SECOND", "0"),
        ] {
            let err = Config::from_env(&Env::from_pairs([(var, value)])).unwrap_err();
            assert!(err.to_string().contains(var), "{var}: {err}");
        }
    }
}
