//! The function's JSON result: the shared report (planned, done, skipped and failed per
//! instance and region, each with its reason or AWS error code) plus nightly-stopper's own
//! fields: the action, how many instances matched, a summary per region; and its metrics.

use serde::Serialize;

use fleetkeeper::report::{Entry, Failure};
use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{AwsError, Mode, Plan, Report};

use crate::apply::Outcome;
use crate::event::Action;
use crate::plan::Act;

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
    pub action: Action,
    /// Instances carrying the schedule tag, over every region.
    pub matched: usize,
    pub regions: Vec<RegionSummary>,
}

pub type StopperReport = Report<StopperFields>;

pub fn new(action: Action, mode: Mode) -> StopperReport {
    Report::with_fields(
        FUNCTION,
        mode,
        StopperFields {
            action,
            matched: 0,
            regions: Vec::new(),
        },
    )
}

/// A region that could not be read at all.
pub fn region_failed(report: &mut StopperReport, region: &str, err: &AwsError) {
    report.fail(Failure::aws("*", "describe", err).in_region(region));
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
    plan: &Plan<Act>,
    out: &Outcome,
) {
    report.fields.matched += matched;
    report.add_plan(Some(region), plan);
    let reason_of = |id: &str| {
        plan.actions
            .iter()
            .find(|p| p.target == id)
            .map(|p| p.reason.clone())
            .unwrap_or_default()
    };
    let mut done = 0;
    // In a dry run, what EC2's DryRun check said would succeed stays in `planned`.
    if !report.mode.is_dry_run() {
        for d in &out.done {
            done += 1;
            let mut entry = Entry::new(&d.id, d.act, reason_of(&d.id)).in_region(region);
            if let Some(note) = &d.note {
                entry = entry.with_detail(serde_json::json!({ "note": note }));
            }
            report.done(entry);
        }
    }
    let mut failed = 0;
    for f in &out.failed {
        failed += 1;
        report.fail(Failure::aws(&f.id, f.act, &f.error).in_region(region));
    }
    for (id, e) in &out.untagged {
        failed += 1;
        report.fail(Failure::aws(id, "tag", e).in_region(region));
    }
    report.leave_for_next_run(
        out.not_started.len(),
        "the time budget was spent; the next run goes on",
    );
    report.fields.regions.push(RegionSummary {
        region: region.to_owned(),
        matched,
        done,
        skipped: plan.skipped.len(),
        failed,
    });
}

pub fn metrics_into(report: &StopperReport, metrics: &mut Metrics) {
    let count = |acts: &[&str]| {
        report
            .done
            .iter()
            .filter(|d| acts.contains(&d.action.as_str()))
            .count() as u64
    };
    metrics.count("InstancesStopped", count(&["stop", "hibernate"]));
    metrics.count("InstancesStarted", count(&["start"]));
    metrics.count("InstancesSkipped", report.skipped.len() as u64);
    metrics.count("Failures", report.failed.len() as u64);
}
