//! Organisation mode: one invocation for one (account, region) of a Step Functions run.
//!
//! The state machine's map sends each function a [`TargetRequest`]: the target (account,
//! region, the member role to assume), the phase (`plan`, always a dry run, or `apply`), the
//! run's id and bucket, the round (a continuation of the same target), and the function's own
//! event. The function acts in that one place, writes its full report and a [`Summary`] to
//! `runs/<run>/<phase>/<account>-<region>-<round>.json` in the bucket, and returns the summary
//! only: small, so thousands of targets never reach Step Functions' payload limits. org-targets
//! adds the summaries up (the organisation cap, the run's summary).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::aws::Aws;
use crate::error::{AwsError, Error, aws_err, brief};
use crate::lambda::Invocation;
use crate::plan::Mode;
use crate::report::Report;

/// One (account, region) and the role that reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub account_id: String,
    pub region: String,
    pub role_arn: String,
}

impl Target {
    /// `account/region`, as reports name places across accounts.
    pub fn label(&self) -> String {
        format!("{}/{}", self.account_id, self.region)
    }
}

/// Twelve digits.
pub fn valid_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `us-east-1`, `ap-southeast-2`, `us-gov-west-1`: lowercase words and a number.
pub fn valid_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Every target in a dry run: what would be done, for the organisation cap.
    Plan,
    Apply,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Plan => "plan",
            Phase::Apply => "apply",
        }
    }
}

/// What the state machine sends for one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetRequest {
    pub target: Target,
    /// Can only make the run more careful than the function's DRY_RUN, never less.
    #[serde(default)]
    pub dry_run: bool,
    pub phase: Phase,
    /// The run's id: the key prefix of everything it writes.
    pub run: String,
    /// Where the run's manifest and reports live.
    pub bucket: String,
    /// 0, then 1, 2 ... when the target is invoked again because work remained.
    #[serde(default)]
    pub round: u32,
    /// The most rounds the run allows (the state machine's loop reads it).
    #[serde(default)]
    pub max_rounds: u32,
    /// The function's own event (`{"action": "evaluate", "time": ...}`).
    #[serde(default)]
    pub event: Value,
}

impl TargetRequest {
    /// A payload with a `target` is organisation mode; anything else is the function's own
    /// event (None). A `target` payload that does not read is an input error naming why.
    pub fn from_payload(payload: &Value) -> Result<Option<TargetRequest>, Error> {
        if payload.get("target").is_none() {
            return Ok(None);
        }
        let shown = brief(payload);
        let request: TargetRequest = serde_json::from_value(payload.clone()).map_err(|e| {
            Error::input(format!(
                "not a target request ({{\"target\": {{\"account_id\", \"region\", \"role_arn\"}}, \"phase\", \"run\", \"bucket\", ...}}): {e}; got {shown}"
            ))
        })?;
        let t = &request.target;
        if !valid_account_id(&t.account_id) {
            return Err(Error::input(format!(
                "target.account_id {:?} is not a 12-digit account id",
                t.account_id
            )));
        }
        if !valid_region(&t.region) {
            return Err(Error::input(format!(
                "target.region {:?} is not a region such as eu-west-1",
                t.region
            )));
        }
        if !t.role_arn.starts_with("arn:") || t.role_arn.split(':').nth(4) != Some(&t.account_id) {
            return Err(Error::input(format!(
                "target.role_arn {:?} is not a role in account {}",
                t.role_arn, t.account_id
            )));
        }
        if request.run.is_empty() || request.run.contains("..") || request.bucket.is_empty() {
            return Err(Error::input(
                "run and bucket must name where the run's reports go",
            ));
        }
        Ok(Some(request))
    }

    /// The function's mode for this invocation: a plan is always a dry run, and the event's
    /// `dry_run` can only add care to the configured mode.
    pub fn mode(&self, configured: Mode) -> Mode {
        if self.phase == Phase::Plan || self.dry_run {
            Mode::DryRun
        } else {
            configured
        }
    }

    /// Where this invocation's report goes.
    pub fn key(&self) -> String {
        report_key(&self.run, self.phase, &self.target, self.round)
    }
}

pub fn report_key(run: &str, phase: Phase, t: &Target, round: u32) -> String {
    format!(
        "runs/{run}/{}/{}-{}-{round}.json",
        phase.as_str(),
        t.account_id,
        t.region
    )
}

