//! Plan: which instances to stop, hibernate or start, and why the others are left alone:
//! by each instance's schedule ([`evaluate`]), or for a manual stop or start ([`manual`]).
//! Pure: no I/O, no clock.

use std::collections::BTreeMap;

pub mod databases;
pub mod groups;
#[cfg(test)]
mod month;
pub mod services;
pub use databases::{DatabasePlan, evaluate_databases, order};
pub use groups::{GroupPlan, evaluate_groups};
pub use services::{ServicePlan, evaluate_services};

use fleetkeeper::Plan;
use fleetkeeper::ec2::InstanceState;
use fleetkeeper::lease::Lease;
use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

use crate::config::Config;
use crate::event::Action;
use crate::schedule::{Schedule, Schedules, State, Verdict};
use fleetkeeper::ec2::Instance;

pub use crate::model::{Act, HIBERNATE_TAG, KEEP_RUNNING_TAG, LAST_ACTION_TAG, LastAction, Verb};
pub use fleetkeeper::tags::ASG_TAG;
use fleetkeeper::tags::{EXPIRED_TAG, EXPIRES_TAG};

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

/// What the report says beside an action: the schedule and how long a stop saves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub schedule: Option<String>,
    /// For a stop: the schedule's next start, if it has one.
    pub stopped_until: Option<Timestamp>,
    pub instance_type: String,
}

/// A start of ours that EC2 accepted and then undid: the instance is stopped again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartFailure {
    pub id: String,
    pub schedule: Option<String>,
    /// EC2's state reason code.
    pub code: String,
    /// What happened and how to fix it, in plain words.
    pub explanation: String,
}

/// One region's plan and what the report needs beside it.
#[derive(Debug, Clone, Default)]
pub struct RegionPlan {
    pub plan: Plan<Act>,
    /// RDS DB instances and Aurora clusters (RESOURCES rds, aurora).
    pub databases: DatabasePlan,
    /// Auto Scaling groups (RESOURCES asg).
    pub groups: GroupPlan,
    /// ECS services (RESOURCES ecs).
    pub services: ServicePlan,
    pub intents: BTreeMap<String, Intent>,
    pub start_failures: Vec<StartFailure>,
}

/// State reasons that mean a start did not hold, with the plain explanation.
pub fn start_failure(code: &str, message: &str, instance_type: &str) -> Option<String> {
    let why = match code {
        "Client.InternalError" => format!(
            "EC2 stopped it again ({code}: {message}). This is almost always an encrypted EBS \
             volume whose KMS key the instance cannot use: add the key's ARN to the template's \
             KmsKeyArns parameter (it lets EC2 create a grant on it) and start the instance again"
        ),
        "Server.InsufficientInstanceCapacity" => format!(
            "EC2 had no capacity for {instance_type} ({code}: {message}); the next start \
             boundary tries again, or start it by hand later"
        ),
        "Server.InternalError" | "Client.VolumeLimitExceeded" => {
            format!("EC2 stopped it again ({code}: {message})")
        }
        _ => return None,
    };
    Some(why)
}

/// The schedule a resource's tag names and its verdict, or why there is none.
pub fn schedule_of<'s>(
    tags: &BTreeMap<String, String>,
    schedules: &'s Schedules,
    verdicts: &'s BTreeMap<String, Verdict>,
    config: &Config,
) -> Result<(&'s Schedule, &'s Verdict), String> {
    let name = tags.get(&config.schedule_tag.key).map(String::as_str);
    match (
        name.and_then(|n| schedules.get(n)),
        name.and_then(|n| verdicts.get(n)),
    ) {
        (Some(s), Some(v)) => Ok((s, v)),
        _ => Err(format!(
            "{} {:?} names no schedule (known: {})",
            config.schedule_tag.key,
            name.unwrap_or_default(),
            schedules.names()
        )),
    }
}

