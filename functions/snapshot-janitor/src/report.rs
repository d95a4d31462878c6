//! The function's JSON result and its EMF metrics.

use serde::Serialize;

use fleetkeeper::report::Status;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{AwsError, Mode};

use crate::apply::Outcome;
use crate::create::CreatePlan;
use crate::retention::Decision;

#[derive(Debug, Serialize)]
pub struct Created {
    pub region: String,
    pub volume_id: String,
    pub snapshot_id: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Item {
    pub region: String,
    pub id: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Failed {
    pub region: String,
    pub id: String,
    pub action: String,
    pub code: Option<String>,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct Verdict {
    pub region: String,
    pub id: String,
    pub volume_id: String,
    pub decision: &'static str,
    pub rule: String,
}

#[derive(Debug, Serialize)]
pub struct JanitorReport {
    pub dry_run: bool,
    pub status: Status,
    pub created: Vec<Created>,
    /// In a dry run: the snapshots that would be taken.
    pub would_create: Vec<Item>,
    pub deleted: Vec<Item>,
    pub skipped_in_use: Vec<Item>,
    pub already_gone: Vec<Item>,
    pub skipped_volumes: Vec<Item>,
    pub failed: Vec<Failed>,
    /// Deletions left for the next run (MAX_DELETES or the time budget).
    pub remaining: usize,
    /// True when the next run has work left from this one.
    pub resumable: bool,
    /// In a dry run: every snapshot of ours with keep or delete and the rule that decided it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<Verdict>,
}

impl JanitorReport {
    pub fn new(mode: Mode) -> Self {
        JanitorReport {
            dry_run: mode.is_dry_run(),
            status: Status::Ok,
            created: vec![],
            would_create: vec![],
            deleted: vec![],
            skipped_in_use: vec![],
            already_gone: vec![],
            skipped_volumes: vec![],
            failed: vec![],
            remaining: 0,
            resumable: false,
            plan: vec![],
        }
    }

    fn fail(&mut self, region: &str, id: &str, action: &str, e: &AwsError) {
        self.failed.push(Failed {
            region: region.into(),
            id: id.into(),
            action: action.into(),
            code: e.code().map(str::to_owned),
            message: e.to_string(),
        });
    }

    pub fn region_failed(&mut self, region: &str, e: &AwsError) {
        self.fail(region, "*", "describe", e);
    }

    pub fn add_region(
        &mut self,
        region: &str,
        create: &CreatePlan,
        decisions: &[Decision],
        out: &Outcome,
    ) {
        let item = |id: &str, reason: &str| Item {
            region: region.into(),
            id: id.into(),
            reason: reason.into(),
        };
        for s in &create.skipped {
            self.skipped_volumes.push(item(&s.volume_id, &s.reason));
        }
        if self.dry_run {
            for c in &create.create {
                self.would_create.push(item(&c.volume_id, &c.reason));
            }
            for d in decisions {
                self.plan.push(Verdict {
                    region: region.into(),
                    id: d.id.clone(),
                    volume_id: d.volume_id.clone(),
                    decision: if d.delete { "delete" } else { "keep" },
                    rule: d.rule.clone(),
                });
            }
        }
        for (volume_id, snapshot_id, reason) in &out.created {
            self.created.push(Created {
                region: region.into(),
                volume_id: volume_id.clone(),
                snapshot_id: snapshot_id.clone(),
                reason: reason.clone(),
            });
        }
        for (volume, e) in &out.create_failed {
            self.fail(region, volume, "create", e);
        }
        for (id, rule) in &out.deleted {
            self.deleted.push(item(id, rule));
        }
        for (id, msg) in &out.in_use {
            self.skipped_in_use
                .push(item(id, &format!("in use by an AMI: {msg}")));
        }
        for id in &out.already_gone {
            self.already_gone
                .push(item(id, "InvalidSnapshot.NotFound: already deleted"));
        }
        for (id, e) in &out.delete_failed {
            self.fail(region, id, "delete", e);
        }
        self.remaining += out.left_for_next_run.len();
    }

    pub fn finish(mut self, mode: Mode) -> Self {
        self.resumable = self.remaining > 0;
        let done = self.created.len() + self.deleted.len();
        self.status = Status::of(mode, false, done, self.failed.len(), self.remaining);
        self
    }

    pub fn metrics_into(&self, m: &mut Metrics) {
        m.count("SnapshotsCreated", self.created.len() as u64);
        m.count("SnapshotsDeleted", self.deleted.len() as u64);
        m.count("SnapshotsSkippedInUse", self.skipped_in_use.len() as u64);
        m.count("Failures", self.failed.len() as u64);
    }
}
