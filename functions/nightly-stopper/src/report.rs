//! The function's JSON result: the shared report (planned, done, skipped and failed per
//! instance and region, each with its reason or AWS error code; a stop's entry carries its
//! schedule and `stopped_until`) plus nightly-stopper's own fields: the action, the time it
//! was evaluated at, how many instances matched, a summary per region, a preview; and its
//! metrics (counts per schedule, planned stop hours per instance type).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};

use fleetkeeper::report::{BUDGET_SPENT, Entry, Failure};
use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{AwsError, Mode, Report};

use crate::apply::Outcome;
use crate::event::Request;
use crate::model::Act;
use crate::model::Kind;
use crate::plan::{DatabasePlan, GroupPlan, Intent, RegionPlan, ServicePlan};
use crate::preview::SchedulePreview;
use fleetkeeper::Plan;

pub const FUNCTION: &str = "nightly-stopper";

#[derive(Debug, Serialize)]
pub struct RegionSummary {
    pub region: String,
    pub matched: usize,
    pub done: usize,
    pub skipped: usize,
    pub failed: usize,
}

/// nightly-stopper's own fields, beside the shared report's.
#[derive(Debug, Serialize)]
pub struct StopperFields {
    /// `evaluate`, `stop`, `start` or `preview`.
    pub action: &'static str,
    /// The instant the schedules were evaluated at (the event's time, else the clock).
    pub time: String,
    /// Instances carrying the schedule tag, over every region.
    pub matched: usize,
    pub regions: Vec<RegionSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<Vec<SchedulePreview>>,
    /// In a dry run: the kinds whose APIs have no DryRun flag, so their `planned` entries were
    /// not checked with AWS (EC2's were).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run_unchecked: Option<String>,
}

/// In a dry run, says which of `kinds` were planned without AWS checking the calls.
pub fn note_unchecked(report: &mut StopperReport, kinds: &[Kind]) {
    let unchecked: Vec<&str> = kinds
        .iter()
        .filter(|k| **k != Kind::Ec2)
        .map(|k| k.as_str())
        .collect();
    if report.mode.is_dry_run() && !unchecked.is_empty() {
        report.fields.dry_run_unchecked = Some(format!(
            "{}: RDS, Auto Scaling and ECS have no DryRun flag; planned only, no call made",
            unchecked.join(", ")
        ));
    }
}

pub type StopperReport = Report<StopperFields>;

pub fn new(request: Request, at: Timestamp, mode: Mode) -> StopperReport {
    named(request.name(), at, mode)
}

/// A report for a run that is not a [`Request`]: `rds-restart`.
pub fn named(action: &'static str, at: Timestamp, mode: Mode) -> StopperReport {
    Report::with_fields(
        FUNCTION,
        mode,
        StopperFields {
            action,
            time: at.to_string(),
            matched: 0,
            regions: Vec::new(),
            preview: None,
            dry_run_unchecked: None,
        },
    )
}

/// What an entry shows of its intent: the schedule, and for a stop when it starts again and
/// the hours that saves.
fn detail(intent: Option<&Intent>, at: Timestamp) -> Option<Value> {
    let i = intent?;
    let mut d = json!({ "schedule": i.schedule, "instance_type": i.instance_type });
    if let Some(until) = i.stopped_until {
        d["stopped_until"] = until.to_string().into();
        d["stop_hours"] = json!(stop_hours(at, until));
    }
    Some(d)
}

/// Hours from `at` to `until`, to a tenth.
fn stop_hours(at: Timestamp, until: Timestamp) -> f64 {
    let secs = until.duration_since(at).as_secs_f64().max(0.0);
    (secs / 360.0).round() / 10.0
}

/// A region that could not be read at all.
pub fn add_unreadable_region(report: &mut StopperReport, region: &str, err: &AwsError) {
    report.place_unreadable(region, err);
    report.fields.regions.push(RegionSummary {
        region: region.into(),
        matched: 0,
        done: 0,
        skipped: 0,
        failed: 1,
    });
}

