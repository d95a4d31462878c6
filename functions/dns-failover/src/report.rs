//! The result: the shared report (each group's record change planned, done or failed) plus
//! dns-failover's own fields: what started the run and, per group, the side before and after,
//! the probe, the counters, the record before and after and the change id; and the metrics.

use serde::Serialize;

use fleetkeeper::report::{Entry, Failure};
use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{Mode, Report};

pub use crate::model::GroupReport;
use crate::model::{Flip, Observation, Side};

/// dns-failover's own fields, beside the shared report's.
#[derive(Debug, Clone, Serialize)]
pub struct FailoverFields {
    /// What started the run: `schedule`, `alarm <name> <state>`, `http <group>`, `status`.
    pub trigger: String,
    /// Every group concerned, in full.
    pub groups: Vec<GroupReport>,
}

/// The shared report: each group concerned is planned (its record change, or `none`), then
/// done (what was done: `upsert`, `would-upsert` in a dry run, or `none`) or failed.
pub type FailoverReport = Report<FailoverFields>;

pub fn new(trigger: &str, mode: Mode, groups: Vec<GroupReport>) -> FailoverReport {
    let mut report = Report::with_fields(
        "dns-failover",
        mode,
        FailoverFields {
            trigger: trigger.to_owned(),
            groups: Vec::new(),
        },
    );
    for g in &groups {
        let why = why(g);
        let planned = if g.action == "none" { "none" } else { "upsert" };
        report.planned.push(Entry::new(&g.record, planned, &why));
        match &g.error {
            Some(e) => report.fail(Failure {
                target: g.record.clone(),
                region: None,
                kind: None,
                action: planned.to_owned(),
                error: format!("group {}: {e}", g.group),
                code: None,
                // A failed record change or state save is tried again by the next run; a zone
                // that cannot be found or a state that cannot be read needs a person.
                retryable: e.starts_with("record change failed")
                    || e.starts_with("state not saved"),
            }),
            None => {
                let mut done = Entry::new(&g.record, g.action, why);
                if let Some(id) = &g.change_id {
                    done = done.with_detail(
                        serde_json::json!({"change_id": id, "change_status": g.change_status}),
                    );
                }
                report.done(done);
            }
        }
    }
    report.fields.groups = groups;
    report
}

/// One line on why a group's record is (or is not) changed.
fn why(g: &GroupReport) -> String {
    let side = |s: Option<Side>| s.map_or("?".to_owned(), |s| format!("{s:?}").to_lowercase());
    let mut text = match g.flip {
        Some(f) => format!(
            "group {}: {} from {} to {}",
            g.group,
            if f == Flip::Failover {
                "failover"
            } else {
                "failback"
            },
            side(g.side_before),
            side(g.side_after)
        ),
        None if g.action == "none" => format!(
            "group {}: the record is right for the {} side",
            g.group,
            side(g.side_after)
        ),
        None => format!(
            "group {}: the record is put back to the {} side",
            g.group,
            side(g.side_after)
        ),
    };
    if let Some(note) = &g.note {
        text.push_str(&format!(" ({note})"));
    }
    text
}

pub fn metrics_into(report: &FailoverReport, metrics: &mut Metrics) {
    let groups = &report.fields.groups;
    let applied = |f: Flip| {
        groups
            .iter()
            .filter(|g| g.flip == Some(f) && g.action == "upsert" && g.error.is_none())
            .count() as u64
    };
    metrics.count("Failovers", applied(Flip::Failover));
    metrics.count("Failbacks", applied(Flip::Failback));
    let probe_failures = groups
        .iter()
        .filter(|g| g.observation == Some(Observation::Unhealthy))
        .count();
    metrics.count("ProbeFailures", probe_failures as u64);
    // Every run that sees them says so again, so their alarms stay raised until fixed.
    let stale: usize = groups.iter().map(|g| g.stale_votes.len()).sum();
    metrics.count("StaleVotes", stale as u64);
    let contested = groups.iter().filter(|g| g.contested.is_some()).count();
    metrics.count("RecordContested", contested as u64);
    metrics.count("Failures", report.failed.len() as u64);
}

pub fn log(report: &FailoverReport) {
    for g in &report.fields.groups {
        if let Some(e) = &g.error {
            tracing::error!(group = %g.group, error = %e, "group failed");
        } else if let Some(f) = g.flip {
            tracing::warn!(group = %g.group, flip = ?f, to = ?g.side_after, record = %g.record, change_id = g.change_id.as_deref(), "record moved");
        } else if let Some(c) = &g.contested {
            tracing::warn!(group = %g.group, ours = ?c.ours, found = ?c.found, since = %c.since, "record contested: left for a person");
        }
        if !g.stale_votes.is_empty() {
            tracing::warn!(group = %g.group, stale = ?g.stale_votes, "votes that did not count");
        }
    }
    tracing::info!(trigger = %report.fields.trigger, status = %report.status(), groups = report.fields.groups.len(), "run finished");
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetkeeper::report::Status;

    fn group(
        name: &str,
        action: &'static str,
        flip: Option<Flip>,
        error: Option<&str>,
    ) -> GroupReport {
        let groups = crate::config::parse_groups(
            &format!(
                r#"[{{"name": "{name}", "zone": "example.com", "record": "{name}.example.com",
                "type": "A", "primary": ["192.0.2.10"], "standby": ["198.51.100.20"],
                "health_check": {{"url": "http://192.0.2.10/"}}}}]"#
            ),
            "FAILOVER_GROUPS",
        )
        .unwrap();
        let mut g = GroupReport::new(&groups[0]);
        g.action = action;
        g.flip = flip;
        g.side_before = Some(Side::Primary);
        g.side_after = Some(if flip.is_some() {
            Side::Standby
        } else {
            Side::Primary
        });
        g.error = error.map(str::to_owned);
        g
    }

    #[test]
    fn each_group_is_planned_then_done_or_failed() {
        let r = new(
            "schedule",
            Mode::Live,
            vec![
                group("web", "upsert", Some(Flip::Failover), None),
                group("api", "none", None, None),
                group(
                    "db",
                    "upsert",
                    Some(Flip::Failover),
                    Some("record change failed: Throttling"),
                ),
            ],
        );
        assert_eq!(r.counts().planned, 3);
        assert_eq!(r.done.len(), 2);
        assert_eq!(r.done[0].action, "upsert");
        assert!(
            r.done[0]
                .reason
                .contains("failover from primary to standby"),
            "{}",
            r.done[0].reason
        );
        assert!(
            r.done[1].reason.contains("the record is right"),
            "{}",
            r.done[1].reason
        );
        assert_eq!(r.failed.len(), 1);
        assert!(r.failed[0].retryable && r.failed[0].error.contains("group db"));
        assert_eq!(r.status(), Status::Partial);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["trigger"], "schedule");
        assert_eq!(json["groups"].as_array().unwrap().len(), 3);
        let dry = new(
            "schedule",
            Mode::DryRun,
            vec![group("web", "would-upsert", Some(Flip::Failover), None)],
        );
        assert_eq!(dry.status(), Status::DryRun);
    }
}
