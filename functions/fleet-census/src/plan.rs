//! Plan: the pure tally of one region's instances.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use fleetkeeper::ec2::Instance;

pub use fleetkeeper::tags::ASG_TAG;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionCensus {
    pub region: String,
    pub total: usize,
    pub by_state: BTreeMap<String, usize>,
    /// Carrying the schedule tag (any schedule).
    pub opted_in: usize,
    /// How many follow each schedule, by the tag's value.
    pub by_schedule: BTreeMap<String, usize>,
    /// Opted in but in an Auto Scaling group, which nightly-stopper will skip.
    pub opted_in_asg_members: usize,
}

pub fn tally(region: &str, instances: &[Instance], config: &Config) -> RegionCensus {
    let mut by_state = BTreeMap::new();
    let mut by_schedule = BTreeMap::new();
    let (mut opted_in, mut asg) = (0, 0);
    for i in instances {
        *by_state.entry(i.state.to_string()).or_insert(0) += 1;
        if let Some(schedule) = i.tags.get(&config.schedule_tag.key) {
            opted_in += 1;
            *by_schedule.entry(schedule.clone()).or_insert(0) += 1;
            if i.tags.contains_key(ASG_TAG) {
                asg += 1;
            }
        }
    }
    RegionCensus {
        region: region.to_owned(),
        total: instances.len(),
        by_state,
        opted_in,
        by_schedule,
        opted_in_asg_members: asg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetkeeper::Env;

    fn inst(id: &str, state: &str, tags: &[(&str, &str)]) -> Instance {
        Instance {
            id: id.into(),
            state: state.into(),
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn counts_states_and_opt_ins() {
        let config = Config::from_env(&Env::from_pairs::<&str, &str>([])).unwrap();
        let fleet = [
            inst(
                "i-1",
                "running",
                &[("fleetkeeper:schedule", "office-hours")],
            ),
            inst("i-2", "running", &[("fleetkeeper:schedule", "always")]),
            inst(
                "i-3",
                "stopped",
                &[("fleetkeeper:schedule", "office-hours"), (ASG_TAG, "web")],
            ),
            inst("i-4", "running", &[]),
        ];
        let c = tally("eu-west-1", &fleet, &config);
        assert_eq!(c.total, 4);
        assert_eq!(c.by_state["running"], 3);
        assert_eq!(c.by_state["stopped"], 1);
        assert_eq!(c.opted_in, 3, "any schedule counts");
        assert_eq!(c.by_schedule["office-hours"], 2);
        assert_eq!(c.by_schedule["always"], 1);
        assert_eq!(c.opted_in_asg_members, 1);
    }

    #[test]
    fn empty_region() {
        let config = Config::from_env(&Env::from_pairs::<&str, &str>([])).unwrap();
        let c = tally("us-east-1", &[], &config);
        assert_eq!((c.total, c.opted_in), (0, 0));
        assert!(c.by_state.is_empty());
    }
}
