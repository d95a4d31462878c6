//! The function's JSON result: the shared report (planned, done, skipped with a code and
//! reason, failed with the AWS error code) plus the alarm change it saw, the strategy and how
//! many instances reached the cap; and the EMF metrics.

use serde::Serialize;
use serde_json::json;

use fleetkeeper::alarm::AlarmChange;
use fleetkeeper::report::{Entry, Failure};
use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{AwsError, Mode, Report};

use crate::apply::Outcome;
use crate::config::Config;
use crate::plan::{AlarmPlan, Decision};

pub const FUNCTION: &str = "alarm-restarter";

/// alarm-restarter's own fields, beside the shared report's.
#[derive(Debug, Serialize)]
pub struct RestarterFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm: Option<AlarmChange>,
    pub strategy: &'static str,
    /// Instances not restarted because they reached MAX_RESTARTS: a human must look.
    pub cap_reached: usize,
    /// Skips a human must look at (cap reached, history unreadable): logged at error level.
    #[serde(skip)]
    needs_a_human: Vec<Entry>,
    /// Skipped instances (an ignored alarm skips none).
    #[serde(skip)]
    instance_skips: usize,
    /// A restart that failed with an error a later try may get past, its history tag put
    /// back: Lambda should retry the event.
    #[serde(skip)]
    pub retry: Option<(String, AwsError)>,
}

pub type RestarterReport = Report<RestarterFields>;

fn fields(config: &Config, alarm: Option<&AlarmChange>) -> RestarterFields {
    RestarterFields {
        alarm: alarm.cloned(),
        strategy: config.strategy.name(),
        cap_reached: 0,
        needs_a_human: Vec::new(),
        instance_skips: 0,
        retry: None,
    }
}

/// A payload this function has no business with.
pub fn ignored_event(config: &Config, what: &str, reason: &str) -> RestarterReport {
    let mut report = Report::with_fields(FUNCTION, config.mode, fields(config, None));
    report.skip(Entry::new(what, "ignored", reason));
    report
}

pub fn from_plan(change: &AlarmChange, plan: &AlarmPlan, config: &Config) -> RestarterReport {
    let mut report = Report::with_fields(FUNCTION, config.mode, fields(config, Some(change)));
    let region = change.region.as_deref();
    let place = |e: Entry| match region {
        Some(r) => e.in_region(r),
        None => e,
    };
    match plan {
        AlarmPlan::Ignored(why) => report.skip(Entry::new(&change.alarm_name, "ignored", why)),
        AlarmPlan::Instances(plans) => {
            for p in plans {
                match &p.decision {
                    Decision::Restart { count, .. } => {
                        report.planned.push(place(Entry::new(
                            &p.id,
                            config.strategy.name(),
                            format!(
                                "alarm {} entered ALARM; restart {count} of at most {} in {} hours",
                                change.alarm_name,
                                config.max_restarts,
                                config.window.as_hours()
                            ),
                        )));
                    }
                    Decision::Skip(s) => {
                        let entry = place(Entry::new(&p.id, s.code(), s.reason(config)));
                        if s.is_cap_reached() {
                            report.fields.cap_reached += 1;
                        }
                        if s.needs_a_human() {
                            report.fields.needs_a_human.push(entry.clone());
                        }
                        report.fields.instance_skips += 1;
                        report.skip(entry);
                    }
                }
            }
        }
    }
    report
}

/// What apply did, instance by instance.
pub fn record(report: &mut RestarterReport, outcomes: Vec<(String, Outcome)>) {
    let action = report.fields.strategy;
    for (id, outcome) in outcomes {
        let planned = report.planned.iter().find(|e| e.target == id).cloned();
        let region = planned.as_ref().and_then(|e| e.region.clone());
        let place = |f: Failure| match &region {
            Some(r) => f.in_region(r),
            None => f,
        };
        match outcome {
            Outcome::Requested(r) if report.mode == Mode::Live => {
                let reason = planned.map(|e| e.reason).unwrap_or_default();
                let mut done = Entry::new(&id, action, reason);
                done.region = region.clone();
                if let Some(v) = r.id {
                    done = done.with_detail(json!({ r.kind: v }));
                }
                report.done(done);
            }
            // A dry run's passed check stays in `planned`.
            Outcome::Requested(_) => {}
            Outcome::NotRecorded(e) => report.fail(place(Failure::aws(&id, "record-history", &e))),
            Outcome::Failed { error, restored } => {
                let what = if restored {
                    action.to_owned()
                } else {
                    format!("{action} (history tag not restored)")
                };
                report.fail(place(Failure::aws(&id, what, &error)));
                if restored && error.is_retryable() && report.fields.retry.is_none() {
                    report.fields.retry = Some((id, error));
                }
            }
        }
    }
}

/// Logs the summary, each failure, and each instance a human must look at (error level).
pub fn log(report: &RestarterReport) {
    for s in &report.fields.needs_a_human {
        tracing::error!(instance = %s.target, code = %s.action, reason = %s.reason, "restart withheld: a human must look");
    }
    report.log();
}

pub fn metrics_into(report: &RestarterReport, metrics: &mut Metrics) {
    report.count_into(metrics);
    metrics.count("RestartsRequested", report.done.len() as u64);
    metrics.count("RestartsSkipped", report.fields.instance_skips as u64);
    metrics.count("RestartCapReached", report.fields.cap_reached as u64);
}