/// One target's result, as the map sees it and org-targets adds it up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub account_id: String,
    pub region: String,
    pub phase: Phase,
    pub round: u32,
    /// The report's status (ok, dry-run, partial, failed, refused), or failed when the target
    /// could not be reached at all.
    pub status: crate::report::Status,
    pub planned: usize,
    /// Planned actions by name (stop, start, delete-snapshot ...): what the cap counts.
    pub planned_by_action: BTreeMap<String, usize>,
    pub done: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Work left for another round (time budget spent, a backlog).
    pub remaining: usize,
    /// Why the target failed as a whole, naming its account and region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Time spent on this target inside the function: reaching it and the run.
    #[serde(default)]
    pub ms: u64,
}

impl Summary {
    pub fn of<F>(request: &TargetRequest, report: &Report<F>) -> Summary {
        let counts = report.counts();
        let mut by_action = BTreeMap::new();
        for e in &report.planned {
            *by_action.entry(e.action.clone()).or_insert(0) += 1;
        }
        Summary {
            account_id: request.target.account_id.clone(),
            region: request.target.region.clone(),
            phase: request.phase,
            round: request.round,
            status: report.status(),
            planned: counts.planned,
            planned_by_action: by_action,
            done: counts.done,
            skipped: counts.skipped,
            failed: counts.failed,
            remaining: report.remaining_count(),
            error: None,
            ms: 0,
        }
    }

    /// The target could not be reached or read at all.
    pub fn failed(request: &TargetRequest, error: &str) -> Summary {
        Summary {
            account_id: request.target.account_id.clone(),
            region: request.target.region.clone(),
            phase: request.phase,
            round: request.round,
            status: crate::report::Status::Failed,
            planned: 0,
            planned_by_action: BTreeMap::new(),
            done: 0,
            skipped: 0,
            failed: 1,
            remaining: 0,
            error: Some(format!(
                "account {} region {}: {error}",
                request.target.account_id, request.target.region
            )),
            ms: 0,
        }
    }
}

/// The function's answer: its report for its own events, the summary for a target.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Answer<R> {
    Report(R),
    Target(Summary),
}

/// What a function needs, built once at its cold start, to serve organisation targets: the
/// loader the member roles are assumed through, the S3 client the reports go through, and
/// the session name the member accounts' CloudTrail shows.
#[derive(Debug, Clone)]
pub struct Reach {
    pub aws: Aws,
    pub reports: aws_sdk_s3::Client,
    pub session: String,
}

impl Reach {
    pub fn new(aws: &Aws, function: &str) -> Reach {
        Reach {
            aws: aws.clone(),
            reports: aws.s3(),
            session: format!("fleetkeeper-{function}"),
        }
    }
}

