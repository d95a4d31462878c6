//! The function's JSON result: the shared report (creates and deletes planned, done, skipped
//! and failed, per region, each with its reason or AWS error code) plus snapshot-janitor's own
//! field: in a dry run, every snapshot of ours with keep or delete and the rule that decided.

use serde::Serialize;

pub use crate::model::SnapshotAction;

use fleetkeeper::report::{Entry, Failure};
use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{AwsError, Mode, Report};

use crate::apply::{ArchiveOutcome, CopyOutcome, Outcome};
pub use crate::drill::DrillResult;
use crate::plan::archive::Archive;
use crate::plan::copy::{Copy, Pending};
use crate::plan::{CreatePlan, Decision, NotOurs};

pub const FUNCTION: &str = "snapshot-janitor";

/// One snapshot's retention verdict.
#[derive(Debug, Serialize)]
pub struct Verdict {
    pub region: String,
    pub id: String,
    pub volume_id: String,
    pub decision: &'static str,
    pub rule: String,
}

/// snapshot-janitor's own fields, beside the shared report's.
#[derive(Debug, Default, Serialize)]
pub struct JanitorFields {
    /// The time the run judged periods and ages at: the event's `time`, else the clock.
    pub time: String,
    /// Snapshots with our tags whose seal does not verify (copied or altered tags): left
    /// alone. Counted in full here; the first few are listed in `skipped`.
    #[serde(skip_serializing_if = "is_zero_usize")]
    pub forged: usize,
    /// Snapshots with our tags and no seal (made before seals, or by hand): kept, never
    /// deleted, until adopted (`{"action": "adopt"}` lists them).
    #[serde(skip_serializing_if = "is_zero_usize")]
    pub unsealed: usize,
    /// In a dry run: every snapshot of ours with keep or delete and the rule that decided it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retention: Vec<Verdict>,
    /// GiB moved to the archive tier this run (about 75% cheaper per GB-month there).
    #[serde(skip_serializing_if = "is_zero")]
    pub archived_gib: u64,
    /// Restore drills settled or made this run, per snapshot and region.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub restore_drills: Vec<DrillResult>,
}

