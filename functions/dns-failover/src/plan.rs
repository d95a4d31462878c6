//! The plan, pure: which groups an event concerns, and for each, from what was read (record,
//! saved state, probe), the next state and the record change.
//!
//! Thresholds and hysteresis: a state and one observation of the primary give the next state
//! and whether the record flips. Counters reset on every flip, so after a flip the opposite
//! threshold must be crossed in full again: a flapping primary never flips the record more
//! than once per threshold crossing.

use fleetkeeper::Error;
use fleetkeeper::alarm::{AlarmChange, State as AlarmState};

use crate::config::Group;
use crate::event::HttpAction;
pub use crate::model::{Flip, Observation, Observed};
use crate::model::{GroupReport, GroupState, Side, Upsert, normalize};
use fleetkeeper::http::Refusal;

/// The next state after one observation of the primary.
pub fn observe(
    state: &GroupState,
    obs: Observation,
    fail_after: u32,
    recover_after: u32,
) -> (GroupState, Option<Flip>) {
    let mut next = state.clone();
    match obs {
        Observation::Unhealthy => {
            next.failures = next.failures.saturating_add(1).min(1000);
            next.successes = 0;
        }
        Observation::Healthy => {
            next.successes = next.successes.saturating_add(1).min(1000);
            next.failures = 0;
        }
    }
    if next.held {
        return (next, None);
    }
    let flip = match next.side {
        Side::Primary if next.failures >= fail_after => Some(Flip::Failover),
        Side::Standby if next.successes >= recover_after => Some(Flip::Failback),
        _ => None,
    };
    if let Some(f) = flip {
        next.side = f.to();
        next.failures = 0;
        next.successes = 0;
    }
    (next, flip)
}

/// A manual failover holds the standby until a manual failback, which releases the hold.
pub fn manual(state: &GroupState, to: Side) -> (GroupState, Option<Flip>) {
    let mut next = state.clone();
    next.held = to == Side::Standby;
    next.failures = 0;
    next.successes = 0;
    let flip = (next.side != to).then_some(match to {
        Side::Standby => Flip::Failover,
        Side::Primary => Flip::Failback,
    });
    next.side = to;
    (next, flip)
}

/// What one group is asked to do in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Probe the primary (the schedule).
    Probe,
    /// A result from an alarm; the key tells a repeated delivery.
    Observed(Observation, String),
    /// Apply the group's pending manual command (a failover or failback asked for through the
    /// URL) and nothing else. Every other input but Status applies one too.
    Command,
    /// Read only.
    Status,
}

/// The groups an alarm change concerns, each with the result the alarm stands for. An alarm no
/// group watches is bad input: a rule or an alarm action points at the wrong function.
pub fn inputs_for_alarm<'g>(
    groups: &'g [Group],
    change: &AlarmChange,
) -> Result<Vec<(&'g Group, Input)>, Error> {
    let watching: Vec<&Group> = groups
        .iter()
        .filter(|g| g.alarm.as_deref() == Some(change.alarm_name.as_str()))
        .collect();
    if watching.is_empty() {
        return Err(Error::input(format!(
            "no failover group watches alarm {:?} (set \"alarm\" in a group)",
            change.alarm_name
        )));
    }
    let observation = match change.state {
        AlarmState::Alarm => Some(Observation::Unhealthy),
        AlarmState::Ok => Some(Observation::Healthy),
        AlarmState::InsufficientData => None,
    };
    let key = format!("{}@{}", change.alarm_name, change.state_timestamp);
    Ok(watching
        .into_iter()
        .map(|g| match observation {
            Some(o) => (g, Input::Observed(o, key.clone())),
            None => (g, Input::Status),
        })
        .collect())
}

