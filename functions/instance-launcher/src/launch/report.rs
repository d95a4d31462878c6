//! What the function answers to a launch: the shared report (the launch planned, then done,
//! skipped as a repeat, refused or failed) with the instance as its own fields, as JSON for
//! scripts or as the result page (or the form again) for a browser; field errors; the values
//! shown again on a refused form. (Its EMF metrics are counted in the handler, per request.)

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse as HttpResponse;
use serde::Serialize;
use serde_json::{Value, json};

use fleetkeeper::http::{Refusal, Request, Response};
use fleetkeeper::report::{Entry, Failure, Report};
use fleetkeeper::{AwsError, Mode};

use crate::config::Config;
use crate::launch::page;
use crate::launch::plan::console_url;
use crate::launch::request::LaunchRequest;
use crate::model::{FUNCTION, Launch, Raw};
use crate::ports::Launched;

const LAUNCH: &str = "launch";

pub type LaunchReport = Report<LaunchFields>;

/// instance-launcher's own fields: the instance, as a script needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LaunchFields {
    /// None in a dry run and when nothing was launched.
    pub instance_id: Option<String>,
    pub state: Option<String>,
    pub instance_type: String,
    /// RFC 3339 UTC, as tagged.
    pub expires_at: String,
    pub console_url: Option<String>,
    /// This form had already launched the instance: nothing new was launched.
    pub repeated: bool,
    pub tags: serde_json::Map<String, Value>,
    /// Why nothing was launched (quota, EC2), for scripts that read only this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How a valid launch request ended.
#[derive(Debug)]
pub enum Outcome {
    Launched(Launched),
    /// The same form launched this instance before.
    Earlier(Launched),
    /// EC2 accepted the request with DryRun: nothing launched.
    DryRun,
    /// Refused by a rule (the owner's quota).
    Refused(Refusal),
    /// EC2 refused or failed: what the caller is told, and the AWS error.
    Failed(Refusal, AwsError),
}

/// The report of one launch request, and the HTTP status it is answered with.
pub fn of(
    mode: Mode,
    region: &str,
    r: &LaunchRequest,
    launch: &Launch,
    outcome: Outcome,
) -> (LaunchReport, u16) {
    let tags = launch
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    let mut report = Report::with_fields(
        FUNCTION,
        mode,
        LaunchFields {
            instance_id: None,
            state: None,
            instance_type: launch.instance_type.clone(),
            expires_at: launch.expires_at.to_string(),
            console_url: None,
            repeated: false,
            tags,
            error: None,
        },
    );
    let reason = format!(
        "{} ({}) named {:?} for {}, until {}",
        r.size, launch.instance_type, r.name, r.owner, launch.expires_at
    );
    let planned = Entry::new(&launch.token, LAUNCH, &reason);
    let found = |report: &mut LaunchReport, l: Launched| {
        report.fields.console_url = Some(console_url(region, &l.id));
        report.fields.instance_id = Some(l.id);
        report.fields.state = Some(l.state);
    };
    let status = match outcome {
        Outcome::Launched(l) => {
            report.planned.push(planned);
            let detail = json!({"launch_token": launch.token});
            report.done(Entry::new(&l.id, LAUNCH, reason).with_detail(detail));
            found(&mut report, l);
            201
        }
        Outcome::Earlier(l) => {
            let why = format!("this form was already submitted: {} is its launch", l.id);
            report.skip(Entry::new(&l.id, "none", why));
            report.fields.repeated = true;
            found(&mut report, l);
            200
        }
        Outcome::DryRun => {
            report.planned.push(planned);
            200
        }
        Outcome::Refused(refusal) => {
            report.planned.push(planned);
            report.refused = Some(refusal.message.clone());
            report.fields.error = Some(refusal.message);
            refusal.status
        }
        Outcome::Failed(refusal, e) => {
            report.planned.push(planned);
            report.fail(Failure::aws(&launch.token, LAUNCH, &e));
            report.fields.error = Some(refusal.message);
            refusal.status
        }
    };
    (report, status)
}