/// Each instance brought to the state its schedule wants at `at`. `verdicts` holds every
/// schedule's verdict at `at` (evaluated once for the run).
pub fn evaluate(
    instances: &[Instance],
    schedules: &Schedules,
    verdicts: &BTreeMap<String, Verdict>,
    config: &Config,
    at: Timestamp,
) -> RegionPlan {
    let mut out = RegionPlan::default();
    for i in instances {
        let (schedule, v) = match schedule_of(&i.tags, schedules, verdicts, config) {
            Ok(found) => found,
            Err(why) => {
                out.plan.skip(&i.id, why);
                continue;
            }
        };
        decide(&mut out, i, schedule, v, config, at);
    }
    out
}

fn decide(
    out: &mut RegionPlan,
    i: &Instance,
    s: &Schedule,
    v: &Verdict,
    config: &Config,
    at: Timestamp,
) {
    let plan = &mut out.plan;
    if let Some(group) = i.tags.get(ASG_TAG) {
        plan.skip(
            &i.id,
            format!("member of Auto Scaling group {group:?}; the group manages its capacity"),
        );
        return;
    }
    let today = at.to_zoned(s.tz.clone()).date();
    if config.skip_dates.contains(&today) {
        plan.skip(&i.id, format!("{today} is in SKIP_DATES ({})", s.tz_name));
        return;
    }
    let Some(desired) = v.desired else {
        plan.skip(&i.id, v.reason.clone());
        return;
    };
    let last = i
        .tags
        .get(LAST_ACTION_TAG)
        .and_then(|t| LastAction::parse(t));
    let boundary = v.last.as_ref().map(|b| b.at);
    let ours_since_boundary = last.filter(|l| boundary.is_some_and(|b| l.at > b));
    // A start of ours since the boundary, and the instance is stopped again with a reason
    // that says the start did not hold: reported once (the tag then says start-failed).
    if i.state == InstanceState::Stopped
        && let Some(l) = ours_since_boundary.filter(|l| l.started())
        && let Some(reason) = &i.state_reason
        && let Some(explanation) = start_failure(&reason.code, &reason.message, &i.instance_type)
    {
        out.start_failures.push(StartFailure {
            id: i.id.clone(),
            schedule: Some(s.name.clone()),
            code: reason.code.clone(),
            explanation: format!("started at {}, but {explanation}", l.at),
        });
        return;
    }
    let wanted = match desired {
        State::Running => InstanceState::Running,
        State::Stopped => InstanceState::Stopped,
    };
    match i.state {
        state if state == wanted => {
            plan.skip(&i.id, format!("already {state} ({})", v.reason));
            return;
        }
        InstanceState::Running | InstanceState::Stopped => {}
        InstanceState::Terminated => return plan.skip(&i.id, "terminated"),
        state => {
            return plan.skip(
                &i.id,
                format!("in transition ({state}); the next run will see where it settles"),
            );
        }
    }
    let enforced = s.enforced || s.hold.is_some();
    if !enforced && let Some(l) = ours_since_boundary {
        if l.verb == Verb::StartFailed {
            plan.skip(
                &i.id,
                format!(
                    "our start did not hold (reported at {}); left stopped until the next boundary of {}",
                    l.at, s.name
                ),
            );
            return;
        }
        let ours = if l.started() {
            "we started it"
        } else {
            "we stopped it"
        };
        plan.skip(
            &i.id,
            format!(
                "{} by hand since {ours} at {}; left {} until the next boundary of {} (it is not enforced)",
                if i.state == InstanceState::Running { "started" } else { "stopped" },
                l.at,
                i.state,
                s.name
            ),
        );
        return;
    }
    // Started after the time this run evaluates (a late-delivered or replayed event): a
    // person's start that the evaluated instant cannot have known of. Respected, and said
    // plainly, so the report never reads as if the start came first.
    if desired == State::Stopped
        && i.state == InstanceState::Running
        && let Some(started) = i.launched_at.filter(|l| *l > at)
    {
        let until = if enforced {
            format!("the next evaluation decides ({} is enforced)", s.name)
        } else {
            format!(
                "left running until the next boundary of {} (it is not enforced)",
                s.name
            )
        };
        plan.skip(
            &i.id,
            format!(
                "started at {started}, after this evaluation's time {at}: a person's start; {until}"
            ),
        );
        return;
    }
    // Started (by anyone) after the boundary that wants it stopped: someone needs it now.
    if !enforced
        && desired == State::Stopped
        && let (Some(started), Some(b)) = (i.launched_at, v.last.as_ref())
        && started > b.at
    {
        plan.skip(
            &i.id,
            format!(
                "started at {started}, after the last boundary ({}); left running until the next boundary of {} (it is not enforced)",
                v.reason, s.name
            ),
        );
        return;
    }
    let intent = |stopped_until| Intent {
        schedule: Some(s.name.clone()),
        stopped_until,
        instance_type: i.instance_type.clone(),
    };
    if desired == State::Running {
        if let Some(why) = lease_ended(i, at) {
            plan.skip(&i.id, why);
            return;
        }
        plan.act(&i.id, Act::Start, v.reason.clone());
        out.intents.insert(i.id.clone(), intent(None));
        return;
    }
    if let Some(why) = kept_running(i, s, v, at) {
        plan.skip(&i.id, why);
        return;
    }
    let hibernate = s.hibernate
        || i.tags
            .get(HIBERNATE_TAG)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let act = if hibernate { Act::Hibernate } else { Act::Stop };
    plan.act(&i.id, act, v.reason.clone());
    out.intents.insert(i.id.clone(), intent(v.next_start));
}