/// The groups an HTTP call concerns; an unknown group is a 404 naming the known ones.
pub fn inputs_for_http<'g>(
    groups: &'g [Group],
    action: &HttpAction,
) -> Result<Vec<(&'g Group, Input)>, Refusal> {
    let name = match action {
        HttpAction::Status(None) => return Ok(groups.iter().map(|g| (g, Input::Status)).collect()),
        HttpAction::Status(Some(n)) | HttpAction::Failover(n) | HttpAction::Failback(n) => n,
    };
    let Some(group) = groups.iter().find(|g| &g.name == name) else {
        let known: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        return Err(Refusal::new(
            404,
            format!("no group {name:?}; groups: {}", known.join(", ")),
        ));
    };
    let input = match action {
        HttpAction::Failover(_) | HttpAction::Failback(_) => Input::Command,
        HttpAction::Status(_) => Input::Status,
    };
    Ok(vec![(group, input)])
}

/// The decision for one group.
#[derive(Debug, Clone)]
pub struct GroupPlan {
    pub report: GroupReport,
    pub zone_id: String,
    /// The change that makes the record match the side; None when it already does.
    pub upsert: Option<Upsert>,
    pub next: GroupState,
    /// Whether the next state is to be saved (not for a status read or a repeated alarm).
    pub save: bool,
}

