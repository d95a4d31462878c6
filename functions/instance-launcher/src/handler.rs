//! One HTTP request: authenticate, route, validate, check quota and earlier launches, launch,
//! answer (HTML for the form, JSON for scripts). Every refusal launches nothing.

use std::time::Duration;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse as HttpResponse;
use aws_lambda_events::http::{HeaderValue, header};
use jiff::Timestamp;
use serde_json::Value;

use fleetkeeper::Error;
use fleetkeeper::http::{Denied, Request, Response, SecretSource, authenticate};
use fleetkeeper::telemetry::Metrics;

use crate::apply;
use crate::config::Config;
use crate::page;
use crate::plan::{Decision, Launch, decide, plan};
use crate::ports::{Ec2, Instances};
use crate::report::{self, Outcome, fields_json};
use crate::request::{LaunchRequest, Rejection, parse_form, parse_json};

pub const RESERVE: Duration = Duration::from_secs(3);

pub struct Launcher {
    pub ec2: Ec2,
    pub secret: Option<SecretSource>,
    pub region: String,
}

pub async fn handle(
    app: &Launcher,
    config: &Config,
    payload: Value,
    now: Timestamp,
    metrics: &mut Metrics,
) -> Result<HttpResponse, Error> {
    let req = Request::from_event(payload)?;
    if let Err(denied) = authenticate(&req, &config.auth, app.secret.as_ref()).await {
        denied.log(&req);
        let metric = match denied {
            Denied::SecretUnreadable(_) => "Failures",
            Denied::Missing | Denied::Wrong => "LaunchRejected",
        };
        metrics.count(metric, 1);
        return Ok(Response::error(
            Some(&req),
            denied.status(),
            denied.message(),
        ));
    }
    if req.path != "/" && !req.path.is_empty() {
        return Ok(Response::error(Some(&req), 404, "not found"));
    }
    match req.method.as_str() {
        "GET" | "HEAD" => Ok(Response::html(
            200,
            page::form(config, &req.request_id, None, &[], None),
        )),
        "POST" => {
            let response = post(app, config, &req, now, metrics).await;
            if response.status_code >= 500 {
                // EC2 refused or failed: the Failures alarm pages someone.
                metrics.count("Failures", 1);
            } else if response.status_code >= 400 {
                metrics.count("LaunchRejected", 1);
            }
            Ok(response)
        }
        _ => {
            let mut r = Response::error(Some(&req), 405, "use GET for the form and POST to launch");
            r.headers
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
            Ok(r)
        }
    }
}

async fn post(
    app: &Launcher,
    config: &Config,
    req: &Request,
    now: Timestamp,
    metrics: &mut Metrics,
) -> HttpResponse {
    let json = req.wants_json();
    if req.body.len() > config.max_body {
        return Response::error(
            Some(req),
            413,
            &format!("the body is over {} bytes", config.max_body),
        );
    }
    let parsed = match req.content_type().as_str() {
        "application/x-www-form-urlencoded" => parse_form(&req.body, config),
        "application/json" => parse_json(&req.body, config),
        other => {
            return Response::error(
                Some(req),
                415,
                &format!(
                    "content type {:?} is not accepted: send application/x-www-form-urlencoded or application/json",
                    other
                ),
            );
        }
    };
    let launch_req = match parsed {
        Ok(r) => r,
        Err(Rejection::Body(message)) => return Response::error(Some(req), 400, &message),
        Err(Rejection::Fields(errors, raw)) => {
            tracing::info!(fields = ?errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), "launch refused: invalid fields");
            return if json {
                Response::json(400, &fields_json(&errors))
            } else {
                // Keep the nonce: the corrected form is the same form.
                let nonce = raw
                    .get("nonce")
                    .cloned()
                    .unwrap_or_else(|| req.request_id.clone());
                Response::html(400, page::form(config, &nonce, Some(&raw), &errors, None))
            };
        }
    };
    let launch = plan(
        &launch_req,
        config,
        &req.request_id,
        req.iam_caller.as_deref(),
        now,
    );
    let outcome = launch_or_find(&app.ec2, config, &launch_req, &launch).await;
    match &outcome {
        Outcome::Earlier(l) => {
            tracing::info!(instance = %l.id, "repeated submit: answering with the earlier launch");
        }
        Outcome::Launched(l) => {
            metrics.count("LaunchRequested", 1);
            tracing::info!(instance = %l.id, instance_type = %launch.instance_type, owner = %launch_req.owner, "launched");
        }
        _ => {}
    }
    let (report, status) = report::of(config.mode, &app.region, &launch_req, &launch, outcome);
    report.log();
    report::answer(req, config, &launch_req, &report, status)
}

/// Observe (an earlier launch of this form, the owner's instances), decide, apply.
async fn launch_or_find<I: Instances>(
    ec2: &I,
    config: &Config,
    r: &LaunchRequest,
    launch: &Launch,
) -> Outcome {
    // EC2 honours ClientToken too; the tag also covers a repeat after EC2 has forgotten it.
    let earlier = match ec2.launched_with(&launch.token).await {
        Ok(earlier) => earlier,
        Err(e) => return apply::failed(e),
    };
    let owned = match earlier {
        Some(_) => 0,
        None => match ec2.owned(&r.owner).await {
            Ok(owned) => owned.len(),
            Err(e) => return apply::failed(e),
        },
    };
    let decision = decide(earlier, owned, &r.owner, config);
    if let Decision::Refuse(..) = decision {
        tracing::info!(owner = %r.owner, running = owned, "launch refused: owner quota");
    }
    apply::apply(ec2, decision, launch, config).await
}
