//! Reports: the JSON a function returns, listing what was planned, done, skipped and failed,
//! each with its reason. The same facts go to the log and to EMF metrics.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::applied::Applied;
use crate::error::{AwsError, Error};
use crate::plan::{Mode, Plan};
use crate::telemetry::Metrics;

/// Why planned work was left: the invocation's time budget ran out.
pub const BUDGET_SPENT: &str = "the time budget was spent; the next run goes on";

/// One action or target in a report: what, where, which action, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub target: String,
    /// Where the target lives: a region, or `account/region` across accounts. None where a
    /// function has one place (an S3 bucket, a hosted zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// What kind of resource the target is, where a function acts on several (`ec2`, `rds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub action: String,
    pub reason: String,
    /// Anything the caller wants to see: ids returned by AWS, before/after values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

impl Entry {
    pub fn new(
        target: impl Into<String>,
        action: impl fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Entry {
            target: target.into(),
            region: None,
            kind: None,
            action: action.to_string(),
            reason: reason.into(),
            detail: None,
        }
    }

    pub fn in_region(mut self, region: &str) -> Self {
        self.region = Some(region.to_owned());
        self
    }

    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }

    pub fn of_kind(mut self, kind: &str) -> Self {
        self.kind = Some(kind.to_owned());
        self
    }
}

/// An action that failed, with the AWS error code where there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// What kind of resource the target is, where a function acts on several (`ec2`, `rds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub action: String,
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub retryable: bool,
}

impl Failure {
    pub fn new(target: impl Into<String>, action: impl fmt::Display, error: &Error) -> Self {
        Failure {
            target: target.into(),
            region: None,
            kind: None,
            action: action.to_string(),
            error: error.to_string(),
            code: error.aws_code().map(str::to_owned),
            retryable: error.is_retryable(),
        }
    }

    /// A failure of an AWS call.
    pub fn aws(target: impl Into<String>, action: impl fmt::Display, error: &AwsError) -> Self {
        Failure::new(target, action, &Error::Aws(error.clone()))
    }

    pub fn in_region(mut self, region: &str) -> Self {
        self.region = Some(region.to_owned());
        self
    }

    pub fn of_kind(mut self, kind: &str) -> Self {
        self.kind = Some(kind.to_owned());
        self
    }
}

/// Work left for the next run (the time budget ran out, or a cap held it back).
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

/// The result of one invocation, the same contract for every function: `status` and `counts`
/// are derived from the lists whenever they are read or serialized, so they can never disagree
/// with them. `fields` are the function's own, serialized flat beside the shared ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Report<F = NoFields> {
    pub function: String,
    pub mode: Mode,
    pub planned: Vec<Entry>,
    pub done: Vec<Entry>,
    pub skipped: Vec<Entry>,
    pub failed: Vec<Failure>,
    pub refused: Option<String>,
    pub remaining: Option<Remaining>,
    pub fields: F,
}

/// For a function with no fields of its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NoFields {}

/// The JSON shape of a report.
#[derive(Serialize)]
struct ReportJson<'a, F> {
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
    #[serde(flatten)]
    fields: &'a F,
}

impl<F: Serialize> Serialize for Report<F> {
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
            fields: &self.fields,
        }
        .serialize(serializer)
    }
}

impl Report<NoFields> {
    pub fn new(function: &str, mode: Mode) -> Self {
        Report::with_fields(function, mode, NoFields {})
    }
}

impl<F> Report<F> {
    pub fn with_fields(function: &str, mode: Mode, fields: F) -> Self {
        Report {
            function: function.to_owned(),
            mode,
            planned: Vec::new(),
            done: Vec::new(),
            skipped: Vec::new(),
            failed: Vec::new(),
            refused: None,
            remaining: None,
            fields,
        }
    }

    /// Adds a plan: its actions as planned, its skips as skipped (action `none`), its refusal.
    /// `region` says where, for functions that act in several.
    pub fn add_plan<A: fmt::Display>(&mut self, region: Option<&str>, plan: &Plan<A>) {
        let place = |e: Entry| match region {
            Some(r) => e.in_region(r),
            None => e,
        };
        for p in &plan.actions {
            self.planned
                .push(place(Entry::new(&p.target, &p.action, &p.reason)));
        }
        for s in &plan.skipped {
            self.skipped
                .push(place(Entry::new(&s.target, "none", &s.reason)));
        }
        if self.refused.is_none() {
            self.refused = plan.refused.clone();
        }
    }

