//! The function's JSON result: the shared report (each lease warned, stopped, marked or
//! terminated, per region, with its reason; terminations list their final snapshots in
//! `detail`), plus the time the leases were judged at; and its metrics.

use serde::Serialize;

use fleetkeeper::report::{Entry, Failure};
use fleetkeeper::seal::Proof;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{AwsError, Mode, Report};

pub const FUNCTION: &str = "lease-keeper";

#[derive(Debug, Serialize)]
pub struct LeaseFields {
    /// RFC 3339: the event's time, else the clock.
    pub time: String,
    /// Leased instances whose seal does not verify (copied or altered lease tags): left alone.
    #[serde(skip_serializing_if = "is_zero")]
    pub forged: usize,
    /// Leased instances without a seal (launched before seals, or leases written by hand):
    /// never stopped or terminated until adopted (`{"action": "adopt"}` lists them).
    #[serde(skip_serializing_if = "is_zero")]
    pub unsealed: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// How many leased instances without a valid seal a region lists by name (all are counted).
pub const LISTED_NOT_OURS: usize = 50;

/// Leased instances without a valid seal in `region`: left alone, each with why.
pub fn add_not_ours(report: &mut LeaseReport, region: &str, not_ours: &[(String, Proof)]) {
    let forged = not_ours.iter().filter(|(_, p)| *p == Proof::Forged).count();
    report.fields.forged += forged;
    report.fields.unsealed += not_ours.len() - forged;
    let mut listed: Vec<&(String, Proof)> = not_ours
        .iter()
        .filter(|(_, p)| *p == Proof::Forged)
        .collect();
    listed.extend(not_ours.iter().filter(|(_, p)| *p != Proof::Forged));
    for (id, proof) in listed.iter().take(LISTED_NOT_OURS) {
        report.skip(Entry::new(id, "none", proof.reason().unwrap_or_default()).in_region(region));
    }
    if not_ours.len() > LISTED_NOT_OURS {
        report.skip(
            Entry::new(
                "*",
                "none",
                format!(
                    "{} more leased instances without a valid seal, left alone",
                    not_ours.len() - LISTED_NOT_OURS
                ),
            )
            .in_region(region),
        );
    }
}

/// The run when the seal key cannot be read: nothing at all is done, and the report says why.
pub fn no_key(mode: Mode, time: String, secret: &str, e: &AwsError) -> LeaseReport {
    let mut report = new(mode, time);
    let mut failure = Failure::aws(secret, "read-seal-key", e);
    failure.error = format!(
        "the seal key {secret} (SEAL_SECRET) cannot be read: no lease was warned, stopped or terminated ({})",
        failure.error
    );
    report.fail(failure);
    report
}

pub type LeaseReport = Report<LeaseFields>;

pub fn new(mode: Mode, time: String) -> LeaseReport {
    Report::with_fields(
        FUNCTION,
        mode,
        LeaseFields {
            time,
            forged: 0,
            unsealed: 0,
        },
    )
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
    // Someone forged or copied lease tags: the template alarms on it.
    m.count("ForgedTags", report.fields.forged as u64);
    m.count("UnsealedLeases", report.fields.unsealed as u64);
}
