//! The plan, pure: which groups an event concerns, and for each, from what was read (record,
//! saved state, probe), the next state and the record change.
//!
//! Thresholds and hysteresis: a state and one observation of the primary give the next state
//! and whether the record flips. Counters reset on every flip, so after a flip the opposite
//! threshold must be crossed in full again: a flapping primary never flips the record more
//! than once per threshold crossing.

use std::time::Duration;

use jiff::Timestamp;

use fleetkeeper::Error;
use fleetkeeper::alarm::{AlarmChange, State as AlarmState};

use crate::config::{Config, Failback, Group};
use crate::event::HttpAction;
use crate::model::{
    Command, Contested, GroupReport, GroupState, Hold, Manual, Side, Upsert, Vote, VoteSeen,
    normalize,
};
pub use crate::model::{Flip, Observation, Observed};
use fleetkeeper::http::Refusal;

/// What decides when a group's record moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub fail_after: u32,
    pub recover_after: u32,
    pub failback: Failback,
}

impl Thresholds {
    pub fn of(group: &Group) -> Self {
        Thresholds {
            fail_after: group.fail_after,
            recover_after: group.recover_after,
            failback: group.failback,
        }
    }
}

/// The next state after one observation of the primary. `paused` (a maintenance hold, a
/// contested record) counts it but moves nothing.
pub fn observe(
    state: &GroupState,
    obs: Observation,
    t: Thresholds,
    paused: bool,
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
    if next.held || paused {
        return (next, None);
    }
    let flip = match next.side {
        Side::Primary if next.failures >= t.fail_after => Some(Flip::Failover),
        Side::Standby if next.successes >= t.recover_after && t.failback == Failback::Auto => {
            Some(Flip::Failback)
        }
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

/// What a decision needs besides the group and what was read: the time, where it runs, and
/// the function's rules for votes and contested records.
#[derive(Debug, Clone)]
pub struct Context {
    pub now: Timestamp,
    pub region: String,
    pub vote_ttl: Duration,
    pub round: Duration,
    pub contest_window: Duration,
    /// The state lives in another region: other deployments may decide too.
    pub state_elsewhere: bool,
}

impl Context {
    pub fn new(config: &Config, now: Timestamp) -> Self {
        Context {
            now,
            region: config.region.clone(),
            vote_ttl: config.vote_ttl,
            round: config.round,
            contest_window: config.contest_window,
            state_elsewhere: config.state_region != config.region,
        }
    }

    /// The round `now` falls in: one decision from votes per round and group.
    pub fn round_number(&self) -> i64 {
        self.now
            .as_second()
            .div_euclid(self.round.as_secs().max(1) as i64)
    }

    fn within(&self, at: Option<&str>, window: Duration) -> bool {
        at.and_then(|a| a.parse::<Timestamp>().ok())
            .is_some_and(|at| self.now.as_second() - at.as_second() < window.as_secs() as i64)
    }
}

/// The probe regions' votes counted: the verdict a quorum of fresh votes gives (a failure
/// first), each vote as seen, and the regions that did not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub verdict: Option<Observation>,
    pub seen: Vec<VoteSeen>,
    pub stale: Vec<String>,
    /// Why there is no verdict.
    pub why: Option<String>,
}

/// How old, said briefly: `45 s`, `7 min`.
fn age(seconds: i64) -> String {
    if seconds < 120 {
        format!("{seconds} s")
    } else {
        format!("{} min", seconds / 60)
    }
}

pub fn tally(group: &Group, votes: &[Vote], now: Timestamp, ttl: Duration) -> Tally {
    let (mut unhealthy, mut healthy) = (0usize, 0usize);
    let mut seen = Vec::new();
    let mut stale = Vec::new();
    for region in &group.probe_regions {
        let vote = votes.iter().find(|v| &v.region == region);
        let age_seconds = vote
            .and_then(|v| v.at.parse::<Timestamp>().ok())
            .map(|at| now.as_second() - at.as_second());
        let fresh = age_seconds.is_some_and(|a| a <= ttl.as_secs() as i64);
        match (vote, age_seconds) {
            (None, _) => stale.push(format!("{region}: no vote yet")),
            (Some(_), None) => stale.push(format!("{region}: its vote has no readable time")),
            (Some(_), Some(a)) if !fresh => {
                stale.push(format!("{region}: last vote {} old", age(a)))
            }
            (Some(v), Some(_)) if v.healthy => healthy += 1,
            (Some(_), Some(_)) => unhealthy += 1,
        }
        seen.push(VoteSeen {
            region: region.clone(),
            healthy: vote.map(|v| v.healthy),
            age_seconds,
            fresh,
            detail: vote.map(|v| v.detail.clone()),
        });
    }
    let q = group.quorum;
    let verdict = if unhealthy >= q {
        Some(Observation::Unhealthy)
    } else if healthy >= q {
        Some(Observation::Healthy)
    } else {
        None
    };
    let why = verdict.is_none().then(|| {
        format!(
            "{} fresh votes of {} regions (quorum {q}): {unhealthy} unhealthy, {healthy} healthy; no verdict, nothing moves",
            unhealthy + healthy,
            group.probe_regions.len()
        )
    });
    Tally {
        verdict,
        seen,
        stale,
        why,
    }
}

/// What one group is asked to do in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Probe the primary (the schedule); a voting group also counts the other regions' votes.
    Probe,
    /// A result from an alarm; the key tells a repeated delivery.
    Observed(Observation, String),
    /// Apply the group's pending manual command (asked for through the URL) and nothing else.
    /// Every other input but Status applies one too.
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
        HttpAction::Status(Some(n)) | HttpAction::Manual(_, n, _) => n,
    };
    let Some(group) = groups.iter().find(|g| &g.name == name) else {
        let known: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        return Err(Refusal::new(
            404,
            format!("no group {name:?}; groups: {}", known.join(", ")),
        ));
    };
    let input = match action {
        HttpAction::Manual(..) => Input::Command,
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
    /// The version the saved state was read at (0: none saved), which a claim starts from.
    pub base_version: u64,
    /// Whether the next state is to be saved (not for a status read or a repeated alarm).
    pub save: bool,
    /// Whether other deployments may decide this group too: the save is claimed first.
    pub shared: bool,
}

