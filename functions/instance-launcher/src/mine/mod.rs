//! "Your instances" (`/mine`): GET lists the caller's instances and their leases; POST
//! extends, stops or terminates one of them. Only an instance that is the caller's and whose
//! lease seal verifies is acted on; every refusal changes nothing.
//!
//! request (pure) -> observe ([`crate::ports`]: the instance) -> plan (pure: the [`plan::Step`]
//! it means) -> apply -> report, and the list again with the result on top.

pub mod apply;
pub mod page;
pub mod plan;
pub mod report;
pub mod request;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse as HttpResponse;
use jiff::Timestamp;

use fleetkeeper::http::{Request, Response};
use fleetkeeper::telemetry::Metrics;

use crate::config::Config;
use crate::model::{FieldError, Rejection, Who};
use crate::ports::{App, Claims, Instances};
use crate::web::{body_of, fields_json, method_not_allowed, query_value, who};
use plan::Step;
use request::ActionRequest;

/// `/mine`: GET lists the caller's instances, POST carries out one step on one of them.
pub async fn route<I: Instances + Sync, C: Claims + Sync>(
    app: &App<I, C>,
    config: &Config,
    req: &Request,
    now: Timestamp,
    metrics: &mut Metrics,
) -> HttpResponse {
    let response = match req.method.as_str() {
        "GET" | "HEAD" => {
            let owner = query_value(&req.query, "owner");
            match who(config, req, owner.as_deref()) {
                Ok(who) => listed(app, config, req, &who, now, None, 200).await,
                // No owner yet (shared-secret mode): the page asks for one.
                Err(_) if owner.is_none() && !req.wants_json() => {
                    Response::html(200, page::mine(config, None, &[], None, None))
                }
                Err(e) => refused_owner(config, req, owner.as_deref(), e),
            }
        }
        "POST" => mine_post(app, config, req, now, metrics).await,
        _ => method_not_allowed(req, "use GET to list and POST to act"),
    };
    if response.status_code >= 500 {
        metrics.count("Failures", 1);
    }
    response
}

fn refused_owner(
    config: &Config,
    req: &Request,
    given: Option<&str>,
    e: FieldError,
) -> HttpResponse {
    if req.wants_json() {
        return Response::json(400, &fields_json(&[e], "nothing was listed or changed"));
    }
    let page = page::mine(
        config,
        None,
        &[],
        None,
        Some((given.unwrap_or(""), &e.message)),
    );
    Response::html(400, page)
}

/// The list (JSON or the page), with the result of a step on top.
async fn listed<I: Instances + Sync, C: Claims + Sync>(
    app: &App<I, C>,
    config: &Config,
    req: &Request,
    who: &Who,
    now: Timestamp,
    banner: Option<(&str, bool)>,
    status: u16,
) -> HttpResponse {
    let found = match app.ec2.mine(who).await {
        Ok(found) => app.sealed(found).await,
        Err(e) => Err(e),
    };
    let leases = match found {
        Ok(found) => plan::leases(&found, who, config, now),
        Err(e) => {
            tracing::warn!(error = %e, "listing the caller's instances failed");
            let message = format!(
                "EC2 refused to list your instances ({})",
                e.code().unwrap_or("no code")
            );
            return Response::error(Some(req), 502, &message);
        }
    };
    if req.wants_json() {
        return Response::json(status, &serde_json::json!({ "instances": leases }));
    }
    Response::html(status, page::mine(config, Some(who), &leases, banner, None))
}

