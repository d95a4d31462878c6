//! The function's JSON result: what was matched, acted on, skipped and failed, per instance
//! and region, each with its reason or AWS error code.

use serde::Serialize;

use fleetkeeper::report::Status;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{AwsError, Mode, Plan};

use crate::apply::Outcome;
use crate::event::Action;
use crate::plan::Act;

#[derive(Debug, Serialize)]
pub struct Planned {
    pub id: String,
    pub region: String,
    pub action: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Acted {
    pub id: String,
    pub region: String,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Skipped {
    pub id: String,
    pub region: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Failed {
    /// The instance, or `*` when the whole region could not be read.
    pub id: String,
    pub region: String,
    pub action: String,
    pub code: Option<String>,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct RegionSummary {
    pub region: String,
    pub matched: usize,
    pub acted: usize,
    pub skipped: usize,
    pub failed: usize,
}

#[derive(Debug, Serialize)]
pub struct StopperReport {
    pub action: Action,
    pub dry_run: bool,
    pub status: Status,
    pub regions: Vec<RegionSummary>,
    pub matched: usize,
    pub planned: Vec<Planned>,
    /// Done (in a dry run: what EC2's DryRun check said would succeed is in `planned` only).
    pub acted: Vec<Acted>,
    pub skipped: Vec<Skipped>,
    pub failed: Vec<Failed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Instances left for the next run because the time budget ran out.
    pub remaining: usize,
}

impl StopperReport {
    pub fn new(action: Action, mode: Mode) -> Self {
        StopperReport {
            action,
            dry_run: mode.is_dry_run(),
            status: Status::Ok,
            regions: Vec::new(),
            matched: 0,
            planned: Vec::new(),
            acted: Vec::new(),
            skipped: Vec::new(),
            failed: Vec::new(),
            refused: None,
            remaining: 0,
        }
    }

    /// A region that could not be read at all.
    pub fn region_failed(&mut self, region: &str, err: &AwsError) {
        self.failed.push(Failed {
            id: "*".into(),
            region: region.into(),
            action: "describe".into(),
            code: err.code().map(str::to_owned),
            message: err.to_string(),
        });
        self.regions.push(RegionSummary {
            region: region.into(),
            matched: 0,
            acted: 0,
            skipped: 0,
            failed: 1,
        });
    }

    pub fn add_region(
        &mut self,
        region: &str,
        matched: usize,
        plan: &Plan<Act>,
        out: &Outcome,
        dry_run: bool,
    ) {
        let r = region.to_owned();
        self.matched += matched;
        self.refused = self.refused.take().or_else(|| plan.refused.clone());
        for p in &plan.actions {
            self.planned.push(Planned {
                id: p.target.clone(),
                region: r.clone(),
                action: p.action.to_string(),
                reason: p.reason.clone(),
            });
        }
        for s in &plan.skipped {
            self.skipped.push(Skipped {
                id: s.target.clone(),
                region: r.clone(),
                reason: s.reason.clone(),
            });
        }
        let mut acted = 0;
        if !dry_run {
            for (id, act, note) in &out.done {
                acted += 1;
                self.acted.push(Acted {
                    id: id.clone(),
                    region: r.clone(),
                    action: act.to_string(),
                    note: note.clone(),
                });
            }
        }
        let failures = out
            .failed
            .iter()
            .map(|(id, act, e)| (id, act.to_string(), e))
            .chain(out.untagged.iter().map(|(id, e)| (id, "tag".to_owned(), e)));
        let mut failed = 0;
        for (id, action, e) in failures {
            failed += 1;
            self.failed.push(Failed {
                id: id.clone(),
                region: r.clone(),
                action,
                code: e.code().map(str::to_owned),
                message: e.to_string(),
            });
        }
        self.remaining += out.not_started.len();
        self.regions.push(RegionSummary {
            region: r,
            matched,
            acted,
            skipped: plan.skipped.len(),
            failed,
        });
    }

    pub fn finish(mut self, mode: Mode) -> Self {
        self.status = Status::of(
            mode,
            self.refused.is_some(),
            self.acted.len(),
            self.failed.len(),
            self.remaining,
        );
        self
    }

    pub fn metrics_into(&self, metrics: &mut Metrics) {
        let count = |acts: &[&str]| {
            self.acted
                .iter()
                .filter(|a| acts.contains(&a.action.as_str()))
                .count() as u64
        };
        metrics.count("InstancesStopped", count(&["stop", "hibernate"]));
        metrics.count("InstancesStarted", count(&["start"]));
        metrics.count("InstancesSkipped", self.skipped.len() as u64);
        metrics.count("Failures", self.failed.len() as u64);
    }
}
