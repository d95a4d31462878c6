//! Plan: the pure tally of one region's instances, and of every kind a schedule keeps there.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use fleetkeeper::ec2::Instance;
use fleetkeeper::kinds::{Found, Kind};

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
    /// Every kind counted (RESOURCES), by its name: `ec2`, `rds`, `aurora`, `asg`, `ecs`.
    pub by_kind: BTreeMap<String, KindCensus>,
}

/// One kind's resources carrying the schedule tag in a region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCensus {
    pub scheduled: usize,
    /// Of those, stopped now (a group or service at zero, a database `stopped`).
    pub stopped: usize,
    pub by_schedule: BTreeMap<String, usize>,
}

impl KindCensus {
    fn add(&mut self, schedule: &str, stopped: bool) {
        self.scheduled += 1;
        self.stopped += usize::from(stopped);
        *self.by_schedule.entry(schedule.to_owned()).or_insert(0) += 1;
    }
}

pub fn tally(region: &str, instances: &[Instance], found: &Found, config: &Config) -> RegionCensus {
    let key = &config.schedule_tag.key;
    let mut by_state = BTreeMap::new();
    let mut by_schedule = BTreeMap::new();
    let mut by_kind: BTreeMap<String, KindCensus> = config
        .resources
        .iter()
        .map(|k| (k.as_str().to_owned(), KindCensus::default()))
        .collect();
    let (mut opted_in, mut asg) = (0, 0);
    for i in instances {
        *by_state.entry(i.state.to_string()).or_insert(0) += 1;
        if let Some(schedule) = i.tags.get(key) {
            opted_in += 1;
            *by_schedule.entry(schedule.clone()).or_insert(0) += 1;
            if i.tags.contains_key(ASG_TAG) {
                asg += 1;
            }
            if let Some(k) = by_kind.get_mut(Kind::Ec2.as_str()) {
                k.add(schedule, i.state.to_string() == "stopped");
            }
        }
    }
    let mut count = |kind: Kind, tags: &BTreeMap<String, String>, stopped: bool| {
        if let (Some(schedule), Some(k)) = (tags.get(key), by_kind.get_mut(kind.as_str())) {
            k.add(schedule, stopped);
        }
    };
    for d in &found.databases {
        count(d.kind(), &d.tags, d.status == "stopped");
    }
    for g in &found.groups {
        count(Kind::Asg, &g.tags, g.stopped());
    }
    for s in &found.services {
        count(Kind::Ecs, &s.tags, s.stopped());
    }
    RegionCensus {
        region: region.to_owned(),
        total: instances.len(),
        by_state,
        opted_in,
        by_schedule,
        opted_in_asg_members: asg,
        by_kind,
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
        let c = tally("eu-west-1", &fleet, &Found::default(), &config);
        assert_eq!(c.total, 4);
        assert_eq!(c.by_state["running"], 3);
        assert_eq!(c.by_state["stopped"], 1);
        assert_eq!(c.opted_in, 3, "any schedule counts");
        assert_eq!(c.by_schedule["office-hours"], 2);
        assert_eq!(c.by_schedule["always"], 1);
        assert_eq!(c.opted_in_asg_members, 1);
        assert_eq!(
            c.by_kind.keys().collect::<Vec<_>>(),
            ["ec2"],
            "RESOURCES alone"
        );
        assert_eq!(
            (c.by_kind["ec2"].scheduled, c.by_kind["ec2"].stopped),
            (3, 1)
        );
    }

    #[test]
    fn counts_every_kind_asked_for_by_schedule_and_stopped() {
        use fleetkeeper::kinds::{Database, Group, Service, ServiceSize, Size};
        let config =
            Config::from_env(&Env::from_pairs([("RESOURCES", "rds,aurora,asg,ecs")])).unwrap();
        let office = || {
            [("fleetkeeper:schedule".to_owned(), "office-hours".to_owned())]
                .into_iter()
                .collect()
        };
        let db = |id: &str, kind: Kind, status: &str| Database {
            id: id.into(),
            kind: Some(kind),
            status: status.into(),
            tags: office(),
            ..Default::default()
        };
        let found = Found {
            databases: vec![
                db("a", Kind::Rds, "available"),
                db("b", Kind::Rds, "stopped"),
                db("c", Kind::Aurora, "stopped"),
                Database {
                    tags: Default::default(),
                    ..db("untagged", Kind::Rds, "available")
                },
            ],
            groups: vec![Group {
                name: "web".into(),
                size: Size {
                    min: 0,
                    desired: 0,
                    max: 4,
                },
                tags: office(),
            }],
            services: vec![Service {
                name: "api".into(),
                size: ServiceSize {
                    desired: 2,
                    bounds: Some((1, 4)),
                },
                tags: office(),
                ..Default::default()
            }],
        };
        let tagged = inst(
            "i-1",
            "running",
            &[("fleetkeeper:schedule", "office-hours")],
        );
        let c = tally("eu-west-1", &[tagged], &found, &config);
        let of = |k: &str| (c.by_kind[k].scheduled, c.by_kind[k].stopped);
        assert_eq!(of("rds"), (2, 1), "the untagged database is not counted");
        assert_eq!(of("aurora"), (1, 1));
        assert_eq!(of("asg"), (1, 1));
        assert_eq!(of("ecs"), (1, 0));
        assert_eq!(c.by_kind["rds"].by_schedule["office-hours"], 2);
        assert!(!c.by_kind.contains_key("ec2"), "ec2 is not in RESOURCES");
        assert_eq!(
            c.opted_in, 1,
            "the instance tally stands whatever RESOURCES says"
        );
    }

    #[test]
    fn empty_region() {
        let config = Config::from_env(&Env::from_pairs::<&str, &str>([])).unwrap();
        let c = tally("us-east-1", &[], &Found::default(), &config);
        assert_eq!((c.total, c.opted_in), (0, 0));
        assert!(c.by_state.is_empty());
    }
}
