//! Reports: the JSON a function returns, listing what was planned, done, skipped and failed,
//! each with its reason. The same facts go to the log and to EMF metrics.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::plan::{Mode, Plan};
use crate::telemetry::Metrics;

/// One action or target in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub target: String,
    pub action: String,
    pub reason: String,
    /// Anything the caller wants to see: ids returned by AWS, before/after values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

/// An action that failed, with the AWS error code where there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub target: String,
    pub action: String,
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub retryable: bool,
}

/// Work left for the next run when the time budget ran out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remaining {
    pub count: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Everything planned was done (or there was nothing to do).
    Ok,
    /// A dry run: nothing was changed.
    DryRun,
    /// Some actions failed or were left for the next run.
    Partial,
    /// Every action failed.
    Failed,
    /// A safety rule refused the plan: nothing was changed.
    Refused,
}

impl Status {
    /// The one rule every report's status follows.
    pub fn of(mode: Mode, refused: bool, done: usize, failed: usize, remaining: usize) -> Status {
        if refused {
            Status::Refused
        } else if mode.is_dry_run() && failed == 0 {
            Status::DryRun
        } else if failed > 0 && done == 0 && remaining == 0 {
            Status::Failed
        } else if failed > 0 || remaining > 0 {
            Status::Partial
        } else {
            Status::Ok
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self).ok();
        f.write_str(s.as_ref().and_then(Value::as_str).unwrap_or("?"))
    }
}

/// Counts, for the summary line and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub planned: usize,
    pub done: usize,
    pub skipped: usize,
    pub failed: usize,
}

/// The result of one invocation. `status` and `counts` are derived from the lists whenever
/// they are read or serialized, so they can never disagree with them.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub function: String,
    pub mode: Mode,
    pub planned: Vec<Entry>,
    pub done: Vec<Entry>,
    pub skipped: Vec<Entry>,
    pub failed: Vec<Failure>,
    pub refused: Option<String>,
    pub remaining: Option<Remaining>,
}

/// The JSON shape of a report.
#[derive(Serialize)]
struct ReportJson<'a> {
    function: &'a str,
    mode: Mode,
    status: Status,
    counts: Counts,
    planned: &'a [Entry],
    done: &'a [Entry],
    skipped: &'a [Entry],
    failed: &'a [Failure],
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remaining: Option<&'a Remaining>,
}

impl Serialize for Report {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ReportJson {
            function: &self.function,
            mode: self.mode,
            status: self.status(),
            counts: self.counts(),
            planned: &self.planned,
            done: &self.done,
            skipped: &self.skipped,
            failed: &self.failed,
            refused: self.refused.as_deref(),
            remaining: self.remaining.as_ref(),
        }
        .serialize(serializer)
    }
}

impl Report {
    pub fn new(function: &str, mode: Mode) -> Self {
        Report {
            function: function.to_owned(),
            mode,
            planned: Vec::new(),
            done: Vec::new(),
            skipped: Vec::new(),
            failed: Vec::new(),
            refused: None,
            remaining: None,
        }
    }

    /// A report that starts from a plan: its actions as planned, its skips as skipped.
    pub fn from_plan<A: fmt::Display>(function: &str, mode: Mode, plan: &Plan<A>) -> Self {
        let mut report = Report::new(function, mode);
        for p in &plan.actions {
            report.planned.push(Entry {
                target: p.target.clone(),
                action: p.action.to_string(),
                reason: p.reason.clone(),
                detail: None,
            });
        }
        for s in &plan.skipped {
            report.skip(&s.target, "none", &s.reason);
        }
        report.refused = plan.refused.clone();
        report
    }

    pub fn counts(&self) -> Counts {
        Counts {
            planned: self.planned.len(),
            done: self.done.len(),
            skipped: self.skipped.len(),
            failed: self.failed.len(),
        }
    }

    pub fn status(&self) -> Status {
        Status::of(
            self.mode,
            self.refused.is_some(),
            self.done.len(),
            self.failed.len(),
            self.remaining.as_ref().map_or(0, |r| r.count),
        )
    }

    pub fn done(&mut self, target: &str, action: &str, reason: &str, detail: Option<Value>) {
        self.done.push(Entry {
            target: target.to_owned(),
            action: action.to_owned(),
            reason: reason.to_owned(),
            detail,
        });
    }

    pub fn skip(&mut self, target: &str, action: &str, reason: &str) {
        self.skipped.push(Entry {
            target: target.to_owned(),
            action: action.to_owned(),
            reason: reason.to_owned(),
            detail: None,
        });
    }

