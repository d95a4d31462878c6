//! The function's JSON result: the alarm change it saw, then the shared report (planned, done,
//! skipped with a code and reason, failed with the AWS error code), and the EMF metrics.

use serde::Serialize;
use serde_json::json;

use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{Error, Mode, Report};

use crate::apply::Outcome;
use crate::config::Config;
use crate::plan::{AlarmPlan, Decision, Skip};
use fleetkeeper::alarm::AlarmChange;

pub const FUNCTION: &str = "alarm-restarter";

#[derive(Debug, Serialize)]
pub struct RestarterReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm: Option<AlarmChange>,
    pub strategy: &'static str,
    #[serde(flatten)]
    pub report: Report,
    /// Instances not restarted because they reached MAX_RESTARTS: a human must look.
    pub cap_reached: usize,
}

impl RestarterReport {
    /// A payload this function has no business with.
    pub fn ignored_event(config: &Config, what: &str, reason: &str) -> Self {
        let mut report = Report::new(FUNCTION, config.mode);
        report.skip(what, "ignored", reason);
        RestarterReport {
            alarm: None,
            strategy: config.strategy.name(),
            report,
            cap_reached: 0,
        }
    }

    pub fn new(change: &AlarmChange, plan: &AlarmPlan, config: &Config) -> Self {
        let mut report = Report::new(FUNCTION, config.mode);
        let mut cap_reached = 0;
        match plan {
            AlarmPlan::Ignored(why) => report.skip(&change.alarm_name, "ignored", why),
            AlarmPlan::Instances(plans) => {
                for p in plans {
                    match &p.decision {
                        Decision::Restart { count, .. } => {
                            report.planned.push(fleetkeeper::report::Entry {
                                target: p.id.clone(),
                                action: config.strategy.name().to_owned(),
                                reason: format!(
                                    "alarm {} entered ALARM; restart {count} of at most {} in {} hours",
                                    change.alarm_name,
                                    config.max_restarts,
                                    config.window.as_hours()
                                ),
                                detail: None,
                            });
                        }
                        Decision::Skip(s) => {
                            if matches!(s, Skip::CapReached { .. }) {
                                cap_reached += 1;
                            }
                            report.skip(&p.id, s.code(), &s.reason(config));
                        }
                    }
                }
            }
        }
        RestarterReport {
            alarm: Some(change.clone()),
            strategy: config.strategy.name(),
            report,
            cap_reached,
        }
    }

    pub fn record(&mut self, outcomes: Vec<(String, Outcome)>) {
        let action = self.strategy;
        for (id, outcome) in outcomes {
            let reason = self
                .report
                .planned
                .iter()
                .find(|e| e.target == id)
                .map(|e| e.reason.clone())
                .unwrap_or_default();
            match outcome {
                Outcome::Requested(r) if self.report.mode == Mode::Live => {
                    let detail = r.id.map(|v| json!({ r.kind: v }));
                    self.report.done(&id, action, &reason, detail);
                }
                // A dry run's passed check stays in `planned`.
                Outcome::Requested(_) => {}
                Outcome::NotRecorded(e) => {
                    let e: Error = e.into();
                    self.report.fail(&id, "record-history", &e);
                }
                Outcome::Failed { error, restored } => {
                    let e: Error = error.into();
                    let what = if restored {
                        action.to_owned()
                    } else {
                        format!("{action} (history tag not restored)")
                    };
                    self.report.fail(&id, &what, &e);
                }
            }
        }
    }

    /// Logs the summary, each failure, and each instance a human must look at (error level).
    pub fn log(&self) {
        for s in &self.report.skipped {
            if s.action == "cap-reached" || s.action == "history-unreadable" {
                tracing::error!(instance = %s.target, code = %s.action, reason = %s.reason, "restart withheld: a human must look");
            }
        }
        self.report.log();
    }

    pub fn metrics_into(&self, metrics: &mut Metrics) {
        self.report.count_into(metrics);
        metrics.count("RestartsRequested", self.report.done.len() as u64);
        metrics.count("RestartsSkipped", self.instance_skips() as u64);
        metrics.count("RestartCapReached", self.cap_reached as u64);
    }

    /// Skipped instances (an ignored alarm skips none).
    fn instance_skips(&self) -> usize {
        self.report
            .skipped
            .iter()
            .filter(|s| s.action != "ignored")
            .count()
    }
}