/// The answer to a launch request: the report as JSON for scripts; for a browser the result
/// page, or the form again with what was entered and why nothing was launched.
pub fn answer(
    req: &Request,
    config: &Config,
    r: &LaunchRequest,
    report: &LaunchReport,
    status: u16,
) -> HttpResponse {
    if req.wants_json() {
        return Response::json(status, &json!(report));
    }
    let f = &report.fields;
    if let Some(message) = &f.error {
        let raw = raw_of(r);
        let nonce = r.nonce.as_deref().unwrap_or(&req.request_id);
        let form = page::form(config, nonce, Some(&raw), &[], Some(message));
        return Response::html(status, form);
    }
    let console = f.console_url.clone().unwrap_or_default();
    Response::html(
        status,
        page::result(&page::Outcome {
            id: f.instance_id.as_deref().unwrap_or_default(),
            state: f.state.as_deref().unwrap_or_default(),
            name: &r.name,
            owner: &r.owner,
            instance_type: &f.instance_type,
            expires_at: &f.expires_at,
            console_url: &console,
            repeated: f.repeated,
            dry_run: report.mode.is_dry_run(),
        }),
    )
}

/// The values to show again when a valid request was refused as a whole (quota, EC2).
fn raw_of(r: &LaunchRequest) -> Raw {
    let mut raw = Raw::new();
    raw.insert("size".into(), r.size.clone());
    raw.insert("name".into(), r.name.clone());
    raw.insert("owner".into(), r.owner.clone());
    raw.insert("purpose".into(), r.purpose.clone());
    raw.insert("hours".into(), r.hours.to_string());
    if r.nightly_stop {
        raw.insert("nightly_stop".into(), "on".into());
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetkeeper::report::Status;
    use jiff::Timestamp;

    fn request() -> (LaunchRequest, Launch) {
        let r = LaunchRequest {
            size: "small".into(),
            instance_type: "t3.micro".into(),
            name: "build-box".into(),
            owner: "jane@example.com".into(),
            purpose: "tests".into(),
            hours: 4,
            nightly_stop: false,
            nonce: Some("n-1".into()),
        };
        let now: Timestamp = "2026-11-21T09:00:00Z".parse().unwrap();
        let config = crate::config::test_config();
        let who = crate::model::Who::Owner(r.owner.clone());
        let launch = crate::launch::plan::plan(&r, &config, "req-1", &who, now);
        (r, launch)
    }

    fn launched() -> Launched {
        Launched {
            id: "i-0abc".into(),
            state: "pending".into(),
        }
    }

    #[test]
    fn each_outcome_has_its_status_and_entries() {
        let (r, l) = request();
        let (rep, code) = of(
            Mode::Live,
            "eu-west-1",
            &r,
            &l,
            Outcome::Launched(launched()),
        );
        assert_eq!((code, rep.status()), (201, Status::Ok));
        assert_eq!(rep.done[0].target, "i-0abc");
        assert!(rep.done[0].reason.contains("for jane@example.com"));
        assert!(rep.fields.console_url.as_ref().unwrap().contains("i-0abc"));

        let (rep, code) = of(
            Mode::Live,
            "eu-west-1",
            &r,
            &l,
            Outcome::Earlier(launched()),
        );
        assert_eq!((code, rep.status()), (200, Status::Ok));
        assert!(rep.fields.repeated && rep.planned.is_empty() && rep.done.is_empty());
        assert_eq!(rep.skipped[0].target, "i-0abc");

        let (rep, code) = of(Mode::DryRun, "eu-west-1", &r, &l, Outcome::DryRun);
        assert_eq!((code, rep.status()), (200, Status::DryRun));
        assert_eq!(rep.fields.instance_id, None);
        assert_eq!(rep.planned[0].target, l.token);

        let quota = Outcome::Refused(Refusal::new(409, "over MAX_PER_OWNER"));
        let (rep, code) = of(Mode::Live, "eu-west-1", &r, &l, quota);
        assert_eq!((code, rep.status()), (409, Status::Refused));
        let json = serde_json::to_value(&rep).unwrap();
        assert_eq!(json["error"], "over MAX_PER_OWNER");
        assert_eq!(json["refused"], "over MAX_PER_OWNER");

        let e = AwsError::service("ec2:RunInstances", "InsufficientInstanceCapacity", "none");
        let (rep, code) = of(
            Mode::Live,
            "eu-west-1",
            &r,
            &l,
            Outcome::Failed(Refusal::new(502, "EC2 refused"), e),
        );
        assert_eq!((code, rep.status()), (502, Status::Failed));
        let json = serde_json::to_value(&rep).unwrap();
        assert_eq!(json["failed"][0]["code"], "InsufficientInstanceCapacity");
        assert_eq!(json["function"], "instance-launcher");
        assert_eq!(json["tags"]["fleetkeeper:owner"], "jane@example.com");
    }
}