    /// Adds what a plan's apply did: each done action (with the plan's reason and AWS's
    /// detail), each failure, and what was left for the next run when time ran out. In a dry
    /// run nothing is done, so the plan alone says what would be.
    pub fn add_applied<A: fmt::Display>(
        &mut self,
        region: Option<&str>,
        plan: &Plan<A>,
        applied: &Applied<A>,
    ) {
        self.add_applied_with(region, applied, |_, t| plan.reason_of(t), BUDGET_SPENT);
    }

    /// As [`Report::add_applied`], for a function whose plan is not one `Plan`: `reason_of`
    /// gives each done action's reason, `left` why work was left for the next run.
    pub fn add_applied_with<A: fmt::Display>(
        &mut self,
        region: Option<&str>,
        applied: &Applied<A>,
        reason_of: impl Fn(&A, &str) -> String,
        left: &str,
    ) {
        let placed = |mut e: Entry| {
            e.region = region.map(str::to_owned);
            e
        };
        for d in &applied.done {
            let mut e = placed(Entry::new(
                &d.target,
                &d.action,
                reason_of(&d.action, &d.target),
            ));
            e.detail = d.detail.clone();
            self.done(e);
        }
        for s in &applied.skipped {
            self.skip(placed(Entry::new(&s.target, &s.action, &s.reason)));
        }
        for f in &applied.failed {
            let mut failure = Failure::aws(&f.target, &f.action, &f.error);
            failure.region = region.map(str::to_owned);
            self.fail(failure);
        }
        self.leave_for_next_run(applied.not_started.len(), left);
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

    pub fn done(&mut self, entry: Entry) {
        self.done.push(entry);
    }

    pub fn skip(&mut self, entry: Entry) {
        self.skipped.push(entry);
    }

    pub fn fail(&mut self, failure: Failure) {
        self.failed.push(failure);
    }

    /// A place (region, or account and region) whose resources could not be read: one failed
    /// entry for all of them, target `*`, and nothing there was planned or changed.
    pub fn place_unreadable(&mut self, place: &str, e: &AwsError) {
        self.fail(Failure::aws("*", "describe", e).in_region(place));
    }

    /// Records that `count` more planned items were not started and are left for the next
    /// run; the first reason given is kept.
    pub fn leave_for_next_run(&mut self, count: usize, reason: &str) {
        if count == 0 {
            return;
        }
        match &mut self.remaining {
            Some(r) => r.count += count,
            None => {
                self.remaining = Some(Remaining {
                    count,
                    reason: reason.to_owned(),
                })
            }
        }
    }

    pub fn remaining_count(&self) -> usize {
        self.remaining.as_ref().map_or(0, |r| r.count)
    }

    /// Logs the summary (info), each failure (warn) and a refusal (error: a human must look).
    pub fn log(&self) {
        for f in &self.failed {
            tracing::warn!(target_id = %f.target, region = f.region.as_deref(), action = %f.action, code = f.code.as_deref(), retryable = f.retryable, error = %f.error, "action failed");
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

/// The error to fail a whole invocation with when every place it had to read failed (so
/// Lambda's Errors metric and retries see it); None when at least one place was read.
pub fn all_failed<'a, T: 'a>(
    results: impl IntoIterator<Item = &'a Result<T, AwsError>>,
) -> Option<AwsError> {
    let mut first = None;
    for r in results {
        match r {
            Ok(_) => return None,
            Err(e) => {
                first.get_or_insert_with(|| e.clone());
            }
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn from_plan(mode: Mode, plan: &Plan<Stop>) -> Report {
        let mut r = Report::new("nightly-stopper", mode);
        r.add_plan(Some("us-east-1"), plan);
        r
    }

    #[test]
    fn a_plan_carries_its_reasons_and_region() {
        let r = from_plan(Mode::Live, &plan());
        assert_eq!(r.counts().planned, 2);
        assert_eq!(r.planned[0].reason, "tagged office-hours");
        assert_eq!(r.skipped[0].reason, "member of an Auto Scaling group");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["status"], "ok");
        assert_eq!(json["mode"], "live");
        assert_eq!(json["planned"][0]["region"], "us-east-1");
        assert_eq!(json["skipped"][0]["action"], "none");
    }

    #[test]
    fn own_fields_are_flat_beside_the_shared_ones() {
        #[derive(Serialize)]
        struct Own {
            matched: usize,
        }
        let mut r = Report::with_fields("f", Mode::Live, Own { matched: 3 });
        r.add_plan(None, &plan());
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["matched"], 3);
        assert_eq!(json["counts"]["planned"], 2);
        assert!(json["planned"][0].get("region").is_none());
        let plain = serde_json::to_value(Report::new("f", Mode::Live)).unwrap();
        assert_eq!(plain["status"], "ok");
    }

    #[test]
    fn status_follows_outcomes() {
        let mut r = from_plan(Mode::Live, &plan());
        r.done(Entry::new("i-1", "stop", "tagged office-hours"));
        let err: Error =
            AwsError::service("ec2:StopInstances", "IncorrectInstanceState", "pending").into();
        r.fail(Failure::new("i-2", "stop", &err).in_region("us-east-1"));
        assert_eq!(r.status(), Status::Partial);
        assert_eq!(r.failed[0].code.as_deref(), Some("IncorrectInstanceState"));

        let mut all_failed = from_plan(Mode::Live, &plan());
        all_failed.fail(Failure::new("i-1", "stop", &err));
        assert_eq!(all_failed.status(), Status::Failed);

        let mut left = from_plan(Mode::Live, &plan());
        left.done(Entry::new("i-1", "stop", "x"));
        left.leave_for_next_run(1, "time budget spent");
        left.leave_for_next_run(2, "another reason");
        assert_eq!(left.status(), Status::Partial);
        assert_eq!(left.remaining.as_ref().unwrap().count, 3);
        assert_eq!(left.remaining.unwrap().reason, "time budget spent");

        assert_eq!(from_plan(Mode::DryRun, &plan()).status(), Status::DryRun);
        let refused = from_plan(Mode::Live, &plan().cap(1, "MAX_ACTIONS"));
        assert_eq!(refused.status(), Status::Refused);
        let json = serde_json::to_value(&refused).unwrap();
        assert_eq!(json["status"], "refused");
        assert_eq!(json["counts"]["planned"], 2);
    }

    #[test]
    fn generic_metrics_match_counts() {
        let mut r = from_plan(Mode::Live, &plan());
        r.done(Entry::new("i-1", "stop", "x"));
        let mut m = Metrics::for_function("f");
        r.count_into(&mut m);
        let line: Value = serde_json::from_str(&m.lines(jiff::Timestamp::UNIX_EPOCH)[0]).unwrap();
        assert_eq!(line["ActionsPlanned"], 2.0);
        assert_eq!(line["ActionsDone"], 1.0);
        assert_eq!(line["Failures"], 0.0);
    }

    #[test]
    fn all_failed_only_when_every_place_failed() {
        let e = AwsError::service("ec2:DescribeInstances", "UnauthorizedOperation", "no");
        assert!(all_failed::<()>(&[]).is_none());
        assert!(all_failed(&[Err::<(), _>(e.clone()), Ok(())]).is_none());
        assert!(all_failed(&[Ok(()), Err(e.clone())]).is_none());
        assert_eq!(
            all_failed::<()>(&[Err(e.clone()), Err(e.clone())])
                .map(|e| e.code().map(str::to_owned)),
            Some(Some("UnauthorizedOperation".to_owned()))
        );
    }

    #[test]
    fn an_apply_result_is_what_the_report_says_was_done() {
        let mut plan = plan();
        plan.act("i-3", Stop, "idle");
        let mut applied = crate::Applied::default();
        applied.done("i-1", Stop, Some(serde_json::json!({"was": "running"})));
        applied.failed(
            "i-2",
            Stop,
            AwsError::service("ec2:StopInstances", "IncorrectInstanceState", "no"),
        );
        applied.not_started("i-3");
        let mut r = Report::new("f", Mode::Live);
        r.add_applied(Some("eu-west-1"), &plan, &applied);
        assert_eq!(r.done.len(), 1);
        assert_eq!(r.done[0].reason, plan.reason_of("i-1"));
        assert_eq!(r.done[0].region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            r.done[0].detail,
            Some(serde_json::json!({"was": "running"}))
        );
        assert_eq!(r.failed[0].code.as_deref(), Some("IncorrectInstanceState"));
        assert_eq!(r.remaining_count(), 1);
        assert_eq!(r.status(), Status::Partial);
    }
}