/// Why an instance is never started again: its lease (lease-keeper's `fleetkeeper:expires-at`)
/// has ended, or lease-keeper marked it expired. Starting it would undo the lease's stop and
/// bill an instance its owner let go; extending the lease (the "your instances" page) is the
/// way back.
fn lease_ended(i: &Instance, at: Timestamp) -> Option<String> {
    // lease-keeper's mark alone says ended, whatever the expiry tag says.
    if let Some(when) = i.tags.get(EXPIRED_TAG) {
        return Some(format!(
            "its lease ended ({EXPIRED_TAG} {when}): a schedule never starts it again; extend the lease first"
        ));
    }
    let lease = Lease::of(&i.tags)?;
    lease.has_ended(at).then(|| {
        format!(
            "its lease ended at {} ({EXPIRES_TAG}): a schedule never starts it again; extend the lease first",
            lease.expires_at
        )
    })
}

/// Why a running instance the schedule wants stopped stays up: its keep-running-until tag,
/// or retain_running for an instance started by hand before the period began.
fn kept_running(i: &Instance, s: &Schedule, v: &Verdict, at: Timestamp) -> Option<String> {
    if let Some(raw) = i.tags.get(KEEP_RUNNING_TAG) {
        match keep_running_until(raw, &s.tz) {
            Ok(until) if until > at => {
                return Some(format!("{KEEP_RUNNING_TAG} {raw} is in the future"));
            }
            Ok(_) => {}
            Err(why) => {
                return Some(format!(
                    "unreadable {KEEP_RUNNING_TAG}: {why}; left running to be safe"
                ));
            }
        }
    }
    let opened = v.last.as_ref().and_then(|b| b.opened_at)?;
    let started_by_us = i
        .tags
        .get(LAST_ACTION_TAG)
        .and_then(|t| LastAction::parse(t))
        .is_some_and(|l| l.started() && l.at >= opened);
    let before = i.launched_at.is_some_and(|l| l < opened);
    (s.retain_running && before && !started_by_us).then(|| {
        format!(
            "running since before {} began at {opened} (started by hand): retain_running keeps it",
            s.name
        )
    })
}

impl RegionPlan {
    /// Every kind's plan, for the run-wide cap.
    pub fn plans_mut(&mut self) -> [&mut Plan<Act>; 4] {
        [
            &mut self.plan,
            &mut self.databases.plan,
            &mut self.groups.plan,
            &mut self.services.plan,
        ]
    }
}

