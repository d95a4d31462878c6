//! What the "your instances" page answers to an extend, stop or terminate: the shared report
//! (the step planned, then done, skipped or failed) with the instance as its own fields, as
//! JSON for scripts or as the page again with a banner for a browser.

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse as HttpResponse;
use serde::Serialize;
use serde_json::json;

use fleetkeeper::http::{Request, Response};
use fleetkeeper::report::{Entry, Failure, Report};
use fleetkeeper::{AwsError, Mode};

use crate::mine::plan::Step;
use crate::mine::request::ActionRequest;
use crate::model::FUNCTION;

pub type ActionReport = Report<ActionFields>;

/// The instance after the step, as a script needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionFields {
    pub instance_id: String,
    /// extend, stop or terminate.
    pub action: String,
    pub state: String,
    /// The new expiry (extend).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Extensions used so far (extend).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extensions: Option<u32>,
    /// When it was terminated from this page (terminate, and every repeat of it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminated_at: Option<String>,
    /// Nothing was changed: it already was so (a repeated terminate, a second stop).
    pub repeated: bool,
    /// What the browser shows.
    pub message: String,
}

/// The report of a step that was carried out (or would be, in a dry run), and its status.
/// `result` is None when nothing was called.
pub fn of(
    mode: Mode,
    req: &ActionRequest,
    state: &str,
    step: &Step,
    result: Option<Result<(), AwsError>>,
    at: &str,
) -> (ActionReport, u16) {
    let id = &req.instance_id;
    let action = req.action.name();
    let mut fields = ActionFields {
        instance_id: id.clone(),
        action: action.to_owned(),
        state: state.to_owned(),
        expires_at: None,
        extensions: None,
        terminated_at: None,
        repeated: false,
        message: String::new(),
    };
    let (reason, after) = match step {
        Step::Extend {
            expires_at,
            extensions,
            start,
        } => {
            fields.expires_at = Some(expires_at.to_string());
            fields.extensions = Some(*extensions);
            let reason = if *start {
                format!(
                    "the owner extended the lease to {expires_at}; started again (its lease had ended)"
                )
            } else {
                format!("its owner extended the lease to {expires_at}")
            };
            (reason, if *start { "pending" } else { state })
        }
        Step::Stop => ("its owner asked to stop it".to_owned(), "stopping"),
        Step::Terminate => {
            fields.terminated_at = Some(at.to_owned());
            (
                "its owner asked to terminate it, and confirmed".to_owned(),
                "shutting-down",
            )
        }
        Step::Already { state, since } => {
            fields.repeated = true;
            fields.terminated_at = since.clone();
            let message = match since {
                Some(t) => format!("{id} was already terminated at {t}: it is {state}"),
                None => format!("{id} is already {state}"),
            };
            let mut report = Report::with_fields(FUNCTION, mode, fields);
            report.skip(Entry::new(id, "none", &message));
            report.fields.message = message;
            return (report, 200);
        }
        // The other steps are answered before anything is planned.
        other => (format!("{other:?}"), state),
    };
    let mut report = Report::with_fields(FUNCTION, mode, fields);
    report.planned.push(Entry::new(id, action, &reason));
    match result {
        None => {
            report.fields.message = format!("Dry run: would {action} {id}. Nothing was changed.");
            (report, 200)
        }
        Some(Ok(())) => {
            report.done(Entry::new(id, action, &reason));
            report.fields.state = after.to_owned();
            report.fields.message = match (step, &report.fields.expires_at) {
                (Step::Extend { start: true, .. }, Some(t)) => {
                    format!("{id} now expires at {t}, and is starting again.")
                }
                (Step::Extend { .. }, Some(t)) => format!("{id} now expires at {t}."),
                (Step::Stop, _) => format!("{id} is stopping."),
                _ => format!("{id} is being terminated."),
            };
            (report, 200)
        }
        Some(Err(e)) => {
            report.fail(Failure::aws(id, action, &e));
            report.fields.message = format!(
                "EC2 refused to {action} {id} ({}): {}",
                e.code().unwrap_or("no code"),
                if matches!(step, Step::Extend { .. }) {
                    "the lease may be partly changed, try again"
                } else {
                    "nothing was changed"
                }
            );
            (report, 502)
        }
    }
}

/// JSON for scripts; for a browser, `page` renders the list again with the message on top.
pub fn answer(
    req: &Request,
    report: &ActionReport,
    status: u16,
    page: impl FnOnce(&str, bool) -> String,
) -> HttpResponse {
    if req.wants_json() {
        return Response::json(status, &json!(report));
    }
    Response::html(status, page(&report.fields.message, status >= 400))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mine::request::Action;
    use fleetkeeper::report::Status;

    fn req(action: Action) -> ActionRequest {
        ActionRequest {
            instance_id: "i-0123abcd".into(),
            action,
            owner: None,
        }
    }

    const AT: &str = "2026-11-28T12:00:00Z";

    #[test]
    fn each_step_has_its_status_entries_and_fields() {
        let extend = Step::Extend {
            expires_at: "2026-11-29T12:00:00Z".parse().unwrap(),
            extensions: 2,
            start: true,
        };
        let r = req(Action::Extend { hours: 24 });
        let (rep, code) = of(Mode::Live, &r, "stopped", &extend, Some(Ok(())), AT);
        assert_eq!((code, rep.status()), (200, Status::Ok));
        assert_eq!(rep.fields.state, "pending");
        assert_eq!(rep.fields.extensions, Some(2));
        assert!(
            rep.done[0].reason.contains("started again"),
            "{}",
            rep.done[0].reason
        );

        let (rep, code) = of(Mode::DryRun, &r, "stopped", &extend, None, AT);
        assert_eq!((code, rep.status()), (200, Status::DryRun));
        assert!(rep.done.is_empty() && rep.fields.message.contains("Nothing was changed"));

        let t = req(Action::Terminate { confirmed: true });
        let (first, _) = of(
            Mode::Live,
            &t,
            "running",
            &Step::Terminate,
            Some(Ok(())),
            AT,
        );
        let again = Step::Already {
            state: "terminated".into(),
            since: Some(AT.into()),
        };
        let (second, code) = of(Mode::Live, &t, "terminated", &again, None, "later");
        assert_eq!(code, 200);
        assert!(second.fields.repeated && second.done.is_empty());
        assert_eq!(second.fields.terminated_at, first.fields.terminated_at);

        let e = AwsError::service("ec2:StopInstances", "UnauthorizedOperation", "no");
        let (rep, code) = of(
            Mode::Live,
            &req(Action::Stop),
            "running",
            &Step::Stop,
            Some(Err(e)),
            AT,
        );
        assert_eq!((code, rep.status()), (502, Status::Failed));
        assert!(rep.fields.message.contains("UnauthorizedOperation"));
        assert_eq!(rep.fields.state, "running");
    }
}