pub fn add_region(
    report: &mut StopperReport,
    region: &str,
    matched: usize,
    region_plan: &RegionPlan,
    out: &Outcome,
    at: Timestamp,
) {
    let plan = &region_plan.plan;
    let intents = &region_plan.intents;
    report.fields.matched += matched;
    let first_planned = report.planned.len();
    let first_skipped = report.skipped.len();
    report.add_plan(Some(region), plan);
    for e in &mut report.planned[first_planned..] {
        e.detail = detail(intents.get(&e.target), at);
        e.kind = Some(Kind::Ec2.as_str().to_owned());
    }
    for e in &mut report.skipped[first_skipped..] {
        e.kind = Some(Kind::Ec2.as_str().to_owned());
    }
    let reason_of = |id: &str| plan.reason_of(id);
    let mut done = 0;
    // In a dry run, what EC2's DryRun check said would succeed stays in `planned`.
    if !report.mode.is_dry_run() {
        for d in &out.applied.done {
            done += 1;
            let mut entry = Entry::new(&d.target, d.action, reason_of(&d.target))
                .in_region(region)
                .of_kind(Kind::Ec2.as_str());
            let mut shown = detail(intents.get(&d.target), at).unwrap_or_else(|| json!({}));
            if let Some(note) = d.detail.as_ref().and_then(|d| d.get("note")) {
                shown["note"] = note.clone();
            }
            if shown.as_object().is_some_and(|o| !o.is_empty()) {
                entry = entry.with_detail(shown);
            }
            report.done(entry);
        }
    }
    let mut failed = 0;
    for f in &out.applied.failed {
        failed += 1;
        report.fail(
            Failure::aws(&f.target, f.action, &f.error)
                .in_region(region)
                .of_kind(Kind::Ec2.as_str()),
        );
    }
    for u in &out.untagged {
        failed += 1;
        report.fail(
            Failure::aws(&u.id, "tag", &u.error)
                .in_region(region)
                .of_kind(Kind::Ec2.as_str()),
        );
    }
    for f in &region_plan.start_failures {
        failed += 1;
        report.fail(Failure {
            target: f.id.clone(),
            region: Some(region.to_owned()),
            kind: Some("ec2".into()),
            action: "start".into(),
            error: f.explanation.clone(),
            code: Some(f.code.clone()),
            retryable: false,
        });
    }
    report.leave_for_next_run(out.applied.not_started.len(), BUDGET_SPENT);
    report.fields.regions.push(RegionSummary {
        region: region.to_owned(),
        matched,
        done,
        skipped: plan.skipped.len(),
        failed,
    });
}

/// What an entry of another kind shows: its kind, its schedule and, for a stop, the
/// schedule's next start.
struct Described<'a> {
    kind: &'a str,
    schedule: Option<&'a String>,
    stopped_until: Option<Timestamp>,
}

/// A region's databases: each entry with its kind (`rds`, `aurora`) and schedule. RDS has
/// no DryRun flag, so in a dry run the plan alone says what would be done.
pub fn add_databases(
    report: &mut StopperReport,
    region: &str,
    db: &DatabasePlan,
    out: &Outcome,
    at: Timestamp,
) {
    let describe = |id: &str| Described {
        kind: db.kinds.get(id).map_or("rds", |k| k.as_str()),
        schedule: db.schedules.get(id),
        stopped_until: db.stopped_until.get(id).copied(),
    };
    add_kind(report, region, &db.plan, describe, out, at);
}

/// A region's Auto Scaling groups (kind `asg`), as [`add_databases`].
pub fn add_groups(
    report: &mut StopperReport,
    region: &str,
    groups: &GroupPlan,
    out: &Outcome,
    at: Timestamp,
) {
    let describe = |id: &str| Described {
        kind: Kind::Asg.as_str(),
        schedule: groups.schedules.get(id),
        stopped_until: groups.stopped_until.get(id).copied(),
    };
    add_kind(report, region, &groups.plan, describe, out, at);
}

/// A region's ECS services (kind `ecs`, target the service ARN), as [`add_databases`].
pub fn add_services(
    report: &mut StopperReport,
    region: &str,
    services: &ServicePlan,
    out: &Outcome,
    at: Timestamp,
) {
    let describe = |id: &str| Described {
        kind: Kind::Ecs.as_str(),
        schedule: services.schedules.get(id),
        stopped_until: services.stopped_until.get(id).copied(),
    };
    add_kind(report, region, &services.plan, describe, out, at);
}

