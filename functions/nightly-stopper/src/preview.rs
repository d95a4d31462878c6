//! A preview, pure: for each schedule, its boundaries in a window and which resources (of
//! every kind in RESOURCES) each would stop or start, as if every boundary were acted on.
//! Nothing is changed.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::model::{Kind, Scheduled};
use crate::plan::ASG_TAG;
use crate::schedule::eval::{boundaries, evaluate_in};
use crate::schedule::{Schedules, State};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchedulePreview {
    pub schedule: String,
    pub timezone: String,
    /// Instances that follow it (Auto Scaling members left out).
    pub instances: usize,
    /// Resources of every kind that follow it, instances included.
    pub resources: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<State>,
    pub boundaries: Vec<PreviewBoundary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewBoundary {
    /// RFC 3339, UTC.
    pub at: String,
    /// The wall-clock time in the schedule's zone: `Fri 2026-12-04 19:00`.
    pub local: String,
    /// `start` or `stop`.
    pub action: &'static str,
    /// Instances this boundary would change (the others are already there).
    pub instances: Vec<PreviewInstance>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewInstance {
    pub id: String,
    pub region: String,
    /// `ec2`, `rds`, `aurora`, `asg` or `ecs`.
    pub kind: &'static str,
}

/// One resource a preview follows, whatever its kind: where it is, its tags, and whether it
/// is `running` or `stopped` (or in between, and then left out of the boundaries).
#[derive(Debug, Clone)]
pub struct Member<'a> {
    pub place: &'a str,
    pub kind: Kind,
    pub id: &'a str,
    pub tags: &'a BTreeMap<String, String>,
    pub state: String,
}

/// What a place holds that a schedule can move: instances outside Auto Scaling groups,
/// databases RDS can stop, groups and services.
pub fn members<'a>(place: &'a str, s: &'a Scheduled) -> Vec<Member<'a>> {
    let member = |kind, id: &'a str, tags, state: &str| Member {
        place,
        kind,
        id,
        tags,
        state: state.to_owned(),
    };
    let mut out: Vec<Member> = s
        .instances
        .iter()
        .filter(|i| !i.tags.contains_key(ASG_TAG))
        .map(|i| member(Kind::Ec2, &i.id, &i.tags, &i.state.to_string()))
        .collect();
    for d in &s.databases {
        let stoppable = d.cluster.is_none()
            && d.replica_of.is_none()
            && d.replicas == 0
            && d.unstoppable.is_none();
        if stoppable {
            let state = if d.status == "available" {
                "running"
            } else {
                d.status.as_str()
            };
            out.push(member(d.kind(), &d.id, &d.tags, state));
        }
    }
    let state = |stopped: bool| if stopped { "stopped" } else { "running" };
    for g in &s.groups {
        out.push(member(Kind::Asg, &g.name, &g.tags, state(g.stopped())));
    }
    for svc in &s.services {
        out.push(member(Kind::Ecs, &svc.arn, &svc.tags, state(svc.stopped())));
    }
    out
}

