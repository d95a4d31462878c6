//! Settings from environment variables.

use fleetkeeper::kinds::{Kind, resources_from_env};
use fleetkeeper::tags::ScheduleTag;
use fleetkeeper::{ConfigError, Env};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `REGIONS`: comma list; empty means the function's own region.
    pub regions: Vec<String>,
    /// The opt-in tag counted (`SCHEDULE_TAG_KEY`, `SCHEDULE_TAG_VALUE`).
    pub schedule_tag: ScheduleTag,
    /// `RESOURCES`: the kinds counted, as nightly-stopper names them (default `ec2`).
    pub resources: Vec<Kind>,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config {
            regions: env.regions("REGIONS")?,
            schedule_tag: ScheduleTag::from_env(env),
            resources: resources_from_env(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bad_region() {
        let c = Config::from_env(&Env::from_pairs::<&str, &str>([])).unwrap();
        assert!(c.regions.is_empty());
        assert_eq!(c.schedule_tag.key, "fleetkeeper:schedule");
        let err =
            Config::from_env(&Env::from_pairs([("REGIONS", "eu-west-1,Frankfurt")])).unwrap_err();
        assert!(err.to_string().contains("\"Frankfurt\""), "{err}");
        assert_eq!(c.resources, [Kind::Ec2], "EC2 alone unless told");
        let err = Config::from_env(&Env::from_pairs([("RESOURCES", "ec2,lambda")])).unwrap_err();
        assert!(err.to_string().contains("RESOURCES"), "{err}");
        let c = Config::from_env(&Env::from_pairs([("RESOURCES", "asg,ecs")])).unwrap();
        assert_eq!(c.resources, [Kind::Asg, Kind::Ecs]);
    }
}