/// One invocation of a function that also serves organisation targets: its own event goes to
/// `own`; a target request is served (see [`serve`]) with `target` given the request, the
/// reached configuration and the invocation's mode.
pub async fn route<R, F: Serialize>(
    reach: &Reach,
    inv: Invocation<'_>,
    configured: Mode,
    own: impl AsyncFnOnce(Invocation<'_>) -> Result<R, Error>,
    target: impl AsyncFnOnce(&TargetRequest, Aws, Mode, Invocation<'_>) -> Result<Report<F>, Error>,
) -> Result<Answer<R>, Error> {
    let Some(request) = TargetRequest::from_payload(&inv.payload)? else {
        return own(inv).await.map(Answer::Report);
    };
    let summary = serve(reach, &request, configured, async |reached, mode| {
        target(&request, reached, mode, inv).await
    })
    .await?;
    Ok(Answer::Target(summary))
}

/// Serves one target: reaches its account (the member role, assumed now), runs the function
/// there with `run` (given the reached configuration and this invocation's mode), writes the
/// report and summary to S3 and returns the summary. A target that cannot be reached, or whose
/// run fails as a whole, is a failed summary naming its account and region; only a summary
/// that cannot be written fails the invocation (the map then counts it).
pub async fn serve<F, Fut>(
    reach: &Reach,
    request: &TargetRequest,
    configured: Mode,
    run: impl FnOnce(Aws, Mode) -> Fut,
) -> Result<Summary, Error>
where
    F: Serialize,
    Fut: Future<Output = Result<Report<F>, Error>>,
{
    let started = std::time::Instant::now();
    let reached = reach
        .aws
        .assume_role_now(
            &request.target.role_arn,
            &reach.session,
            &request.target.region,
        )
        .await;
    let (mut summary, report) = match reached {
        Err(e) => (Summary::failed(request, &e.to_string()), None),
        Ok(reached) => match run(reached, request.mode(configured)).await {
            Ok(report) => (Summary::of(request, &report), Some(report)),
            Err(e) => (Summary::failed(request, &e.to_string()), None),
        },
    };
    summary.ms = started.elapsed().as_millis() as u64;
    if let Some(e) = &summary.error {
        tracing::warn!(target_account = %request.target.account_id, region = %request.target.region, error = %e, "target failed");
    }
    write(&reach.reports, request, &summary, report.as_ref()).await?;
    Ok(summary)
}

/// Writes the summary and the full report where org-targets reads them.
pub async fn write<R: Serialize>(
    s3: &aws_sdk_s3::Client,
    request: &TargetRequest,
    summary: &Summary,
    report: Option<&R>,
) -> Result<(), AwsError> {
    let body = serde_json::json!({ "summary": summary, "report": report });
    s3.put_object()
        .bucket(&request.bucket)
        .key(request.key())
        .content_type("application/json")
        .body(body.to_string().into_bytes().into())
        .send()
        .await
        .map_err(aws_err("s3:PutObject"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload() -> Value {
        json!({
            "target": {"account_id": "111111111111", "region": "eu-west-1",
                       "role_arn": "arn:aws:iam::111111111111:role/fleetkeeper-member"},
            "phase": "apply", "run": "nightly-stopper/2026-12-01T18-00-00Z", "bucket": "org-runs",
            "round": 1, "max_rounds": 3, "event": {"action": "evaluate"}
        })
    }

    #[test]
    fn reads_a_target_request_and_its_mode() {
        let r = TargetRequest::from_payload(&payload()).unwrap().unwrap();
        assert_eq!(r.target.label(), "111111111111/eu-west-1");
        assert_eq!(r.mode(Mode::Live), Mode::Live);
        assert_eq!(r.mode(Mode::DryRun), Mode::DryRun);
        assert_eq!(
            r.key(),
            "runs/nightly-stopper/2026-12-01T18-00-00Z/apply/111111111111-eu-west-1-1.json"
        );
        let mut p = payload();
        p["dry_run"] = true.into();
        let r = TargetRequest::from_payload(&p).unwrap().unwrap();
        assert_eq!(r.mode(Mode::Live), Mode::DryRun);
        let mut p = payload();
        p["phase"] = "plan".into();
        let r = TargetRequest::from_payload(&p).unwrap().unwrap();
        assert_eq!(r.mode(Mode::Live), Mode::DryRun);
        assert_eq!(
            TargetRequest::from_payload(&json!({"action": "evaluate"})).unwrap(),
            None
        );
    }

    #[test]
    fn bad_targets_are_input_errors_naming_the_field() {
        for (field, value, says) in [
            ("account_id", json!("1234"), "account_id"),
            ("region", json!("Mars"), "region"),
            (
                "role_arn",
                json!("arn:aws:iam::222222222222:role/x"),
                "role_arn",
            ),
        ] {
            let mut p = payload();
            p["target"][field] = value;
            let e = TargetRequest::from_payload(&p).unwrap_err().to_string();
            assert!(e.contains(says), "{field}: {e}");
        }
        let mut p = payload();
        p["phase"] = "destroy".into();
        assert!(TargetRequest::from_payload(&p).is_err());
        let mut p = payload();
        p["surprise"] = 1.into();
        assert!(TargetRequest::from_payload(&p).is_err());
    }

    #[test]
    fn regions() {
        for ok in [
            "us-east-1",
            "ap-southeast-2",
            "us-gov-west-1",
            "eu-central-2",
        ] {
            assert!(valid_region(ok), "{ok}");
        }
        for bad in ["", "us-east", "US-EAST-1", "us_east_1", "eu-west-x"] {
            assert!(!valid_region(bad), "{bad}");
        }
        assert!(crate::config::KNOWN_REGIONS.iter().all(|r| valid_region(r)));
    }

    #[test]
    fn a_summary_counts_planned_actions_and_names_a_failed_target() {
        let request = TargetRequest::from_payload(&payload()).unwrap().unwrap();
        let mut report = Report::new("snapshot-janitor", Mode::Live);
        for (t, a) in [
            ("snap-1", "delete-snapshot"),
            ("snap-2", "delete-snapshot"),
            ("vol-1", "create-snapshot"),
        ] {
            report.planned.push(crate::report::Entry::new(t, a, "r"));
        }
        report.done(crate::report::Entry::new("snap-1", "delete-snapshot", "r"));
        report.leave_for_next_run(1, "time budget spent");
        let s = Summary::of(&request, &report);
        assert_eq!(s.planned_by_action["delete-snapshot"], 2);
        assert_eq!((s.planned, s.done, s.remaining), (3, 1, 1));
        let f = Summary::failed(&request, "role cannot be assumed: AccessDenied");
        assert_eq!(f.status, crate::report::Status::Failed);
        assert!(
            f.error
                .unwrap()
                .starts_with("account 111111111111 region eu-west-1: ")
        );
    }
}
