//! A preview, pure: for each schedule, its boundaries in a window and which instances each
//! would stop or start, as if every boundary were acted on. Nothing is changed.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::plan::ASG_TAG;
use crate::ports::Instance;
use crate::schedule::eval::{boundaries, evaluate_in};
use crate::schedule::{Schedules, State};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchedulePreview {
    pub schedule: String,
    pub timezone: String,
    /// Instances that follow it (Auto Scaling members left out).
    pub instances: usize,
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
}

/// `fleet` is every instance carrying the schedule tag, with the place it is in.
pub fn preview(
    fleet: &[(&str, &Instance)],
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
            let members: Vec<(&str, &Instance)> = fleet
                .iter()
                .filter(|(_, i)| {
                    i.tags.get(tag_key) == Some(&s.name) && !i.tags.contains_key(ASG_TAG)
                })
                .copied()
                .collect();
            let mut states: Vec<String> =
                members.iter().map(|(_, i)| i.state.to_string()).collect();
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
                for ((place, i), state) in members.iter().zip(states.iter_mut()) {
                    if (state == "running" || state == "stopped") && *state != wanted {
                        changed.push(PreviewInstance {
                            id: i.id.clone(),
                            region: (*place).to_owned(),
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
                instances: members.len(),
                held: s.hold,
                boundaries: if s.hold.is_some() { Vec::new() } else { out },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let a = inst("i-a", "running", "office-hours");
        let b = inst("i-b", "stopped", "office-hours");
        let c = inst("i-c", "running", "stop-nightly");
        let fleet = [("eu-west-1", &a), ("eu-west-1", &b), ("us-east-1", &c)];
        // Tuesday 2026-12-01, 17:00 UTC, for 24 hours.
        let from: Timestamp = "2026-12-01T17:00:00Z".parse().unwrap();
        let p = preview(&fleet, &schedules, "fleetkeeper:schedule", from, 24);
        let office = p.iter().find(|s| s.schedule == "office-hours").unwrap();
        assert_eq!(office.instances, 2);
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
                ("Tue 2026-12-01 19:00", "stop", vec!["i-a"]),
                ("Wed 2026-12-02 07:00", "start", vec!["i-a", "i-b"]),
            ]
        );
        assert_eq!(office.boundaries[0].at, "2026-12-01T18:00:00Z");
        let nightly = p.iter().find(|s| s.schedule == "stop-nightly").unwrap();
        assert_eq!(nightly.boundaries.len(), 1);
        assert_eq!(nightly.boundaries[0].instances[0].region, "us-east-1");
        let frozen = p.iter().find(|s| s.schedule == "frozen").unwrap();
        assert_eq!(frozen.held, Some(State::Stopped));
        assert!(frozen.boundaries.is_empty());
    }
}