/// One kind's plan and outcome in a region, each entry with its kind and schedule, and a
/// stop with the hours it saves.
fn add_kind<'a>(
    report: &mut StopperReport,
    region: &str,
    plan: &Plan<Act>,
    describe: impl Fn(&str) -> Described<'a>,
    out: &Outcome,
    at: Timestamp,
) {
    let entry = |id: &str, action: &str, reason: &str| {
        let d = describe(id);
        let e = Entry::new(id, action, reason)
            .in_region(region)
            .of_kind(d.kind);
        let Some(s) = d.schedule else {
            return e;
        };
        let mut detail = json!({ "schedule": s });
        if let (Some(until), "stop") = (d.stopped_until, action) {
            detail["stopped_until"] = until.to_string().into();
            detail["stop_hours"] = json!(stop_hours(at, until));
        }
        e.with_detail(detail)
    };
    for p in &plan.actions {
        report
            .planned
            .push(entry(&p.target, &p.action.to_string(), &p.reason));
    }
    for s in &plan.skipped {
        report.skipped.push(entry(&s.target, "none", &s.reason));
    }
    if report.refused.is_none() {
        report.refused = plan.refused.clone();
    }
    if !report.mode.is_dry_run() {
        for d in &out.applied.done {
            report.done(entry(
                &d.target,
                &d.action.to_string(),
                &plan.reason_of(&d.target),
            ));
        }
    }
    for f in &out.applied.failed {
        report.fail(
            Failure::aws(&f.target, f.action, &f.error)
                .in_region(region)
                .of_kind(describe(&f.target).kind),
        );
    }
    for u in &out.untagged {
        report.fail(
            Failure::aws(&u.id, "tag", &u.error)
                .in_region(region)
                .of_kind(describe(&u.id).kind),
        );
    }
    report.leave_for_next_run(out.applied.not_started.len(), BUDGET_SPENT);
    if let Some(summary) = report
        .fields
        .regions
        .iter_mut()
        .find(|r| r.region == region)
    {
        summary.done += out.applied.done.len();
        summary.skipped += plan.skipped.len();
        summary.failed += out.applied.failed.len() + out.untagged.len();
    }
}