    pub fn fail(&mut self, target: &str, action: &str, error: &Error) {
        self.failed.push(Failure {
            target: target.to_owned(),
            action: action.to_owned(),
            error: error.to_string(),
            code: error.aws_code().map(str::to_owned),
            retryable: error.is_retryable(),
        });
    }

    /// Records that `count` planned items were not started and are left for the next run.
    pub fn leave_for_next_run(&mut self, count: usize, reason: &str) {
        if count > 0 {
            self.remaining = Some(Remaining {
                count,
                reason: reason.to_owned(),
            });
        }
    }

    /// Logs the summary (info), each failure (warn) and a refusal (error: a human must look).
    pub fn log(&self) {
        for f in &self.failed {
            tracing::warn!(target_id = %f.target, action = %f.action, code = f.code.as_deref(), retryable = f.retryable, error = %f.error, "action failed");
        }
        if let Some(why) = &self.refused {
            tracing::error!(reason = %why, "plan refused");
        }
        let counts = self.counts();
        tracing::info!(
            function = %self.function,
            status = %self.status(),
            planned = counts.planned,
            done = counts.done,
            skipped = counts.skipped,
            failed = counts.failed,
            remaining = self.remaining.as_ref().map(|r| r.count),
            "run finished"
        );
    }

    /// Adds the generic counters every function reports.
    pub fn count_into(&self, metrics: &mut Metrics) {
        let counts = self.counts();
        metrics.count("ActionsPlanned", counts.planned as u64);
        metrics.count("ActionsDone", counts.done as u64);
        metrics.count("ActionsSkipped", counts.skipped as u64);
        metrics.count("Failures", counts.failed as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AwsError;

    #[derive(Debug)]
    struct Stop;
    impl fmt::Display for Stop {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("stop")
        }
    }

    fn plan() -> Plan<Stop> {
        let mut plan = Plan::new();
        plan.act("i-1", Stop, "tagged office-hours");
        plan.act("i-2", Stop, "tagged office-hours");
        plan.skip("i-3", "member of an Auto Scaling group");
        plan
    }

    #[test]
    fn from_plan_carries_reasons() {
        let r = Report::from_plan("nightly-stopper", Mode::Live, &plan());
        assert_eq!(r.counts().planned, 2);
        assert_eq!(r.planned[0].reason, "tagged office-hours");
        assert_eq!(r.skipped[0].reason, "member of an Auto Scaling group");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["status"], "ok");
        assert_eq!(json["mode"], "live");
    }

    #[test]
    fn status_follows_outcomes() {
        let mut r = Report::from_plan("f", Mode::Live, &plan());
        r.done("i-1", "stop", "tagged office-hours", None);
        let err: Error =
            AwsError::service("ec2:StopInstances", "IncorrectInstanceState", "pending").into();
        r.fail("i-2", "stop", &err);
        assert_eq!(r.status(), Status::Partial);
        assert_eq!(r.failed[0].code.as_deref(), Some("IncorrectInstanceState"));

        let mut all_failed = Report::from_plan("f", Mode::Live, &plan());
        all_failed.fail("i-1", "stop", &err);
        assert_eq!(all_failed.status(), Status::Failed);

        let mut left = Report::from_plan("f", Mode::Live, &plan());
        left.done("i-1", "stop", "x", None);
        left.leave_for_next_run(1, "time budget spent");
        assert_eq!(left.status(), Status::Partial);
        assert_eq!(left.remaining.unwrap().count, 1);

        assert_eq!(
            Report::from_plan("f", Mode::DryRun, &plan()).status(),
            Status::DryRun
        );
        let refused = Report::from_plan("f", Mode::Live, &plan().cap(1, "MAX_ACTIONS"));
        assert_eq!(refused.status(), Status::Refused);
        let json = serde_json::to_value(&refused).unwrap();
        assert_eq!(json["status"], "refused");
        assert_eq!(json["counts"]["planned"], 2);
    }

    #[test]
    fn generic_metrics_match_counts() {
        let mut r = Report::from_plan("f", Mode::Live, &plan());
        r.done("i-1", "stop", "x", None);
        let mut m = Metrics::for_function("f");
        r.count_into(&mut m);
        let line: Value = serde_json::from_str(&m.lines(jiff::Timestamp::UNIX_EPOCH)[0]).unwrap();
        assert_eq!(line["ActionsPlanned"], 2.0);
        assert_eq!(line["ActionsDone"], 1.0);
        assert_eq!(line["Failures"], 0.0);
    }
}
