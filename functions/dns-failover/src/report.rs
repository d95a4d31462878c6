//! The result: one entry per group (side before and after, the probe, the counters, the
//! record before and after, the change id), and the EMF metrics.

use serde::Serialize;

use fleetkeeper::Mode;
use fleetkeeper::report::Status;
use fleetkeeper::telemetry::Metrics;

use crate::ports::ProbeResult;
use crate::state::Side;
use crate::state::{Flip, Observation};

#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    pub group: String,
    pub record: String,
    #[serde(rename = "type")]
    pub record_type: &'static str,
    pub side_before: Option<Side>,
    pub side_after: Option<Side>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observation: Option<Observation>,
    pub failures: u32,
    pub successes: u32,
    pub held: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flip: Option<Flip>,
    pub record_before: Option<Vec<String>>,
    pub record_after: Option<Vec<String>>,
    /// `none` (the record is right), `upsert`, or `would-upsert` in a dry run.
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
    /// INSYNC, or PENDING when the bounded wait ran out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl GroupReport {
    pub fn new(group: &crate::config::Group) -> Self {
        GroupReport {
            group: group.name.clone(),
            record: group.record.clone(),
            record_type: group.record_type.as_str(),
            side_before: None,
            side_after: None,
            probe: None,
            observation: None,
            failures: 0,
            successes: 0,
            held: false,
            flip: None,
            record_before: None,
            record_after: None,
            action: "none",
            change_id: None,
            change_status: None,
            note: None,
            error: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FailoverReport {
    pub trigger: String,
    pub dry_run: bool,
    pub status: Status,
    pub groups: Vec<GroupReport>,
}

impl FailoverReport {
    pub fn new(trigger: &str, mode: Mode, groups: Vec<GroupReport>) -> Self {
        let failed = groups.iter().filter(|g| g.error.is_some()).count();
        let done = groups.len() - failed;
        FailoverReport {
            trigger: trigger.to_owned(),
            dry_run: mode.is_dry_run(),
            status: Status::of(mode, false, done, failed, 0),
            groups,
        }
    }

    pub fn metrics_into(&self, metrics: &mut Metrics) {
        let applied = |f: Flip| {
            self.groups
                .iter()
                .filter(|g| g.flip == Some(f) && g.action == "upsert" && g.error.is_none())
                .count() as u64
        };
        metrics.count("Failovers", applied(Flip::Failover));
        metrics.count("Failbacks", applied(Flip::Failback));
        let probe_failures = self
            .groups
            .iter()
            .filter(|g| g.observation == Some(Observation::Unhealthy))
            .count();
        metrics.count("ProbeFailures", probe_failures as u64);
        metrics.count(
            "Failures",
            self.groups.iter().filter(|g| g.error.is_some()).count() as u64,
        );
    }

    pub fn log(&self) {
        for g in &self.groups {
            if let Some(e) = &g.error {
                tracing::error!(group = %g.group, error = %e, "group failed");
            } else if let Some(f) = g.flip {
                tracing::warn!(group = %g.group, flip = ?f, to = ?g.side_after, record = %g.record, change_id = g.change_id.as_deref(), "record moved");
            }
        }
        tracing::info!(trigger = %self.trigger, status = %self.status, groups = self.groups.len(), "run finished");
    }
}