/// Everything of one place brought to its schedule: instances, databases and groups, then the
/// order between them (databases first).
pub fn evaluate_all(
    scheduled: &crate::model::Scheduled,
    schedules: &Schedules,
    verdicts: &BTreeMap<String, Verdict>,
    config: &Config,
    at: Timestamp,
) -> RegionPlan {
    let mut region_plan = evaluate(&scheduled.instances, schedules, verdicts, config, at);
    region_plan.databases =
        evaluate_databases(&scheduled.databases, schedules, verdicts, config, at);
    region_plan.groups = evaluate_groups(&scheduled.groups, schedules, verdicts, config, at);
    region_plan.services = evaluate_services(&scheduled.services, schedules, verdicts, config, at);
    order(
        &mut region_plan,
        &scheduled.instances,
        schedules,
        &config.schedule_tag.key,
    );
    region_plan
}

/// A manual stop or start of everything of every kind carrying the schedule tag. Instances as
/// [`manual`] has it; the other kinds through their own plans, as if each schedule named on
/// them were enforced and wanted them stopped (or running) now: what RDS cannot stop, a size
/// never recorded, is still left alone with the reason. Everything at once: the order between
/// databases and apps is the schedules'.
pub fn manual_all(
    action: Action,
    scheduled: &crate::model::Scheduled,
    config: &Config,
    now: Timestamp,
) -> RegionPlan {
    let mut out = manual(action, &scheduled.instances, config, now);
    let key = &config.schedule_tag.key;
    let names: std::collections::BTreeSet<&String> = scheduled
        .databases
        .iter()
        .map(|d| &d.tags)
        .chain(scheduled.groups.iter().map(|g| &g.tags))
        .chain(scheduled.services.iter().map(|s| &s.tags))
        .filter_map(|t| t.get(key))
        .collect();
    if names.is_empty() {
        return out;
    }
    let state = match action {
        Action::Stop => State::Stopped,
        Action::Start => State::Running,
    };
    let by_name = names
        .iter()
        .map(|n| {
            let s = Schedule {
                name: (*n).clone(),
                tz: config.time_zone.clone(),
                tz_name: config.time_zone_name.clone(),
                periods: Vec::new(),
                enforced: true,
                retain_running: false,
                hibernate: false,
                hold: Some(state),
                databases_first: false,
            };
            ((*n).clone(), s)
        })
        .collect();
    let schedules = Schedules { by_name };
    let verdicts = names
        .iter()
        .map(|n| {
            let v = Verdict {
                desired: Some(state),
                reason: format!("manual {}", action_name(action)),
                last: None,
                next_start: None,
            };
            ((*n).clone(), v)
        })
        .collect();
    let (dbs, groups, services) = (&scheduled.databases, &scheduled.groups, &scheduled.services);
    out.databases = evaluate_databases(dbs, &schedules, &verdicts, config, now);
    out.groups = evaluate_groups(groups, &schedules, &verdicts, config, now);
    out.services = evaluate_services(services, &schedules, &verdicts, config, now);
    out
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Stop => "stop",
        Action::Start => "start",
    }
}

