//! Plan: which instances to stop, hibernate or start, and why the others are left alone.
//! Pure: no I/O, no clock.

use std::fmt;

use fleetkeeper::Plan;
use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

use crate::config::Config;
use crate::event::Action;
use crate::ports::Instance;

pub use fleetkeeper::tags::ASG_TAG;
pub const KEEP_RUNNING_TAG: &str = "fleetkeeper:keep-running-until";
pub const HIBERNATE_TAG: &str = "fleetkeeper:hibernate";
pub const LAST_ACTION_TAG: &str = "fleetkeeper:last-action";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Act {
    Stop,
    /// Stop with hibernation; falls back to a plain stop when EC2 refuses it.
    Hibernate,
    Start,
}

impl fmt::Display for Act {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Act::Stop => "stop",
            Act::Hibernate => "hibernate",
            Act::Start => "start",
        })
    }
}

/// When `fleetkeeper:keep-running-until` ends. An RFC 3339 time is exact; a local date-time
/// (`2026-12-01T18:00`) is read in the schedule's zone; a date (`2026-12-01`) keeps the
/// instance running through the end of that day in the zone.
pub fn keep_running_until(raw: &str, tz: &TimeZone) -> Result<Timestamp, String> {
    let expected = || {
        format!(
            "{raw:?} is not RFC 3339 (2026-12-01T18:00:00Z), a local date-time (2026-12-01T18:00) or a date (2026-12-01)"
        )
    };
    if let Ok(ts) = raw.parse::<Timestamp>() {
        return Ok(ts);
    }
    // jiff's parsers accept a date where a date-time is asked and the reverse; tell by shape.
    if raw.len() == 10 {
        let day: Date = raw.parse().map_err(|_| expected())?;
        let next = day.tomorrow().map_err(|_| expected())?;
        return next
            .to_zoned(tz.clone())
            .map(|z| z.timestamp())
            .map_err(|_| expected());
    }
    let local: DateTime = raw.parse().map_err(|_| expected())?;
    local
        .to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|_| expected())
}