/// A manual command applied to `state`: the next state and the flip it makes.
fn apply_manual(
    state: &GroupState,
    command: &Command,
    ctx: &Context,
) -> (GroupState, Option<Flip>) {
    let (mut next, flip) = match command.action.moves_to() {
        Some(to) => {
            // A person moved the record: whatever contest there was is theirs to have settled.
            let (mut n, f) = manual(state, to);
            n.contested = None;
            n.put_back_at = None;
            (n, f)
        }
        None => (state.clone(), None),
    };
    match command.action {
        Manual::Hold => {
            let minutes = i64::from(command.minutes.unwrap_or(30));
            next.hold = Some(Hold {
                until: (ctx.now + jiff::SignedDuration::from_mins(minutes)).to_string(),
                by: command.by.clone(),
                at: command.at.clone(),
            });
        }
        Manual::Release => next.hold = None,
        Manual::Resolve => {
            next.contested = None;
            next.put_back_at = None;
        }
        Manual::Failover | Manual::Failback => {}
    }
    next.last_manual = Some(command.clone());
    (next, flip)
}

/// Decides one group: its next state, whether the record flips, and the record change.
pub fn plan(group: &Group, input: &Input, observed: Observed, ctx: &Context) -> GroupPlan {
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
    let base_version = state.version;
    report.side_before = Some(state.side);
    let hold = state.hold.clone().filter(|h| h.active(ctx.now));
    let paused = hold.is_some() || state.contested.is_some();
    // A manual command not applied yet goes first; a probe in the same run is shown but not
    // counted (a manual move starts the counts again).
    let pending = match input {
        Input::Status => None,
        _ => state.pending(observed.command.clone()),
    };
    let mut manual_move = false;
    let (mut next, flip, mut save) = match (input, &observed.probe, pending.clone()) {
        (_, _, Some(command)) => {
            report.probe = observed.probe.clone();
            report.say(format!(
                "manual {} asked by {} at {}",
                command.action(),
                command.by,
                command.at
            ));
            report.by = Some(command.by.clone());
            manual_move = command.action.moves_to().is_some();
            let (n, f) = apply_manual(&state, &command, ctx);
            (n, f, true)
        }
        (Input::Probe, _, None) if group.votes() => {
            report.probe = observed.probe.clone();
            let t = tally(
                group,
                observed.votes.as_deref().unwrap_or_default(),
                ctx.now,
                ctx.vote_ttl,
            );
            report.votes = t.seen;
            report.stale_votes = t.stale;
            let round = ctx.round_number();
            match t.verdict {
                _ if state.round == Some(round) => {
                    report.say(format!(
                        "this round was decided already, by {}: this run voted",
                        state.decided_by.as_deref().unwrap_or("another region")
                    ));
                    (state.clone(), None, false)
                }
                None => {
                    report.say(t.why.unwrap_or_default());
                    (state.clone(), None, false)
                }
                Some(obs) => {
                    report.observation = Some(obs);
                    let (mut n, f) = observe(&state, obs, Thresholds::of(group), paused);
                    n.round = Some(round);
                    n.decided_by = Some(ctx.region.clone());
                    (n, f, true)
                }
            }
        }
        (Input::Probe, Some(p), None) => {
            report.probe = Some(p.clone());
            report.observation = Some(p.observation());
            let (n, f) = observe(&state, p.observation(), Thresholds::of(group), paused);
            (n, f, true)
        }
        (Input::Observed(obs, key), _, None) => {
            if state.last_alarm.as_deref() == Some(key.as_str()) {
                report.say("this alarm change was already counted (a repeated delivery)");
                (state.clone(), None, false)
            } else {
                report.observation = Some(*obs);
                let (mut n, f) = observe(&state, *obs, Thresholds::of(group), paused);
                n.last_alarm = Some(key.clone());
                (n, f, true)
            }
        }
        (Input::Command, _, None) => {
            report.say("no manual command waiting: it was applied already");
            (state.clone(), None, false)
        }
        _ => (state.clone(), None, false),
    };
    // A hold that has ended is dropped at the next save.
    if next.hold.as_ref().is_some_and(|h| !h.active(ctx.now)) {
        next.hold = None;
    }
    if next.held && pending.is_none() {
        let by = next
            .last_manual
            .as_ref()
            .map(|m| format!(" (asked by {} at {})", m.by, m.at))
            .unwrap_or_default();
        report.say(format!(
            "held on the standby by a manual failover{by}: POST failback to release"
        ));
    }
    if let Some(h) = &next.hold {
        report.say(format!(
            "held for maintenance by {} until {}: no automatic move either way",
            h.by, h.until
        ));
    }
    if flip.is_none()
        && !next.held
        && next.side == Side::Standby
        && group.failback == Failback::Manual
        && next.successes > 0
    {
        report.say(format!(
            "primary healthy for {} decisions; failback is manual",
            next.successes
        ));
    }
    let desired = normalize(group.record_type, next.side.values(group));
    // Status only reads; everything else makes the record match the side: our own move, or a
    // record found changed put back once. Changed again soon after, it is contested: two
    // writers never take turns on it.
    let right = record
        .as_ref()
        .is_some_and(|r| r.values == desired && r.ttl == Some(group.ttl));
    let mut write = !matches!(input, Input::Status) && !right;
    let our_move = flip.is_some() || manual_move;
    if write && !our_move {
        let found = record
            .as_ref()
            .map(|r| r.values.clone())
            .unwrap_or_default();
        if next.hold.is_some() {
            report.say("the record is not ours to put back during the hold");
            write = false;
        } else if next.contested.is_some() {
            write = false;
        } else if record.is_some() && ctx.within(next.put_back_at.as_deref(), ctx.contest_window) {
            next.contested = Some(Contested {
                ours: desired.clone(),
                found,
                since: ctx.now.to_string(),
            });
            report.say(
                "the record was changed again soon after it was put back: contested, left for a person (POST resolve, failover or failback)",
            );
            write = false;
            save = true;
        } else {
            next.put_back_at = Some(ctx.now.to_string());
            save = true;
        }
    }
    if state.contested.is_some() && next.contested.is_some() && !write {
        report.say("contested: the record is left as it is until a person resolves it");
    }
    report.last_manual = next.last_manual.clone();
    report.flip = flip;
    report.side_after = Some(next.side);
    report.hold = next.hold.clone();
    report.contested = next.contested.clone();
    (report.failures, report.successes, report.held) = (next.failures, next.successes, next.held);
    report.record_after = Some(desired.clone());
    let upsert = write.then(|| Upsert {
        group: group.name.clone(),
        name: group.record.clone(),
        record_type: group.record_type,
        ttl: group.ttl,
        values: desired,
    });
    if upsert.is_none() {
        report.record_after = report.record_before.clone();
    }
    GroupPlan {
        report,
        zone_id: observed.zone_id,
        upsert,
        next,
        base_version,
        save,
        shared: group.votes() || ctx.state_elsewhere,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Command, ProbeResult, Record};
    use Observation::{Healthy as H, Unhealthy as U};

    fn th(fail_after: u32, recover_after: u32) -> Thresholds {
        Thresholds {
            fail_after,
            recover_after,
            failback: Failback::Auto,
        }
    }

    /// A run in us-east-1 at a fixed time, with the default rules.
    fn ctx_at(now: Timestamp) -> Context {
        Context {
            now,
            region: "us-east-1".into(),
            vote_ttl: Duration::from_secs(180),
            round: Duration::from_secs(60),
            contest_window: Duration::from_secs(3600),
            state_elsewhere: false,
        }
    }

    fn ctx() -> Context {
        ctx_at(Timestamp::from_second(1_800_000_000).unwrap())
    }

    fn decide(g: &Group, input: &Input, observed: Observed) -> GroupPlan {
        plan(g, input, observed, &ctx())
    }

    /// Runs a sequence from the primary side; returns the flips and the final side.
    fn run(seq: &[Observation], fail_after: u32, recover_after: u32) -> (Vec<Flip>, Side) {
        let mut s = GroupState::on(Side::Primary);
        let mut flips = Vec::new();
        for o in seq {
            let (next, flip) = observe(&s, *o, th(fail_after, recover_after), false);
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
                let (next, flip) = observe(&s, o, th(3, 2), false);
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
            let (next, flip) = observe(&cur, H, th(3, 3), false);
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
            votes: None,
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
        let over = inputs_for_http(
            &g,
            &HttpAction::Manual(Manual::Failover, "api".into(), None),
        )
        .unwrap();
        assert_eq!(
            (over[0].0.name.as_str(), &over[0].1),
            ("api", &Input::Command)
        );
        let back = inputs_for_http(
            &g,
            &HttpAction::Manual(Manual::Failback, "web".into(), None),
        )
        .unwrap();
        assert_eq!(back[0].1, Input::Command);
        let refused = inputs_for_http(&g, &HttpAction::Manual(Manual::Failover, "db".into(), None))
            .unwrap_err();
        assert_eq!(refused.status, 404);
        assert!(refused.message.contains("web, api"), "{refused:?}");
    }

    #[test]
    fn a_group_without_state_starts_from_its_record() {
        let g = &groups()[0];
        let on_standby = decide(
            g,
            &Input::Status,
            observed(record(&["198.51.100.20"]), None),
        );
        assert_eq!(on_standby.report.side_before, Some(Side::Standby));
        assert!(
            on_standby.upsert.is_none() && !on_standby.save,
            "status only reads"
        );
        let on_primary = decide(g, &Input::Status, observed(record(&["192.0.2.10"]), None));
        assert_eq!(on_primary.report.side_before, Some(Side::Primary));
    }

    #[test]
    fn the_record_changes_only_when_it_differs_from_the_side() {
        let g = &groups()[0];
        let right = decide(
            g,
            &Input::Observed(Observation::Healthy, "a@1".into()),
            observed(record(&["192.0.2.10"]), Some(GroupState::on(Side::Primary))),
        );
        assert!(right.upsert.is_none() && right.save);
        // Drifted (someone edited it): put back, though nothing flipped.
        let drifted = decide(
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
            action: Manual::Failover,
            minutes: None,
            by: "arn:aws:iam::123456789012:user/oncall".into(),
            at: "2026-11-21T09:00:00Z".into(),
        };
        let mut asked = observed(record(&["192.0.2.10"]), Some(GroupState::on(Side::Primary)));
        asked.command = Some(command.clone());
        let manual = decide(g, &Input::Command, asked.clone());
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
        let by_probe = decide(g, &Input::Probe, probed);
        assert_eq!(by_probe.report.flip, Some(Flip::Failover));
        assert_eq!(by_probe.next.failures, 0);
        // Applied once: the same command against the state it made changes nothing.
        let mut again = asked;
        again.state = Some(manual.next.clone());
        again.record = record(&["198.51.100.20"]);
        let twice = decide(g, &Input::Command, again.clone());
        assert!(twice.report.flip.is_none() && !twice.save && twice.report.by.is_none());
        // A status read never applies a command.
        let mut waiting = again;
        waiting.state = Some(GroupState::on(Side::Primary));
        waiting.record = record(&["192.0.2.10"]);
        let status = decide(g, &Input::Status, waiting);
        assert!(status.report.flip.is_none() && !status.save);
    }

    #[test]
    fn a_repeated_alarm_delivery_counts_once_and_a_hold_is_said() {
        let g = &groups()[0];
        let mut state = GroupState::on(Side::Primary);
        state.last_alarm = Some("fleetkeeper-web-primary@t1".into());
        let again = decide(
            g,
            &Input::Observed(Observation::Unhealthy, "fleetkeeper-web-primary@t1".into()),
            observed(record(&["192.0.2.10"]), Some(state.clone())),
        );
        assert_eq!(again.next, state, "not counted again");
        assert!(!again.save);
        assert!(again.report.note.unwrap().contains("repeated delivery"));
        let mut held = GroupState::on(Side::Standby);
        held.held = true;
        let probe_while_held = decide(
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

    // Votes, rounds, manual failback, holds and contested records.

    fn voting(quorum: usize, failback: &str) -> Group {
        let mut g = groups()[0].clone();
        g.probe_regions = vec![
            "us-east-1".into(),
            "eu-west-1".into(),
            "ap-southeast-2".into(),
        ];
        g.quorum = quorum;
        g.failback = if failback == "manual" {
            Failback::Manual
        } else {
            Failback::Auto
        };
        g
    }

    fn vote(region: &str, healthy: bool, secs_ago: i64) -> Vote {
        Vote {
            region: region.into(),
            healthy,
            detail: if healthy { "HTTP 200" } else { "timed out" }.into(),
            at: Timestamp::from_second(1_800_000_000 - secs_ago)
                .unwrap()
                .to_string(),
        }
    }

    #[test]
    fn a_quorum_of_fresh_votes_decides_and_stale_ones_are_named() {
        let g = voting(2, "auto");
        let now = ctx().now;
        let ttl = Duration::from_secs(180);
        let one_down = [
            vote("us-east-1", false, 5),
            vote("eu-west-1", true, 20),
            vote("ap-southeast-2", true, 40),
        ];
        assert_eq!(
            tally(&g, &one_down, now, ttl).verdict,
            Some(H),
            "one region is not a quorum"
        );
        let two_down = [
            vote("us-east-1", false, 5),
            vote("eu-west-1", false, 20),
            vote("ap-southeast-2", true, 40),
        ];
        assert_eq!(tally(&g, &two_down, now, ttl).verdict, Some(U));
        // A vote 7 minutes old and a region that never voted do not count: no quorum either way.
        let stale = [vote("us-east-1", false, 5), vote("eu-west-1", false, 420)];
        let t = tally(&g, &stale, now, ttl);
        assert_eq!(t.verdict, None);
        assert_eq!(
            t.stale,
            [
                "eu-west-1: last vote 7 min old",
                "ap-southeast-2: no vote yet"
            ]
        );
        assert!(
            t.why
                .unwrap()
                .contains("1 fresh votes of 3 regions (quorum 2)")
        );
        // A quorum of one: any region's failure counts.
        assert_eq!(
            tally(&voting(1, "auto"), &one_down, now, ttl).verdict,
            Some(U)
        );
    }

    fn voted(votes: Vec<Vote>, state: GroupState) -> Observed {
        let mut o = observed(record(&["192.0.2.10"]), Some(state));
        o.votes = Some(votes);
        o
    }

    #[test]
    fn one_decision_per_round_whichever_region_comes_first() {
        let mut g = voting(2, "auto");
        g.fail_after = 1;
        let down = vec![vote("us-east-1", false, 5), vote("eu-west-1", false, 20)];
        let first = decide(
            &g,
            &Input::Probe,
            voted(down.clone(), GroupState::on(Side::Primary)),
        );
        assert_eq!(first.report.flip, Some(Flip::Failover));
        assert_eq!(first.next.decided_by.as_deref(), Some("us-east-1"));
        assert!(first.shared && first.save);
        // The second region in the same minute only votes.
        let mut late = ctx();
        late.region = "eu-west-1".into();
        late.now += jiff::SignedDuration::from_secs(20);
        let mut o = voted(down.clone(), first.next.clone());
        o.record = record(&["198.51.100.20"]);
        let second = plan(&g, &Input::Probe, o, &late);
        assert_eq!(second.report.flip, None);
        assert!(!second.save && second.upsert.is_none());
        assert!(
            second
                .report
                .note
                .unwrap()
                .contains("decided already, by us-east-1")
        );
    }

    #[test]
    fn manual_failback_keeps_the_standby_against_healthy_votes() {
        let mut g = voting(2, "manual");
        g.recover_after = 1;
        let mut on_standby = GroupState::on(Side::Standby);
        on_standby.successes = 4;
        let healthy = vec![vote("us-east-1", true, 5), vote("eu-west-1", true, 20)];
        let mut o = voted(healthy, on_standby);
        o.record = record(&["198.51.100.20"]);
        let p = decide(&g, &Input::Probe, o);
        assert_eq!((p.report.flip, p.next.side), (None, Side::Standby));
        assert!(
            p.report
                .note
                .unwrap()
                .contains("primary healthy for 5 decisions; failback is manual")
        );
    }

    fn asked(action: Manual, minutes: Option<u32>) -> Command {
        Command {
            id: format!("req-{}", action.as_str()),
            action,
            minutes,
            by: "arn:aws:iam::123456789012:role/deploy".into(),
            at: ctx().now.to_string(),
        }
    }

    #[test]
    fn a_hold_stops_automatic_moves_both_ways_until_it_ends() {
        let mut g = groups()[0].clone();
        g.fail_after = 1;
        g.recover_after = 1;
        let mut o = observed(record(&["192.0.2.10"]), Some(GroupState::on(Side::Primary)));
        o.command = Some(asked(Manual::Hold, Some(30)));
        let held = decide(&g, &Input::Command, o);
        let hold = held.next.hold.clone().unwrap();
        assert_eq!(hold.by, "arn:aws:iam::123456789012:role/deploy");
        // A failing primary during the hold: counted, not moved; the record left as it is.
        let down = Input::Observed(U, "a@1".into());
        let o = observed(record(&["192.0.2.10"]), Some(held.next.clone()));
        let p = decide(&g, &down, o);
        assert_eq!((p.report.flip, p.next.failures), (None, 1));
        assert!(
            p.report
                .note
                .unwrap()
                .contains("held for maintenance by arn:aws:iam::123456789012:role/deploy")
        );
        // Nor back: from the standby, healthy, still held.
        let mut on_standby = held.next.clone();
        on_standby.side = Side::Standby;
        let o = observed(record(&["198.51.100.20"]), Some(on_standby.clone()));
        assert_eq!(
            decide(&g, &Input::Observed(H, "a@2".into()), o).report.flip,
            None
        );
        // A record changed by hand during the hold is not put back.
        let o = observed(record(&["203.0.113.7"]), Some(on_standby));
        assert!(
            decide(&g, &Input::Observed(H, "a@3".into()), o)
                .upsert
                .is_none()
        );
        // Thirty-one minutes later the hold is over: the same failure moves the record.
        let later = ctx_at(ctx().now + jiff::SignedDuration::from_mins(31));
        let o = observed(record(&["192.0.2.10"]), Some(held.next.clone()));
        let p = plan(&g, &down, o, &later);
        assert_eq!(p.report.flip, Some(Flip::Failover));
        assert!(p.next.hold.is_none() && p.report.hold.is_none());
        // A release ends it at once.
        let mut o = observed(record(&["192.0.2.10"]), Some(held.next));
        o.command = Some(asked(Manual::Release, None));
        assert!(decide(&g, &Input::Command, o).next.hold.is_none());
    }

    #[test]
    fn a_record_changed_again_soon_after_being_put_back_is_contested() {
        let g = &groups()[0];
        let primary = GroupState::on(Side::Primary);
        let other = record(&["203.0.113.7"]);
        let first = decide(
            g,
            &Input::Observed(H, "a@1".into()),
            observed(other.clone(), Some(primary)),
        );
        assert!(
            first.upsert.is_some() && first.next.put_back_at.is_some(),
            "put back once"
        );
        // Changed again ten minutes later: contested, not written, for a person.
        let soon = ctx_at(ctx().now + jiff::SignedDuration::from_mins(10));
        let o = observed(other.clone(), Some(first.next.clone()));
        let second = plan(g, &Input::Observed(H, "a@2".into()), o, &soon);
        assert!(second.upsert.is_none() && second.save);
        let c = second.report.contested.clone().unwrap();
        assert_eq!(
            (c.ours, c.found),
            (
                vec!["192.0.2.10".to_owned()],
                vec!["203.0.113.7".to_owned()]
            )
        );
        // Still left alone later on, and still said.
        let o = observed(other.clone(), Some(second.next.clone()));
        let third = plan(g, &Input::Observed(H, "a@3".into()), o, &soon);
        assert!(third.upsert.is_none() && third.report.contested.is_some());
        // Resolved by a person: the next run puts it back once more.
        let mut o = observed(other.clone(), Some(second.next.clone()));
        o.command = Some(asked(Manual::Resolve, None));
        let resolved = plan(g, &Input::Command, o, &soon);
        assert!(resolved.next.contested.is_none() && resolved.upsert.is_some());
        // Changed again after the window: put back, not contested.
        let much_later = ctx_at(ctx().now + jiff::SignedDuration::from_mins(61));
        let o = observed(other, Some(first.next));
        assert!(
            plan(g, &Input::Observed(H, "a@4".into()), o, &much_later)
                .upsert
                .is_some()
        );
    }

    #[test]
    fn commands_written_before_holds_still_read() {
        let old: Command = serde_json::from_str(
            r#"{"id":"r1","to":"standby","by":"arn:aws:iam::123456789012:user/oncall","at":"2026-11-21T09:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!((old.action, old.minutes), (Manual::Failover, None));
        let state: GroupState = serde_json::from_str(
            r#"{"side":"standby","failures":0,"successes":0,"held":true,"last_manual":{"id":"r1","to":"primary","by":"x","at":"2026-11-21T09:00:00Z"}}"#,
        )
        .unwrap();
        assert_eq!(state.last_manual.unwrap().action, Manual::Failback);
        assert_eq!(state.version, 0);
    }
}