/// Instances stopped and started, failed starts, per schedule too; the hours each stop is
/// planned to save, per instance type.
pub fn metrics_into(report: &StopperReport, metrics: &mut Metrics) {
    let stops = ["stop", "hibernate"];
    let mut by_schedule: BTreeMap<String, [u64; 2]> = BTreeMap::new();
    let schedule_of = |e: &Entry| {
        e.detail
            .as_ref()
            .and_then(|d| d.get("schedule"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut stopped = 0;
    let mut started = 0;
    let is_database = |e: &&Entry| matches!(e.kind.as_deref(), Some("rds") | Some("aurora"));
    let groups = |action: &str| {
        report
            .done
            .iter()
            .filter(|e| e.kind.as_deref() == Some("asg") && e.action == action)
            .count() as u64
    };
    metrics.count("GroupsStopped", groups("stop"));
    metrics.count("GroupsStarted", groups("start"));
    let services = |action: &str| {
        report
            .done
            .iter()
            .filter(|e| e.kind.as_deref() == Some("ecs") && e.action == action)
            .count() as u64
    };
    metrics.count("ServicesStopped", services("stop"));
    metrics.count("ServicesStarted", services("start"));
    // The hours every other kind's stops are planned to save, per kind (instances above).
    for e in report.done.iter().filter(|e| e.action == "stop") {
        if let (Some(kind), Some(h)) = (
            e.kind.as_deref().filter(|k| *k != "ec2"),
            e.detail
                .as_ref()
                .and_then(|d| d.get("stop_hours"))
                .and_then(Value::as_f64),
        ) {
            metrics.count_in(("ResourceKind", kind), "ScheduledStopHours", h);
        }
    }
    let databases = |action: &str| {
        report
            .done
            .iter()
            .filter(is_database)
            .filter(|e| e.action == action)
            .count() as u64
    };
    metrics.count("DatabasesStopped", databases("stop"));
    metrics.count("DatabasesStarted", databases("start"));
    for e in report
        .done
        .iter()
        .filter(|e| e.kind.is_none() || e.kind.as_deref() == Some("ec2"))
    {
        let is_stop = stops.contains(&e.action.as_str());
        if is_stop {
            stopped += 1;
        } else if e.action == "start" {
            started += 1;
        }
        if let Some(d) = &e.detail
            && is_stop
            && let (Some(t), Some(h)) = (
                d.get("instance_type").and_then(Value::as_str),
                d.get("stop_hours").and_then(Value::as_f64),
            )
        {
            metrics.count_in(("InstanceType", t), "ScheduledStopHours", h);
            metrics.count_in(("ResourceKind", "ec2"), "ScheduledStopHours", h);
        }
        if let Some(s) = schedule_of(e) {
            by_schedule.entry(s).or_default()[usize::from(!is_stop)] += 1;
        }
    }
    // Starts EC2 refused, and starts it accepted and then undid.
    let start_failures = report.failed.iter().filter(|f| f.action == "start").count();
    metrics.count("InstancesStopped", stopped);
    metrics.count("InstancesStarted", started);
    metrics.count("StartFailures", start_failures as u64);
    metrics.count("InstancesSkipped", report.skipped.len() as u64);
    metrics.count("Failures", report.failed.len() as u64);
    for (schedule, [stops, starts]) in &by_schedule {
        metrics.count_in(("Schedule", schedule), "InstancesStopped", *stops as f64);
        metrics.count_in(("Schedule", schedule), "InstancesStarted", *starts as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Request;

    #[test]
    fn stop_hours_are_counted_per_kind_and_kinds_apart() {
        let at: Timestamp = "2026-12-01T18:05:00Z".parse().unwrap();
        let mut report = new(Request::Evaluate { at: Some(at) }, at, Mode::Live);
        let stop = |target: &str, kind: &str, hours: f64| {
            Entry::new(target, "stop", "outside office-hours")
                .of_kind(kind)
                .with_detail(json!({"schedule": "office-hours", "stop_hours": hours, "instance_type": "t3.micro"}))
        };
        report.done(stop("i-1", "ec2", 13.9));
        report.done(stop("db-1", "rds", 13.9));
        report.done(stop("web", "asg", 13.9));
        let mut metrics = Metrics::for_function("nightly-stopper");
        metrics_into(&report, &mut metrics);
        let lines = metrics.lines(at).join("\n");
        for kind in ["ec2", "rds", "asg"] {
            assert!(
                lines.contains(&format!("\"ResourceKind\":\"{kind}\"")),
                "{kind}: {lines}"
            );
        }
        assert!(lines.contains("\"InstancesStopped\":1.0"), "{lines}");
        assert!(lines.contains("\"DatabasesStopped\":1.0"), "{lines}");
        assert!(lines.contains("\"GroupsStopped\":1.0"), "{lines}");
    }

    #[test]
    fn a_failure_names_its_kind() {
        use crate::plan::GroupPlan;
        use fleetkeeper::applied::{Applied, Failed};
        let at: Timestamp = "2026-12-01T18:05:00Z".parse().unwrap();
        let mut report = new(Request::Evaluate { at: Some(at) }, at, Mode::Live);
        let mut groups = GroupPlan::default();
        groups.plan.act("web", Act::Stop, "outside office-hours");
        let denied = AwsError::service("autoscaling:UpdateAutoScalingGroup", "AccessDenied", "no");
        let out = Outcome {
            applied: Applied {
                failed: vec![Failed {
                    target: "web".into(),
                    action: Act::Stop,
                    error: denied,
                }],
                ..Applied::default()
            },
            untagged: Vec::new(),
        };
        add_groups(&mut report, "eu-west-1", &groups, &out, at);
        assert_eq!(report.failed.len(), 1);
        assert_eq!(report.failed[0].kind.as_deref(), Some("asg"));
        assert_eq!(report.failed[0].region.as_deref(), Some("eu-west-1"));
    }
}