/// A manual stop or start of every instance carrying the schedule tag. `now` is the
/// invocation time; the cap is applied by the caller over all regions.
pub fn manual(
    action: Action,
    instances: &[Instance],
    config: &Config,
    now: Timestamp,
) -> RegionPlan {
    let mut out = RegionPlan::default();
    let plan = &mut out.plan;
    let today = now.to_zoned(config.time_zone.clone()).date();
    if config.skip_dates.contains(&today) {
        for i in instances {
            plan.skip(
                &i.id,
                format!("{today} is in SKIP_DATES ({})", config.time_zone_name),
            );
        }
        return out;
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
        let schedule = i.tags.get(&config.schedule_tag.key).cloned();
        let intent = Intent {
            schedule,
            stopped_until: None,
            instance_type: i.instance_type.clone(),
        };
        match (action, i.state) {
            (Action::Stop, InstanceState::Running) => {
                let hibernate = i
                    .tags
                    .get(HIBERNATE_TAG)
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                let act = if hibernate { Act::Hibernate } else { Act::Stop };
                plan.act(&i.id, act, "running; a manual stop");
                out.intents.insert(i.id.clone(), intent);
            }
            (Action::Start, InstanceState::Stopped) if lease_ended(i, now).is_some() => {
                plan.skip(&i.id, lease_ended(i, now).unwrap_or_default());
            }
            (Action::Start, InstanceState::Stopped) => {
                plan.act(&i.id, Act::Start, "stopped; a manual start");
                out.intents.insert(i.id.clone(), intent);
            }
            (_, s) if s == target => plan.skip(&i.id, format!("already {s}")),
            (_, InstanceState::Terminated) => plan.skip(&i.id, "terminated"),
            (_, s) => plan.skip(
                &i.id,
                format!("in transition ({s}); the next run will see where it settles"),
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetkeeper::Env;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::from_env(&Env::of(pairs)).unwrap()
    }

    /// The manual plan.
    fn plan(action: Action, fleet: &[Instance], config: &Config, now: Timestamp) -> Plan<Act> {
        manual(action, fleet, config, now).plan
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
            ..Default::default()
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
        assert_eq!(p.actions[0].reason, "running; a manual stop");
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

    mod by_schedule {
        use super::*;
        use crate::schedule::{Schedules, parse};
        use fleetkeeper::ec2::StateReason;

        const DOC: &str = r#"{
            "uk-support": {"timezone": "Europe/London", "periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"}]},
            "strict": {"timezone": "Europe/London", "enforced": true, "periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"}]},
            "keep-early": {"timezone": "Europe/London", "retain_running": true, "periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"}]},
            "frozen": {"override": "stopped"}}"#;

        fn schedules() -> Schedules {
            parse(DOC, (&TimeZone::UTC, "UTC")).unwrap()
        }

        fn on(id: &str, state: &str, schedule: &str, tags: &[(&str, &str)]) -> Instance {
            let mut i = inst(id, state, tags);
            i.tags
                .insert("fleetkeeper:schedule".into(), schedule.into());
            i.instance_type = "t3.micro".into();
            i
        }

        fn run(fleet: &[Instance], at: &str) -> RegionPlan {
            let s = schedules();
            let at = ts(at);
            evaluate(fleet, &s, &s.verdicts(at), &config(&[]), at)
        }

        // Tuesday 2026-12-01 in London (GMT = UTC): 18:00 is the stop boundary.
        const EVENING: &str = "2026-12-01T18:05:00Z";

        #[test]
        fn outside_hours_stops_with_reason_and_stopped_until() {
            let fleet = [
                on("i-run", "running", "uk-support", &[]),
                on("i-off", "stopped", "uk-support", &[]),
                on("i-odd", "running", "no-such", &[]),
            ];
            let p = run(&fleet, EVENING);
            assert_eq!(acted(&p.plan), vec![("i-run".into(), Act::Stop)]);
            assert_eq!(
                p.plan.actions[0].reason,
                "outside uk-support: stop at 18:00 Europe/London"
            );
            let intent = &p.intents["i-run"];
            assert_eq!(intent.stopped_until, Some(ts("2026-12-02T08:00:00Z")));
            assert_eq!(intent.schedule.as_deref(), Some("uk-support"));
            assert!(
                skip_reason(&p.plan, "i-off").starts_with("already stopped (outside uk-support")
            );
            assert_eq!(
                skip_reason(&p.plan, "i-odd"),
                "fleetkeeper:schedule \"no-such\" names no schedule (known: frozen, keep-early, strict, uk-support)"
            );
        }

        #[test]
        fn a_manual_start_is_kept_until_the_next_boundary() {
            // We stopped it at 18:00:30; someone started it again at 21:00.
            let ours = [(LAST_ACTION_TAG, "stopped 2026-12-01T18:00:30Z")];
            let fleet = [on("i-1", "running", "uk-support", &ours)];
            let p = run(&fleet, "2026-12-01T21:05:00Z");
            assert!(p.plan.actions.is_empty());
            assert!(
                skip_reason(&p.plan, "i-1").starts_with(
                    "started by hand since we stopped it at 2026-12-01T18:00:30Z; left running until the next boundary of uk-support"
                ),
                "{}",
                skip_reason(&p.plan, "i-1")
            );
            // The next morning it is running, as wanted; at the next stop it is stopped.
            let p = run(&fleet, "2026-12-02T18:05:00Z");
            assert_eq!(acted(&p.plan), vec![("i-1".into(), Act::Stop)]);
            // An enforced schedule stops it at every run.
            let strict = [on("i-2", "running", "strict", &ours)];
            let p = run(&strict, "2026-12-01T21:05:00Z");
            assert_eq!(acted(&p.plan), vec![("i-2".into(), Act::Stop)]);
        }

        #[test]
        fn an_instance_started_after_the_boundary_is_left_running() {
            let mut late = on("i-late", "running", "uk-support", &[]);
            late.launched_at = Some(ts("2026-12-01T19:30:00Z"));
            let mut early = on("i-early", "running", "uk-support", &[]);
            early.launched_at = Some(ts("2026-12-01T07:00:00Z"));
            let p = run(&[late.clone(), early], "2026-12-01T20:00:00Z");
            assert_eq!(acted(&p.plan), vec![("i-early".into(), Act::Stop)]);
            assert!(
                skip_reason(&p.plan, "i-late")
                    .starts_with("started at 2026-12-01T19:30:00Z, after the last boundary")
            );
            // The next evening's boundary stops it.
            let p = run(&[late], "2026-12-02T18:05:00Z");
            assert_eq!(p.plan.actions.len(), 1);
        }

        #[test]
        fn a_start_later_than_the_evaluated_time_is_a_persons_and_says_so() {
            // The 17:30 evaluation of a stop boundary at 17:00 UTC arrives late; meanwhile
            // someone started the instance at 17:37. Its launch is after the evaluated
            // instant: a person's start, respected, and the reason says which came first.
            let mut late = on("i-late", "running", "uk-support", &[]);
            late.launched_at = Some(ts("2026-12-01T18:37:00Z"));
            let p = run(std::slice::from_ref(&late), "2026-12-01T18:30:00Z");
            assert!(p.plan.actions.is_empty(), "{:?}", p.plan.actions);
            assert_eq!(
                skip_reason(&p.plan, "i-late"),
                "started at 2026-12-01T18:37:00Z, after this evaluation's time 2026-12-01T18:30:00Z: a person's start; left running until the next boundary of uk-support (it is not enforced)"
            );
            // An enforced schedule leaves it to the next evaluation, which stops it.
            let mut strict = on("i-strict", "running", "strict", &[]);
            strict.launched_at = Some(ts("2026-12-01T21:10:00Z"));
            let p = run(std::slice::from_ref(&strict), "2026-12-01T21:05:00Z");
            assert!(
                skip_reason(&p.plan, "i-strict")
                    .ends_with("the next evaluation decides (strict is enforced)"),
                "{}",
                skip_reason(&p.plan, "i-strict")
            );
            let p = run(&[strict], "2026-12-01T21:15:00Z");
            assert_eq!(acted(&p.plan), vec![("i-strict".into(), Act::Stop)]);
            // A launch at the evaluated instant itself is not later: the boundary rule decides.
            let mut same = on("i-same", "running", "uk-support", &[]);
            same.launched_at = Some(ts("2026-12-01T18:30:00Z"));
            let p = run(&[same], "2026-12-01T18:30:00Z");
            assert!(skip_reason(&p.plan, "i-same").contains("after the last boundary"));
        }

        #[test]
        fn an_instance_whose_lease_ended_is_never_started_again() {
            // Wednesday 08:05 in London: uk-support wants every instance running.
            let morning = "2026-12-02T08:05:00Z";
            let fleet = [
                on(
                    "i-ended",
                    "stopped",
                    "uk-support",
                    &[(EXPIRES_TAG, "2026-12-02T06:00:00Z")],
                ),
                on(
                    "i-marked",
                    "stopped",
                    "uk-support",
                    &[(EXPIRED_TAG, "2026-12-01T20:00:00Z")],
                ),
                on(
                    "i-later",
                    "stopped",
                    "uk-support",
                    &[(EXPIRES_TAG, "2026-12-03T06:00:00Z")],
                ),
                on("i-plain", "stopped", "uk-support", &[]),
            ];
            let p = run(&fleet, morning);
            assert_eq!(
                acted(&p.plan),
                vec![
                    ("i-later".into(), Act::Start),
                    ("i-plain".into(), Act::Start)
                ]
            );
            assert!(
                skip_reason(&p.plan, "i-ended").starts_with(
                    "its lease ended at 2026-12-02T06:00:00Z (fleetkeeper:expires-at): a schedule never starts it again"
                ),
                "{}",
                skip_reason(&p.plan, "i-ended")
            );
            assert!(skip_reason(&p.plan, "i-marked").contains("fleetkeeper:expired-at"));
            // A manual start does not either.
            let p = plan(Action::Start, &fleet, &config(&[]), ts(morning));
            assert_eq!(acted(&p).len(), 2);
            assert!(skip_reason(&p, "i-ended").contains("its lease ended"));
        }

        #[test]
        fn retain_running_keeps_an_instance_started_before_the_period() {
            let mut early = on("i-early", "running", "keep-early", &[]);
            early.launched_at = Some(ts("2026-12-01T07:30:00Z"));
            let mut ours = on(
                "i-ours",
                "running",
                "keep-early",
                &[(LAST_ACTION_TAG, "started 2026-12-01T08:00:20Z")],
            );
            ours.launched_at = Some(ts("2026-12-01T08:00:20Z"));
            let mut plain = on("i-plain", "running", "uk-support", &[]);
            plain.launched_at = Some(ts("2026-12-01T07:30:00Z"));
            let p = run(&[early, ours, plain], EVENING);
            assert_eq!(
                acted(&p.plan),
                vec![("i-ours".into(), Act::Stop), ("i-plain".into(), Act::Stop)]
            );
            assert!(skip_reason(&p.plan, "i-early").contains("retain_running keeps it"));
        }

        #[test]
        fn an_override_holds_the_schedule() {
            let fleet = [on(
                "i-1",
                "running",
                "frozen",
                &[(LAST_ACTION_TAG, "started 2026-12-01T17:00:00Z")],
            )];
            let p = run(&fleet, EVENING);
            assert_eq!(acted(&p.plan), vec![("i-1".into(), Act::Stop)]);
            assert_eq!(
                p.plan.actions[0].reason,
                "frozen is held stopped by its override"
            );
        }

        #[test]
        fn a_start_that_fell_back_is_reported_once() {
            let mut i = on(
                "i-kms",
                "stopped",
                "uk-support",
                &[(LAST_ACTION_TAG, "started 2026-12-02T08:00:10Z")],
            );
            i.state_reason = Some(StateReason {
                code: "Client.InternalError".into(),
                message: "Client.InternalError: Client error on launch".into(),
            });
            let p = run(std::slice::from_ref(&i), "2026-12-02T08:05:00Z");
            assert!(p.plan.actions.is_empty());
            assert_eq!(p.start_failures.len(), 1);
            let f = &p.start_failures[0];
            assert_eq!(f.code, "Client.InternalError");
            assert!(f.explanation.contains("KmsKeyArns"), "{}", f.explanation);
            // Once tagged start-failed, the next run leaves it (and says why).
            i.tags.insert(
                LAST_ACTION_TAG.into(),
                "start-failed 2026-12-02T08:05:00Z".into(),
            );
            let p = run(&[i], "2026-12-02T08:10:00Z");
            assert!(p.start_failures.is_empty() && p.plan.actions.is_empty());
            assert!(skip_reason(&p.plan, "i-kms").contains("our start did not hold"));
        }

        #[test]
        fn skip_dates_are_read_in_each_schedules_zone() {
            let s = schedules();
            let at = ts("2026-12-24T09:00:00Z");
            let c = config(&[("SKIP_DATES", "2026-12-24")]);
            let fleet = [on("i-1", "stopped", "uk-support", &[])];
            let p = evaluate(&fleet, &s, &s.verdicts(at), &c, at);
            assert!(p.plan.actions.is_empty());
            assert!(skip_reason(&p.plan, "i-1").contains("SKIP_DATES (Europe/London)"));
        }
    }
}