async fn mine_post<I: Instances + Sync, C: Claims + Sync>(
    app: &App<I, C>,
    config: &Config,
    req: &Request,
    now: Timestamp,
    metrics: &mut Metrics,
) -> HttpResponse {
    let parsed = match body_of(
        req,
        config,
        request::parse_action_form,
        request::parse_action_json,
    ) {
        Ok(parsed) => parsed,
        Err(answer) => return *answer,
    };
    let asked: ActionRequest = match parsed {
        Ok(r) => r,
        Err(Rejection::Body(message)) => return Response::error(Some(req), 400, &message),
        Err(Rejection::Fields(errors, raw)) => {
            return refused_fields(
                app,
                config,
                req,
                &errors,
                raw.get("owner").map(String::as_str),
                now,
            )
            .await;
        }
    };
    let who = match who(config, req, asked.owner.as_deref()) {
        Ok(who) => who,
        Err(e) => return refused_owner(config, req, asked.owner.as_deref(), e),
    };
    let found = match app.ec2.find(&asked.instance_id).await {
        // Not sealed as ours: as good as not found (it is nobody's to act on here).
        Ok(found) => match app.sealed(found.into_iter().collect()).await {
            Ok(mut ours) => ours.pop(),
            Err(e) => {
                tracing::warn!(error = %e, "reading the seal key failed");
                return Response::error(
                    Some(req),
                    502,
                    &format!(
                        "the seal key cannot be read ({}): nothing was changed",
                        e.code().unwrap_or("no code")
                    ),
                );
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "reading the instance failed");
            let message = format!(
                "EC2 refused to read {} ({})",
                asked.instance_id,
                e.code().unwrap_or("no code")
            );
            return Response::error(Some(req), 502, &message);
        }
    };
    let step = plan::decide(found.as_ref(), &who, &asked.action, config, now);
    let id = &asked.instance_id;
    match &step {
        Step::NotFound => {
            return Response::error(Some(req), 404, &format!("you have no instance {id}"));
        }
        Step::Invalid(e) => {
            return refused_fields(
                app,
                config,
                req,
                std::slice::from_ref(e),
                asked.owner.as_deref(),
                now,
            )
            .await;
        }
        Step::Conflict(message) => return Response::error(Some(req), 409, message),
        Step::Confirm { volumes } if req.wants_json() => {
            let e = FieldError {
                field: "confirm".into(),
                message: format!(
                    "send \"confirm\": true to terminate {id}; deleted with it: {}",
                    if volumes.is_empty() {
                        "no volume".to_owned()
                    } else {
                        volumes.join(", ")
                    }
                ),
            };
            return Response::json(400, &fields_json(&[e], "nothing was changed"));
        }
        Step::Confirm { volumes } => {
            return Response::html(200, page::confirm(&who, id, volumes));
        }
        _ => {}
    }
    let at = Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string();
    let state = found.as_ref().map_or("", |i| i.state.as_str());
    let tags = found.as_ref().map(|i| i.tags.clone()).unwrap_or_default();
    let result = match app.keys.ring(&Default::default()).await {
        Ok(ring) => apply::apply_step(&app.ec2, id, &step, config.mode, &at, &tags, &ring).await,
        Err(e) => Some(Err(e)),
    };
    if matches!(result, Some(Ok(()))) {
        let metric = match step {
            Step::Extend { .. } => "LeaseExtended",
            Step::Stop => "StoppedByOwner",
            _ => "TerminatedByOwner",
        };
        metrics.count(metric, 1);
    }
    let (report, status) = report::of(config.mode, &asked, state, &step, result, &at);
    report.log();
    if req.wants_json() {
        return Response::json(status, &serde_json::json!(report));
    }
    let f = &report.fields;
    listed(
        app,
        config,
        req,
        &who,
        now,
        Some((&f.message, status >= 400)),
        status,
    )
    .await
}

/// 400 naming the fields: JSON, or the list again with the messages on top.
async fn refused_fields<I: Instances + Sync, C: Claims + Sync>(
    app: &App<I, C>,
    config: &Config,
    req: &Request,
    errors: &[FieldError],
    owner: Option<&str>,
    now: Timestamp,
) -> HttpResponse {
    if req.wants_json() {
        return Response::json(400, &fields_json(errors, "nothing was changed"));
    }
    let message: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect();
    let message = format!("Nothing was changed. {}", message.join("; "));
    match who(config, req, owner) {
        Ok(who) => listed(app, config, req, &who, now, Some((&message, true)), 400).await,
        Err(_) => Response::html(
            400,
            page::mine(config, None, &[], Some((&message, true)), None),
        ),
    }
}