/// The drills: listed in full; a failed one is also a failure of the run (the backup may not
/// come back), and a drill volume with copied tags counts as forged.
pub fn add_drills(report: &mut JanitorReport, drills: Vec<DrillResult>) {
    for d in &drills {
        if d.status == "failed" {
            report.fail(Failure {
                target: d.snapshot_id.clone(),
                region: Some(d.region.clone()),
                kind: None,
                action: "restore-drill".into(),
                error: d.reason.clone().unwrap_or_default(),
                code: None,
                retryable: true,
            });
        }
        if d.forged {
            report.fields.forged += 1;
        }
    }
    report.fields.restore_drills = drills;
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_usize(n: &usize) -> bool {
    *n == 0
}

/// How many snapshots without a valid seal a region lists by name (all are counted).
pub const LISTED_NOT_OURS: usize = 50;

/// Snapshots with our tags but no valid seal in `region`: left alone, each with why.
pub fn add_not_ours(report: &mut JanitorReport, region: &str, not_ours: &[NotOurs]) {
    let forged = not_ours.iter().filter(|n| n.forged()).count();
    report.fields.forged += forged;
    report.fields.unsealed += not_ours.len() - forged;
    // Forgeries first: they are what someone must look at.
    let mut listed: Vec<&NotOurs> = not_ours.iter().filter(|n| n.forged()).collect();
    listed.extend(not_ours.iter().filter(|n| !n.forged()));
    for n in listed.iter().take(LISTED_NOT_OURS) {
        report.skip(Entry::new(&n.snapshot.id, SnapshotAction::None, n.reason()).in_region(region));
    }
    if not_ours.len() > LISTED_NOT_OURS {
        report.skip(
            Entry::new(
                "*",
                SnapshotAction::None,
                format!(
                    "{} more snapshots with fleetkeeper tags and no valid seal, left alone ({{\"action\": \"adopt\"}} lists the unsealed ones)",
                    not_ours.len() - LISTED_NOT_OURS
                ),
            )
            .in_region(region),
        );
    }
}

/// The run when the seal key cannot be read: nothing is done at all (fleetkeeper acts only on
/// what it can prove is its own, and what it made now could not be proved later), and the
/// report says why.
pub fn no_key(
    mode: Mode,
    now: jiff::Timestamp,
    secret: &str,
    e: &AwsError,
    metrics: &mut Metrics,
) -> JanitorReport {
    let mut report = new(mode);
    report.fields.time = now.to_string();
    let mut failure = Failure::aws(secret, "read-seal-key", e);
    failure.error = format!(
        "the seal key {secret} (SEAL_SECRET) cannot be read: nothing was created, copied, archived or deleted ({})",
        failure.error
    );
    report.fail(failure);
    metrics_into(&report, metrics);
    report.log();
    report
}

/// Snapshots made but not sealed: kept (never deleted), and said so.
pub fn add_unsealed(report: &mut JanitorReport, region: &str, failed: &[crate::apply::Failed]) {
    for f in failed {
        let mut failure = Failure::aws(&f.id, SnapshotAction::Seal, &f.error).in_region(region);
        failure.error = format!(
            "taken, but its seal could not be written: it is kept, never deleted, until adopted ({})",
            failure.error
        );
        report.fail(failure);
    }
}

pub type JanitorReport = Report<JanitorFields>;

pub fn new(mode: Mode) -> JanitorReport {
    Report::with_fields(FUNCTION, mode, JanitorFields::default())
}

/// A region that could not be read at all.
pub fn add_region(
    report: &mut JanitorReport,
    region: &str,
    create: &CreatePlan,
    decisions: &[Decision],
    out: &Outcome,
) {
    use SnapshotAction::{Create, CreateSet, Delete, Thaw};
    let entry = |target: &str, action: SnapshotAction, reason: &str| {
        Entry::new(target, action, reason).in_region(region)
    };
    for set in &create.sets {
        let volumes = serde_json::json!({ "volume_ids": set.volume_ids });
        report
            .planned
            .push(entry(&set.instance_id, CreateSet, &set.reason).with_detail(volumes));
    }
    for c in &create.create {
        report.planned.push(entry(&c.volume_id, Create, &c.reason));
    }
    for d in decisions.iter().filter(|d| d.delete) {
        report.planned.push(entry(&d.id, Delete, &d.rule));
    }
    for s in &create.skipped {
        report.skip(entry(&s.volume_id, Create, &s.reason));
    }
    if report.mode.is_dry_run() {
        for d in decisions {
            report.fields.retention.push(Verdict {
                region: region.into(),
                id: d.id.clone(),
                volume_id: d.volume_id.clone(),
                decision: if d.delete { "delete" } else { "keep" },
                rule: d.rule.clone(),
            });
        }
    }
    let reason_of = |action: &SnapshotAction, target: &str| {
        match action {
            Create => create
                .create
                .iter()
                .find(|c| c.volume_id == target)
                .map(|c| c.reason.clone()),
            CreateSet => create
                .sets
                .iter()
                .find(|s| s.instance_id == target)
                .map(|s| s.reason.clone()),
            Thaw => Some("the post phase of its application-consistent set".to_owned()),
            _ => decisions
                .iter()
                .find(|d| d.id == target)
                .map(|d| d.rule.clone()),
        }
        .unwrap_or_default()
    };
    report.add_applied_with(
        Some(region),
        &out.applied,
        reason_of,
        "deletions over MAX_DELETES or past the time budget; the next run goes on",
    );
}

/// The copies into `destination`: planned, started (with the copy's id), pending (the source
/// is not complete yet), deferred (too many in flight there, or the time budget), failed.
pub fn add_copies(
    report: &mut JanitorReport,
    destination: &str,
    planned: &[Copy],
    pending: &[Pending],
    out: &CopyOutcome,
) {
    let action = SnapshotAction::Copy;
    let entry =
        |source: &str, reason: &str| Entry::new(source, action, reason).in_region(destination);
    for c in planned {
        let from = serde_json::json!({ "source_region": c.source_region });
        report
            .planned
            .push(entry(&c.source_id, &c.reason).with_detail(from));
    }
    for p in pending {
        report.skip(entry(&p.source_id, &p.reason));
    }
    for c in &out.started {
        let detail = serde_json::json!({ "copy_id": c.copy_id });
        report.done(entry(&c.source_id, &c.reason).with_detail(detail));
    }
    for f in &out.failed {
        report.fail(Failure::aws(&f.id, action, &f.error).in_region(destination));
    }
    report.leave_for_next_run(
        out.deferred.len(),
        "copies EC2 could not take yet (too many in flight to a region, or the time budget); the next run goes on",
    );
}

/// Snapshots moved to the archive tier in `region`, with the GiB they hold.
pub fn add_archive(
    report: &mut JanitorReport,
    region: &str,
    planned: &[Archive],
    out: &ArchiveOutcome,
) {
    let action = SnapshotAction::Archive;
    let size = |gib: u64| serde_json::json!({ "size_gib": gib });
    for a in planned {
        let e = Entry::new(&a.snapshot_id, action, &a.reason).in_region(region);
        report.planned.push(e.with_detail(size(a.size_gib)));
    }
    for a in &out.moved {
        report.fields.archived_gib += a.size_gib;
        report.done(
            Entry::new(&a.snapshot_id, action, &a.reason)
                .in_region(region)
                .with_detail(size(a.size_gib)),
        );
    }
    for f in &out.failed {
        report.fail(Failure::aws(&f.id, action, &f.error).in_region(region));
    }
    report.leave_for_next_run(
        out.deferred.len(),
        "archive moves past the time budget; the next run goes on",
    );
}

/// How many entries of `list` are `action`.
fn count(list: &[Entry], action: SnapshotAction) -> u64 {
    let name = action.to_string();
    list.iter().filter(|e| e.action == name).count() as u64
}

fn count_failed(report: &JanitorReport, action: SnapshotAction) -> u64 {
    let name = action.to_string();
    report.failed.iter().filter(|f| f.action == name).count() as u64
}

pub fn metrics_into(report: &JanitorReport, m: &mut Metrics) {
    let in_sets: usize = report
        .done
        .iter()
        .filter(|e| e.action == SnapshotAction::CreateSet.to_string())
        .filter_map(|e| {
            e.detail
                .as_ref()?
                .get("snapshots")?
                .as_array()
                .map(Vec::len)
        })
        .sum();
    m.count(
        "SnapshotsCreated",
        count(&report.done, SnapshotAction::Create) + in_sets as u64,
    );
    m.count(
        "SnapshotSetsCreated",
        count(&report.done, SnapshotAction::CreateSet),
    );
    m.count(
        "SnapshotsDeleted",
        count(&report.done, SnapshotAction::Delete),
    );
    m.count(
        "SnapshotsSkippedInUse",
        report
            .skipped
            .iter()
            .filter(|s| s.reason.starts_with("in use by an AMI"))
            .count() as u64,
    );
    m.count("Failures", report.failed.len() as u64);
    let drills = &report.fields.restore_drills;
    let failed_drills = drills.iter().filter(|d| d.status == "failed").count();
    m.count("RestoreDrillFailures", failed_drills as u64);
    if let Some(slowest) = drills.iter().filter_map(|d| d.seconds_to_available).max() {
        m.count("RestoreDrillSeconds", slowest);
    }
    // A thaw not confirmed may leave a filesystem frozen: the template alarms on it.
    m.count("ThawFailures", count_failed(report, SnapshotAction::Thaw));
    // Someone forged or copied fleetkeeper's tags: the template alarms on it.
    m.count("ForgedTags", report.fields.forged as u64);
    m.count("UnsealedSnapshots", report.fields.unsealed as u64);
}