/// `fleet` is every resource carrying the schedule tag, over every place.
pub fn preview(
    fleet: &[Member],
    schedules: &Schedules,
    tag_key: &str,
    from: Timestamp,
    hours: u32,
) -> Vec<SchedulePreview> {
    let until = from + SignedDuration::from_hours(i64::from(hours));
    schedules
        .by_name
        .values()
        .map(|s| {
            let members: Vec<&Member> = fleet
                .iter()
                .filter(|m| m.tags.get(tag_key) == Some(&s.name))
                .collect();
            let mut states: Vec<String> = members.iter().map(|m| m.state.clone()).collect();
            let first = from.to_zoned(s.tz.clone()).date().yesterday().ok();
            let last = until.to_zoned(s.tz.clone()).date().tomorrow().ok();
            let all = match (first, last) {
                (Some(a), Some(b)) => boundaries(s, a, b),
                _ => Vec::new(),
            };
            let mut out = Vec::new();
            for b in all.iter().filter(|b| b.at > from && b.at <= until) {
                // A boundary that does not decide (a stop inside another period) is left out.
                let Some(desired) = evaluate_in(s, b.at, &all).desired.filter(|d| *d == b.to)
                else {
                    continue;
                };
                let wanted = desired.to_string();
                let mut changed = Vec::new();
                for (m, state) in members.iter().zip(states.iter_mut()) {
                    if (state == "running" || state == "stopped") && *state != wanted {
                        changed.push(PreviewInstance {
                            id: m.id.to_owned(),
                            region: m.place.to_owned(),
                            kind: m.kind.as_str(),
                        });
                        *state = wanted.clone();
                    }
                }
                out.push(PreviewBoundary {
                    at: b.at.to_string(),
                    local: b.local.strftime("%a %Y-%m-%d %H:%M").to_string(),
                    action: match b.to {
                        State::Running => "start",
                        State::Stopped => "stop",
                    },
                    instances: changed,
                });
            }
            SchedulePreview {
                schedule: s.name.clone(),
                timezone: s.tz_name.clone(),
                instances: members.iter().filter(|m| m.kind == Kind::Ec2).count(),
                resources: members.len(),
                held: s.hold,
                boundaries: if s.hold.is_some() { Vec::new() } else { out },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Database, Group, Size};
    use crate::ports::Instance;
    use crate::schedule::parse;
    use jiff::tz::TimeZone;

    fn inst(id: &str, state: &str, schedule: &str) -> Instance {
        Instance {
            id: id.into(),
            state: state.into(),
            tags: [("fleetkeeper:schedule".to_owned(), schedule.to_owned())].into(),
            ..Default::default()
        }
    }

    #[test]
    fn what_happens_tonight() {
        let schedules = parse(
            r#"{"office-hours": {"timezone": "Europe/Berlin", "periods": [{"days": "mon-fri", "start": "07:00", "stop": "19:00"}]},
                "stop-nightly": {"periods": [{"stop": "22:00"}]},
                "frozen": {"override": "stopped"}}"#,
            (&TimeZone::UTC, "UTC"),
        )
        .unwrap();
        let tags = |s: &str| BTreeMap::from([("fleetkeeper:schedule".to_owned(), s.to_owned())]);
        let west = Scheduled {
            instances: vec![
                inst("i-a", "running", "office-hours"),
                inst("i-b", "stopped", "office-hours"),
            ],
            databases: vec![Database {
                id: "db-1".into(),
                status: "available".into(),
                tags: tags("office-hours"),
                ..Database::default()
            }],
            groups: vec![Group {
                name: "web".into(),
                size: Size {
                    min: 0,
                    desired: 0,
                    max: 4,
                },
                tags: tags("office-hours"),
            }],
            services: vec![],
        };
        let east = Scheduled {
            instances: vec![inst("i-c", "running", "stop-nightly")],
            ..Scheduled::default()
        };
        let mut fleet = members("eu-west-1", &west);
        fleet.extend(members("us-east-1", &east));
        // Tuesday 2026-12-01, 17:00 UTC, for 24 hours.
        let from: Timestamp = "2026-12-01T17:00:00Z".parse().unwrap();
        let p = preview(&fleet, &schedules, "fleetkeeper:schedule", from, 24);
        let office = p.iter().find(|s| s.schedule == "office-hours").unwrap();
        assert_eq!((office.instances, office.resources), (2, 4));
        let got: Vec<(&str, &str, Vec<&str>)> = office
            .boundaries
            .iter()
            .map(|b| {
                (
                    b.local.as_str(),
                    b.action,
                    b.instances.iter().map(|i| i.id.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("Tue 2026-12-01 19:00", "stop", vec!["i-a", "db-1"]),
                (
                    "Wed 2026-12-02 07:00",
                    "start",
                    vec!["i-a", "i-b", "db-1", "web"]
                ),
            ]
        );
        let kinds: Vec<&str> = office.boundaries[1]
            .instances
            .iter()
            .map(|i| i.kind)
            .collect();
        assert_eq!(kinds, ["ec2", "ec2", "rds", "asg"]);
        assert_eq!(office.boundaries[0].at, "2026-12-01T18:00:00Z");
        let nightly = p.iter().find(|s| s.schedule == "stop-nightly").unwrap();
        assert_eq!(nightly.boundaries.len(), 1);
        assert_eq!(nightly.boundaries[0].instances[0].region, "us-east-1");
        let frozen = p.iter().find(|s| s.schedule == "frozen").unwrap();
        assert_eq!(frozen.held, Some(State::Stopped));
        assert!(frozen.boundaries.is_empty());
    }
}
