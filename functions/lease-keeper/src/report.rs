//! The function's JSON result: the shared report (each lease warned, stopped, marked or
//! terminated, per region, with its reason; terminations list their final snapshots in
//! `detail`), plus the time the leases were judged at; and its metrics.

use serde::Serialize;

use fleetkeeper::report::{Entry, Failure};
use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{AwsError, Mode, Plan, Report};

use crate::apply::Outcome;
use crate::plan::Act;

pub const FUNCTION: &str = "lease-keeper";

#[derive(Debug, Serialize)]
pub struct LeaseFields {
    /// RFC 3339: the event's time, else the clock.
    pub time: String,
}

pub type LeaseReport = Report<LeaseFields>;

pub fn new(mode: Mode, time: String) -> LeaseReport {
    Report::with_fields(FUNCTION, mode, LeaseFields { time })
}

pub fn region_failed(report: &mut LeaseReport, region: &str, e: &AwsError) {
    report.fail(Failure::aws("*", "describe", e).in_region(region));
}

pub fn add_region(report: &mut LeaseReport, region: &str, plan: &Plan<Act>, out: &Outcome) {
    report.add_plan(Some(region), plan);
    let reason_of = |id: &str| plan.reason_of(id);
    for d in &out.done {
        let mut e = Entry::new(&d.id, &d.act, reason_of(&d.id)).in_region(region);
        if let Some(detail) = &d.detail {
            e = e.with_detail(detail.clone());
        }
        report.done(e);
    }
    for f in &out.failed {
        report.fail(Failure::aws(&f.id, &f.act, &f.error).in_region(region));
    }
    report.leave_for_next_run(
        out.not_started.len(),
        "the time budget was spent; the next run goes on",
    );
}

pub fn metrics_into(report: &LeaseReport, m: &mut Metrics) {
    let count = |acts: &[&str]| {
        report
            .done
            .iter()
            .filter(|d| acts.contains(&d.action.as_str()))
            .count() as u64
    };
    m.count("LeasesWarned", count(&["warn"]));
    m.count("LeasesStopped", count(&["stop"]));
    m.count("LeasesTerminated", count(&["terminate"]));
    m.count("Failures", report.failed.len() as u64);
}