/// Decides one group: its next state, whether the record flips, and the record change.
pub fn plan(group: &Group, input: &Input, observed: Observed) -> GroupPlan {
    let mut report = GroupReport::new(group);
    let record = observed.record;
    report.record_before = record.as_ref().map(|r| r.values.clone());
    let standby = normalize(group.record_type, &group.standby);
    // No state yet: start from what the record says.
    let state = observed.state.unwrap_or_else(|| {
        GroupState::on(if record.as_ref().map(|r| &r.values) == Some(&standby) {
            Side::Standby
        } else {
            Side::Primary
        })
    });
    report.side_before = Some(state.side);
    // A manual command not applied yet goes first; a probe in the same run is shown but not
    // counted (a manual move starts the counts again).
    let pending = match input {
        Input::Status => None,
        _ => state.pending(observed.command.clone()),
    };
    let (next, flip, save) = match (input, &observed.probe, pending.clone()) {
        (_, _, Some(command)) => {
            report.probe = observed.probe.clone();
            let (mut n, f) = manual(&state, command.to);
            report.note = Some(format!(
                "manual {} asked by {} at {}",
                command.action(),
                command.by,
                command.at
            ));
            report.by = Some(command.by.clone());
            n.last_manual = Some(command);
            (n, f, true)
        }
        (Input::Probe, Some(p), None) => {
            report.probe = Some(p.clone());
            report.observation = Some(p.observation());
            let (n, f) = observe(
                &state,
                p.observation(),
                group.fail_after,
                group.recover_after,
            );
            (n, f, true)
        }
        (Input::Observed(obs, key), _, None) => {
            if state.last_alarm.as_deref() == Some(key.as_str()) {
                report.note =
                    Some("this alarm change was already counted (a repeated delivery)".into());
                (state.clone(), None, false)
            } else {
                report.observation = Some(*obs);
                let (mut n, f) = observe(&state, *obs, group.fail_after, group.recover_after);
                n.last_alarm = Some(key.clone());
                (n, f, true)
            }
        }
        (Input::Command, _, None) => {
            report.note = Some("no manual command waiting: it was applied already".into());
            (state.clone(), None, false)
        }
        _ => (state.clone(), None, false),
    };
    if next.held && pending.is_none() {
        let by = next
            .last_manual
            .as_ref()
            .map(|m| format!(" (asked by {} at {})", m.by, m.at))
            .unwrap_or_default();
        report.note = Some(format!(
            "held on the standby by a manual failover{by}: POST failback to release"
        ));
    }
    report.last_manual = next.last_manual.clone();
    report.flip = flip;
    report.side_after = Some(next.side);
    (report.failures, report.successes, report.held) = (next.failures, next.successes, next.held);
    let desired = normalize(group.record_type, next.side.values(group));
    report.record_after = Some(desired.clone());
    // Status only reads; everything else makes the record match the side, also when it had
    // drifted (an earlier change failed, or someone edited it).
    let right = record
        .as_ref()
        .is_some_and(|r| r.values == desired && r.ttl == Some(group.ttl));
    let upsert = (!matches!(input, Input::Status) && !right).then(|| Upsert {
        group: group.name.clone(),
        name: group.record.clone(),
        record_type: group.record_type,
        ttl: group.ttl,
        values: desired,
    });
    if matches!(input, Input::Status) {
        report.record_after = report.record_before.clone();
    }
    GroupPlan {
        report,
        zone_id: observed.zone_id,
        upsert,
        next,
        save,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Command, ProbeResult, Record};
    use Observation::{Healthy as H, Unhealthy as U};

    /// Runs a sequence from the primary side; returns the flips and the final side.
    fn run(seq: &[Observation], fail_after: u32, recover_after: u32) -> (Vec<Flip>, Side) {
        let mut s = GroupState::on(Side::Primary);
        let mut flips = Vec::new();
        for o in seq {
            let (next, flip) = observe(&s, *o, fail_after, recover_after);
            flips.extend(flip);
            s = next;
        }
        (flips, s.side)
    }

    #[test]
    fn fails_over_at_the_threshold_not_before() {
        assert_eq!(run(&[U, U], 3, 3), (vec![], Side::Primary));
        assert_eq!(run(&[U, U, U], 3, 3), (vec![Flip::Failover], Side::Standby));
        assert_eq!(run(&[U], 1, 1), (vec![Flip::Failover], Side::Standby));
        // A success in between starts the count again.
        assert_eq!(run(&[U, U, H, U, U], 3, 3), (vec![], Side::Primary));
    }

    #[test]
    fn fails_back_after_recover_after_successes() {
        let seq = [U, U, U, H, H];
        assert_eq!(run(&seq, 3, 3), (vec![Flip::Failover], Side::Standby));
        let seq = [U, U, U, H, H, H];
        assert_eq!(
            run(&seq, 3, 3),
            (vec![Flip::Failover, Flip::Failback], Side::Primary)
        );
        // A failure while recovering starts the recovery count again.
        let seq = [U, U, U, H, H, U, H, H];
        assert_eq!(run(&seq, 3, 3), (vec![Flip::Failover], Side::Standby));
    }

    #[test]
    fn flapping_never_flips() {
        let flap: Vec<Observation> = (0..200).map(|i| if i % 2 == 0 { U } else { H }).collect();
        assert_eq!(run(&flap, 2, 2), (vec![], Side::Primary));
        // Flapping after a failover holds the standby.
        let mut seq = vec![U, U];
        seq.extend(&flap);
        assert_eq!(run(&seq, 2, 2), (vec![Flip::Failover], Side::Standby));
    }

    #[test]
    fn one_flip_per_threshold_crossing() {
        // Any sequence: flips alternate, and between two flips lie at least the threshold's
        // worth of consecutive observations in the flip's direction.
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..500 {
            let mut s = GroupState::on(Side::Primary);
            let mut since_flip: Vec<Observation> = Vec::new();
            let mut last: Option<Flip> = None;
            for _ in 0..60 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let o = if rng % 3 == 0 { H } else { U };
                let (next, flip) = observe(&s, o, 3, 2);
                since_flip.push(o);
                if let Some(f) = flip {
                    assert_ne!(Some(f), last, "two flips the same way in a row");
                    let need = if f == Flip::Failover { (3, U) } else { (2, H) };
                    let tail = &since_flip[since_flip.len() - need.0..];
                    assert!(
                        tail.iter().all(|x| *x == need.1),
                        "{f:?} after {since_flip:?}"
                    );
                    since_flip.clear();
                    last = Some(f);
                }
                s = next;
            }
        }
    }

    #[test]
    fn manual_failover_holds_until_manual_failback() {
        let s = GroupState::on(Side::Primary);
        let (held, flip) = manual(&s, Side::Standby);
        assert_eq!(
            (held.side, held.held, flip),
            (Side::Standby, true, Some(Flip::Failover))
        );
        // A healthy primary does not take it back while held.
        let mut cur = held;
        for _ in 0..10 {
            let (next, flip) = observe(&cur, H, 3, 3);
            assert_eq!(flip, None);
            cur = next;
        }
        assert_eq!(cur.side, Side::Standby);
        let (back, flip) = manual(&cur, Side::Primary);
        assert_eq!(
            (back.side, back.held, flip),
            (Side::Primary, false, Some(Flip::Failback))
        );
        // Asking for the side it is on flips nothing.
        assert_eq!(manual(&back, Side::Primary).1, None);
    }

    // The decisions that used to live in the handler.

    fn groups() -> Vec<Group> {
        let text = r#"[{"name": "web", "zone": "example.com", "record": "www.example.com",
            "type": "A", "ttl": 60, "primary": ["192.0.2.10"], "standby": ["198.51.100.20"],
            "health_check": {"url": "http://192.0.2.10/health"},
            "fail_after": 2, "recover_after": 2, "alarm": "fleetkeeper-web-primary"},
           {"name": "api", "zone": "example.com", "record": "api.example.com",
            "type": "A", "ttl": 60, "primary": ["192.0.2.11"], "standby": ["198.51.100.21"],
            "health_check": {"url": "http://192.0.2.11/health"}}]"#;
        crate::config::parse_groups(text, "FAILOVER_GROUPS").unwrap()
    }

    fn alarm(state: &str) -> AlarmChange {
        let mut event: serde_json::Value =
            serde_json::from_str(include_str!("../../../events/dns-failover/alarm.json")).unwrap();
        event["detail"]["state"]["value"] = state.into();
        match fleetkeeper::alarm::parse(&event).unwrap() {
            fleetkeeper::alarm::Incoming::Change(c) => c,
            other => panic!("{other:?}"),
        }
    }

    fn record(values: &[&str]) -> Option<Record> {
        Some(Record {
            ttl: Some(60),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        })
    }

    fn observed(record: Option<Record>, state: Option<GroupState>) -> Observed {
        Observed {
            zone_id: "Z1".into(),
            record,
            state,
            probe: None,
            command: None,
        }
    }

    #[test]
    fn an_alarm_concerns_only_the_groups_that_watch_it() {
        let g = groups();
        let inputs = inputs_for_alarm(&g, &alarm("ALARM")).unwrap();
        assert_eq!(inputs.len(), 1);
        assert_eq!(inputs[0].0.name, "web");
        assert!(matches!(
            inputs[0].1,
            Input::Observed(Observation::Unhealthy, _)
        ));
        let ok = inputs_for_alarm(&g, &alarm("OK")).unwrap();
        assert!(matches!(ok[0].1, Input::Observed(Observation::Healthy, _)));
        let unknown = inputs_for_alarm(&g, &alarm("INSUFFICIENT_DATA")).unwrap();
        assert_eq!(unknown[0].1, Input::Status, "no data is no verdict");
        let err = inputs_for_alarm(&g[1..], &alarm("ALARM")).unwrap_err();
        assert!(
            err.to_string().contains("no failover group watches alarm"),
            "{err}"
        );
    }

    #[test]
    fn http_actions_name_one_group_or_all() {
        let g = groups();
        assert_eq!(
            inputs_for_http(&g, &HttpAction::Status(None))
                .unwrap()
                .len(),
            2
        );
        let over = inputs_for_http(&g, &HttpAction::Failover("api".into())).unwrap();
        assert_eq!(
            (over[0].0.name.as_str(), &over[0].1),
            ("api", &Input::Command)
        );
        let back = inputs_for_http(&g, &HttpAction::Failback("web".into())).unwrap();
        assert_eq!(back[0].1, Input::Command);
        let refused = inputs_for_http(&g, &HttpAction::Failover("db".into())).unwrap_err();
        assert_eq!(refused.status, 404);
        assert!(refused.message.contains("web, api"), "{refused:?}");
    }

    #[test]
    fn a_group_without_state_starts_from_its_record() {
        let g = &groups()[0];
        let on_standby = plan(
            g,
            &Input::Status,
            observed(record(&["198.51.100.20"]), None),
        );
        assert_eq!(on_standby.report.side_before, Some(Side::Standby));
        assert!(
            on_standby.upsert.is_none() && !on_standby.save,
            "status only reads"
        );
        let on_primary = plan(g, &Input::Status, observed(record(&["192.0.2.10"]), None));
        assert_eq!(on_primary.report.side_before, Some(Side::Primary));
    }

    #[test]
    fn the_record_changes_only_when_it_differs_from_the_side() {
        let g = &groups()[0];
        let right = plan(
            g,
            &Input::Observed(Observation::Healthy, "a@1".into()),
            observed(record(&["192.0.2.10"]), Some(GroupState::on(Side::Primary))),
        );
        assert!(right.upsert.is_none() && right.save);
        // Drifted (someone edited it): put back, though nothing flipped.
        let drifted = plan(
            g,
            &Input::Observed(Observation::Healthy, "a@2".into()),
            observed(
                record(&["203.0.113.9"]),
                Some(GroupState::on(Side::Primary)),
            ),
        );
        assert_eq!(drifted.report.flip, None);
        assert_eq!(
            drifted.upsert.unwrap().values,
            vec!["192.0.2.10".to_owned()]
        );
        // A manual failover flips, holds, changes the record and says who asked, once.
        let command = Command {
            id: "req-1".into(),
            to: Side::Standby,
            by: "arn:aws:iam::123456789012:user/oncall".into(),
            at: "2026-11-21T09:00:00Z".into(),
        };
        let mut asked = observed(record(&["192.0.2.10"]), Some(GroupState::on(Side::Primary)));
        asked.command = Some(command.clone());
        let manual = plan(g, &Input::Command, asked.clone());
        assert_eq!(manual.report.flip, Some(Flip::Failover));
        assert!(manual.next.held && manual.save);
        assert_eq!(manual.next.last_manual, Some(command.clone()));
        assert_eq!(manual.report.by.as_deref(), Some(command.by.as_str()));
        assert_eq!(
            manual.upsert.clone().unwrap().values,
            vec!["198.51.100.20".to_owned()]
        );
        // The schedule's next probe applies it just the same, without counting the probe.
        let mut probed = asked.clone();
        probed.probe = Some(ProbeResult {
            healthy: false,
            detail: "timed out after 2000 ms".into(),
            ms: 2000,
        });
        let by_probe = plan(g, &Input::Probe, probed);
        assert_eq!(by_probe.report.flip, Some(Flip::Failover));
        assert_eq!(by_probe.next.failures, 0);
        // Applied once: the same command against the state it made changes nothing.
        let mut again = asked;
        again.state = Some(manual.next.clone());
        again.record = record(&["198.51.100.20"]);
        let twice = plan(g, &Input::Command, again.clone());
        assert!(twice.report.flip.is_none() && !twice.save && twice.report.by.is_none());
        // A status read never applies a command.
        let mut waiting = again;
        waiting.state = Some(GroupState::on(Side::Primary));
        waiting.record = record(&["192.0.2.10"]);
        let status = plan(g, &Input::Status, waiting);
        assert!(status.report.flip.is_none() && !status.save);
    }

    #[test]
    fn a_repeated_alarm_delivery_counts_once_and_a_hold_is_said() {
        let g = &groups()[0];
        let mut state = GroupState::on(Side::Primary);
        state.last_alarm = Some("fleetkeeper-web-primary@t1".into());
        let again = plan(
            g,
            &Input::Observed(Observation::Unhealthy, "fleetkeeper-web-primary@t1".into()),
            observed(record(&["192.0.2.10"]), Some(state.clone())),
        );
        assert_eq!(again.next, state, "not counted again");
        assert!(!again.save);
        assert!(again.report.note.unwrap().contains("repeated delivery"));
        let mut held = GroupState::on(Side::Standby);
        held.held = true;
        let probe_while_held = plan(
            g,
            &Input::Observed(Observation::Healthy, "x@2".into()),
            observed(record(&["198.51.100.20"]), Some(held)),
        );
        assert_eq!(probe_while_held.report.side_after, Some(Side::Standby));
        assert!(
            probe_while_held
                .report
                .note
                .unwrap()
                .contains("held on the standby")
        );
    }
}