/// The plan for one region. `now` is the invocation time; the cap is applied by the caller
/// over all regions.
pub fn plan(action: Action, instances: &[Instance], config: &Config, now: Timestamp) -> Plan<Act> {
    let mut plan = Plan::new();
    let today = now.to_zoned(config.time_zone.clone()).date();
    if config.skip_dates.contains(&today) {
        for i in instances {
            plan.skip(
                &i.id,
                format!("{today} is in SKIP_DATES ({})", config.time_zone_name),
            );
        }
        return plan;
    }
    for i in instances {
        if let Some(group) = i.tags.get(ASG_TAG) {
            plan.skip(
                &i.id,
                format!("member of Auto Scaling group {group:?}; the group manages its capacity"),
            );
            continue;
        }
        if action == Action::Stop {
            if let Some(raw) = i.tags.get(KEEP_RUNNING_TAG) {
                match keep_running_until(raw, &config.time_zone) {
                    Ok(until) if until > now => {
                        plan.skip(&i.id, format!("{KEEP_RUNNING_TAG} {raw} is in the future"));
                        continue;
                    }
                    Ok(_) => {}
                    Err(why) => {
                        plan.skip(
                            &i.id,
                            format!(
                                "unreadable {KEEP_RUNNING_TAG}: {why}; left running to be safe"
                            ),
                        );
                        continue;
                    }
                }
            }
        }
        let target = action.target_state();
        match (action, i.state.as_str()) {
            (Action::Stop, "running") => {
                let hibernate = i
                    .tags
                    .get(HIBERNATE_TAG)
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                let act = if hibernate { Act::Hibernate } else { Act::Stop };
                plan.act(&i.id, act, "running, tagged for the schedule");
            }
            (Action::Start, "stopped") => {
                plan.act(&i.id, Act::Start, "stopped, tagged for the schedule")
            }
            (_, s) if s == target => plan.skip(&i.id, format!("already {s}")),
            (_, "terminated") => plan.skip(&i.id, "terminated"),
            (_, s) => plan.skip(
                &i.id,
                format!("in transition ({s}); the next run will see where it settles"),
            ),
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetkeeper::Env;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::from_env(&Env::of(pairs)).unwrap()
    }

    fn inst(id: &str, state: &str, tags: &[(&str, &str)]) -> Instance {
        let mut all: Vec<(&str, &str)> = vec![("fleetkeeper:schedule", "office-hours")];
        all.extend_from_slice(tags);
        Instance {
            id: id.into(),
            state: state.into(),
            tags: all
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn acted(plan: &Plan<Act>) -> Vec<(String, Act)> {
        plan.actions
            .iter()
            .map(|a| (a.target.clone(), a.action))
            .collect()
    }

    fn skip_reason<'a>(plan: &'a Plan<Act>, id: &str) -> &'a str {
        &plan
            .skipped
            .iter()
            .find(|s| s.target == id)
            .expect(id)
            .reason
    }

    #[test]
    fn stop_acts_on_running_and_skips_with_reasons() {
        let fleet = [
            inst("i-run", "running", &[]),
            inst("i-hib", "running", &[(HIBERNATE_TAG, "TRUE")]),
            inst("i-asg", "running", &[(ASG_TAG, "web")]),
            inst("i-stopped", "stopped", &[]),
            inst("i-pending", "pending", &[]),
            inst("i-stopping", "stopping", &[]),
        ];
        let p = plan(
            Action::Stop,
            &fleet,
            &config(&[]),
            ts("2026-11-20T20:00:00Z"),
        );
        assert_eq!(
            acted(&p),
            vec![
                ("i-run".into(), Act::Stop),
                ("i-hib".into(), Act::Hibernate)
            ]
        );
        assert!(skip_reason(&p, "i-asg").contains("Auto Scaling group \"web\""));
        assert_eq!(skip_reason(&p, "i-stopped"), "already stopped");
        assert!(skip_reason(&p, "i-pending").starts_with("in transition (pending)"));
        assert!(skip_reason(&p, "i-stopping").starts_with("in transition (stopping)"));
        assert_eq!(p.actions[0].reason, "running, tagged for the schedule");
    }

    #[test]
    fn start_acts_on_stopped_and_ignores_keep_running() {
        let fleet = [
            inst("i-stopped", "stopped", &[(KEEP_RUNNING_TAG, "2099-01-01")]),
            inst("i-run", "running", &[]),
            inst("i-asg", "stopped", &[(ASG_TAG, "batch")]),
        ];
        let p = plan(
            Action::Start,
            &fleet,
            &config(&[]),
            ts("2026-11-20T07:00:00Z"),
        );
        assert_eq!(acted(&p), vec![("i-stopped".into(), Act::Start)]);
        assert_eq!(skip_reason(&p, "i-run"), "already running");
        assert!(skip_reason(&p, "i-asg").contains("Auto Scaling"));
    }

    #[test]
    fn keep_running_until_future_past_and_unreadable() {
        let fleet = [
            inst(
                "i-future",
                "running",
                &[(KEEP_RUNNING_TAG, "2026-11-21T08:00:00Z")],
            ),
            inst("i-past", "running", &[(KEEP_RUNNING_TAG, "2026-11-19")]),
            inst("i-bad", "running", &[(KEEP_RUNNING_TAG, "next friday")]),
        ];
        let p = plan(
            Action::Stop,
            &fleet,
            &config(&[]),
            ts("2026-11-20T20:00:00Z"),
        );
        assert_eq!(acted(&p), vec![("i-past".into(), Act::Stop)]);
        assert!(skip_reason(&p, "i-future").contains("is in the future"));
        assert!(
            skip_reason(&p, "i-bad").contains("\"next friday\" is not RFC 3339"),
            "{}",
            skip_reason(&p, "i-bad")
        );
    }

    #[test]
    fn a_date_keeps_running_through_that_local_day_across_fall_back() {
        // Berlin leaves summer time on 2026-10-25: that day ends at 23:00 UTC, not 22:00.
        let c = config(&[("SCHEDULE_TIMEZONE", "Europe/Berlin")]);
        let fleet = [inst("i-1", "running", &[(KEEP_RUNNING_TAG, "2026-10-25")])];
        let still_the_25th = plan(Action::Stop, &fleet, &c, ts("2026-10-25T22:30:00Z"));
        assert!(still_the_25th.actions.is_empty(), "23:30 CET on the 25th");
        let the_26th = plan(Action::Stop, &fleet, &c, ts("2026-10-25T23:00:00Z"));
        assert_eq!(the_26th.actions.len(), 1, "00:00 CET on the 26th");
    }

    #[test]
    fn a_local_time_in_the_spring_forward_gap_is_read_as_after_it() {
        // 02:30 does not exist in Berlin on 2026-03-29; it resolves to 03:30 CEST = 01:30 UTC.
        let c = config(&[("SCHEDULE_TIMEZONE", "Europe/Berlin")]);
        let fleet = [inst(
            "i-1",
            "running",
            &[(KEEP_RUNNING_TAG, "2026-03-29T02:30")],
        )];
        assert!(
            plan(Action::Stop, &fleet, &c, ts("2026-03-29T01:20:00Z"))
                .actions
                .is_empty()
        );
        assert_eq!(
            plan(Action::Stop, &fleet, &c, ts("2026-03-29T01:31:00Z"))
                .actions
                .len(),
            1
        );
        assert_eq!(
            keep_running_until("2026-03-29T02:30", &c.time_zone).unwrap(),
            ts("2026-03-29T01:30:00Z")
        );
    }

    #[test]
    fn skip_dates_are_read_in_the_schedule_zone() {
        // 23:30 UTC on Dec 23 is already Dec 24 in Berlin.
        let c = config(&[
            ("SCHEDULE_TIMEZONE", "Europe/Berlin"),
            ("SKIP_DATES", "2026-12-24"),
        ]);
        let fleet = [inst("i-1", "running", &[])];
        let p = plan(Action::Stop, &fleet, &c, ts("2026-12-23T23:30:00Z"));
        assert!(p.actions.is_empty());
        assert!(skip_reason(&p, "i-1").contains("2026-12-24 is in SKIP_DATES (Europe/Berlin)"));
        assert_eq!(
            plan(Action::Stop, &fleet, &c, ts("2026-12-23T22:30:00Z"))
                .actions
                .len(),
            1
        );
    }

    #[test]
    fn the_cap_refuses_everything() {
        let fleet: Vec<Instance> = (0..6)
            .map(|i| inst(&format!("i-{i}"), "running", &[]))
            .collect();
        let p = plan(
            Action::Stop,
            &fleet,
            &config(&[]),
            ts("2026-11-20T20:00:00Z"),
        )
        .cap(5, "MAX_ACTIONS");
        assert!(p.runnable().is_empty());
        assert!(p.refused.unwrap().contains("MAX_ACTIONS=5"));
    }
}
