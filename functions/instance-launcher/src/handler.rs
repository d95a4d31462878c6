//! One HTTP request: authenticate, route, validate, check quota and earlier launches, launch,
//! answer (HTML for the form, JSON for scripts). Every refusal launches nothing. `/mine` is
//! the caller's instances: list, extend, stop, terminate; every refusal changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse as HttpResponse;
use aws_lambda_events::http::{HeaderValue, header};
use jiff::Timestamp;
use serde_json::Value;

use fleetkeeper::ec2::{Instance, InstanceState};
use fleetkeeper::http::{
    Denied, Request, Response, SecretSource, authenticate, caller_identity, foreign_origin,
};
use fleetkeeper::seal::{Keys, lease_claims};
use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{AwsError, Error};

use fleetkeeper::http::AuthMode;

use crate::apply;
use crate::config::Config;
use crate::lease::{self, ActionRequest, Step, Who};
use crate::page;
use crate::plan::{Decision, Launch, TOKEN_TAG, decide, plan};
use crate::ports::{Ec2, Instances, S3Claims};
use crate::report::{self, Outcome, fields_json};
use crate::request::{FieldError, Rejection, parse_form, parse_json};

pub const RESERVE: Duration = Duration::from_secs(3);

pub struct App {
    pub ec2: Ec2,
    pub secret: Option<SecretSource>,
    pub region: String,
    /// The seal key: what it launches it seals, and "your instances" acts only on sealed ones.
    pub keys: Keys,
    /// Each caller's claim book: the quota's conditional writes.
    pub claims: S3Claims,
}

pub async fn run(
    app: &App,
    config: &Config,
    payload: Value,
    now: Timestamp,
    metrics: &mut Metrics,
) -> Result<HttpResponse, Error> {
    let mut req = Request::from_event(payload)?;
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
    // From here on the caller is who they are, not what they called their session: an
    // assumed role's session name is the caller's own choice (SESSION_ROLES excepted).
    if let Some(arn) = req.iam_caller.take() {
        match caller_identity(&arn, &config.session_roles) {
            Ok(identity) => req.iam_caller = Some(identity),
            Err(why) => {
                tracing::info!(caller = %arn, "refused: {why}");
                metrics.count("LaunchRejected", 1);
                return Ok(Response::error(Some(&req), 403, &why));
            }
        }
    }
    let mine = match req.path.as_str() {
        "" | "/" => false,
        "/mine" | "/mine/" => true,
        _ => return Ok(Response::error(Some(&req), 404, "not found")),
    };
    // A form posted from another origin through a route that adds the secret is not the
    // caller's (CSRF): a browser's POST is taken only from the form's own origin.
    let own = config
        .public_authority
        .as_deref()
        .or(req.header("host"))
        .unwrap_or_default();
    if req.method == "POST"
        && let Some(why) = foreign_origin(&req, own)
    {
        metrics.count("LaunchRejected", 1);
        return Ok(Response::error(Some(&req), 403, &why));
    }
    if mine {
        return Ok(mine_route(app, config, &req, now, metrics).await);
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

/// The body of a POST as its content type says, or the error answer.
fn body_of<T>(
    req: &Request,
    config: &Config,
    form: impl FnOnce(&[u8], &Config) -> Result<T, Rejection>,
    json: impl FnOnce(&[u8], &Config) -> Result<T, Rejection>,
) -> Result<Result<T, Rejection>, Box<HttpResponse>> {
    if req.body.len() > config.max_body {
        return Err(Box::new(Response::error(
            Some(req),
            413,
            &format!("the body is over {} bytes", config.max_body),
        )));
    }
    match req.content_type().as_str() {
        "application/x-www-form-urlencoded" => Ok(form(&req.body, config)),
        "application/json" => Ok(json(&req.body, config)),
        other => Err(Box::new(Response::error(
            Some(req),
            415,
            &format!(
                "content type {:?} is not accepted: send application/x-www-form-urlencoded or application/json",
                other
            ),
        ))),
    }
}

async fn post(
    app: &App,
    config: &Config,
    req: &Request,
    now: Timestamp,
    metrics: &mut Metrics,
) -> HttpResponse {
    let json = req.wants_json();
    let parsed = match body_of(req, config, parse_form, parse_json) {
        Ok(parsed) => parsed,
        Err(answer) => return *answer,
    };
    let launch_req = match parsed {
        Ok(r) => r,
        Err(Rejection::Body(message)) => return Response::error(Some(req), 400, &message),
        Err(Rejection::Fields(errors, raw)) => {
            tracing::info!(fields = ?errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), "launch refused: invalid fields");
            return if json {
                Response::json(400, &fields_json(&errors, "nothing was launched"))
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
    let who = match (&config.auth, &req.iam_caller) {
        (AuthMode::Iam, Some(identity)) => Who::Caller(identity.clone()),
        // Behind a shared-secret proxy nobody is signed in: the owner typed is all there is.
        _ => Who::Owner(launch_req.owner.clone()),
    };
    let launch = plan(&launch_req, config, &req.request_id, &who, now);
    let outcome = launch_or_find(app, config, &who, &launch, now).await;
    match &outcome {
        Outcome::Earlier(l) => {
            tracing::info!(instance = %l.id, "repeated submit: answering with the earlier launch");
        }
        Outcome::Launched(l) => {
            metrics.count("LaunchRequested", 1);
            tracing::info!(instance = %l.id, instance_type = %launch.instance_type, owner = %launch_req.owner, "launched");
            // The lease is proved ours by its seal; without one, lease-keeper and "your
            // instances" leave the instance alone (it stays up: nothing is lost, but it costs).
            if let Err(e) = seal_launch(app, &l.id, &launch.tags).await {
                metrics.count("Failures", 1);
                tracing::error!(instance = %l.id, error = %e, "launched, but the lease could not be sealed: adopt it with lease-keeper");
            }
        }
        // EC2 launched nothing: the place it held in the quota is free again.
        Outcome::Failed(..) => apply::give_back(&app.claims, &who, &launch).await,
        _ => {}
    }
    let (report, status) = report::of(config.mode, &app.region, &launch_req, &launch, outcome);
    report.log();
    report::answer(req, config, &launch_req, &report, status)
}

/// Seals a new instance's lease over the tags it was launched with.
async fn seal_launch(app: &App, id: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
    let ring = app.keys.ring(&Default::default()).await?;
    let tags: BTreeMap<String, String> = tags.iter().cloned().collect();
    let seal = ring.seal(id, &lease_claims(&tags))?;
    app.ec2.seal(id, &seal).await
}

/// The caller's instances whose lease seal verifies: a lease tag is anyone's to write, or to
/// copy from a genuine lease onto another instance.
async fn sealed(app: &App, found: Vec<Instance>) -> Result<Vec<Instance>, AwsError> {
    let ring = app.keys.ring_for(found.iter().map(|i| &i.tags)).await?;
    Ok(found
        .into_iter()
        .filter(|i| {
            ring.check(&i.id, &i.tags, &lease_claims(&i.tags))
                .is_valid()
        })
        .collect())
}

/// Observe (an earlier launch of this form, the caller's instances), take a place in their
/// quota, apply.
async fn launch_or_find(
    app: &App,
    config: &Config,
    who: &Who,
    launch: &Launch,
    now: Timestamp,
) -> Outcome {
    let ec2 = &app.ec2;
    // EC2 honours ClientToken too; the tag also covers a repeat after EC2 has forgotten it.
    // The token is the caller's own, and the earlier launch must be theirs and sealed.
    let earlier = match ec2.launched_with(&launch.token).await {
        Ok(found) => match sealed(app, found.into_iter().filter(|i| who.owns(i)).collect()).await {
            Ok(ours) => ours.into_iter().next(),
            Err(e) => return apply::failed(e),
        },
        Err(e) => return apply::failed(e),
    };
    if earlier.is_some() {
        return apply::apply(ec2, decide(earlier, 0, who.name(), config), launch, config).await;
    }
    // The quota is the authenticated caller's (the owner typed on the form is anyone's to
    // choose), over every live instance of theirs, stopped ones too, proved theirs by its seal.
    let found = match ec2.ever(who).await {
        Ok(found) => found,
        Err(e) => return apply::failed(e),
    };
    let token = |i: &Instance| i.tags.get(TOKEN_TAG).cloned();
    let seen: BTreeSet<String> = found.iter().filter_map(token).collect();
    let live: Vec<Instance> = found
        .into_iter()
        .filter(|i| InstanceState::LIVE.contains(&i.state))
        .collect();
    let live: BTreeSet<String> = match sealed(app, live).await {
        Ok(ours) => ours.iter().filter_map(token).collect(),
        Err(e) => return apply::failed(e),
    };
    let decision =
        match apply::take_place(&app.claims, who, (&live, &seen), launch, config, now).await {
            Ok(decision) => decision,
            Err(e) => return apply::failed(e),
        };
    if let Decision::Refuse(..) = decision {
        tracing::info!(caller = %who.name(), held = live.len(), "launch refused: quota");
    }
    apply::apply(ec2, decision, launch, config).await
}

/// `/mine`: GET lists the caller's instances, POST carries out one step on one of them.
async fn mine_route(
    app: &App,
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
                    Response::html(200, page::lease::mine(config, None, &[], None, None))
                }
                Err(e) => refused_owner(config, req, owner.as_deref(), e),
            }
        }
        "POST" => mine_post(app, config, req, now, metrics).await,
        _ => {
            let mut r = Response::error(Some(req), 405, "use GET to list and POST to act");
            r.headers
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
            r
        }
    };
    if response.status_code >= 500 {
        metrics.count("Failures", 1);
    }
    response
}

fn query_value(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The IAM caller, or in shared-secret mode the owner e-mail the page was given.
fn who(config: &Config, req: &Request, owner: Option<&str>) -> Result<Who, FieldError> {
    match (&config.auth, &req.iam_caller) {
        (AuthMode::Iam, Some(arn)) => Ok(Who::Caller(arn.clone())),
        // authenticate() refuses an IAM request without a caller; this is not reached.
        (AuthMode::Iam, None) => Err(FieldError {
            field: "owner".into(),
            message: "no signed-in caller".into(),
        }),
        (AuthMode::SharedSecret { .. }, _) => lease::owner_of(owner),
    }
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
    let page = page::lease::mine(
        config,
        None,
        &[],
        None,
        Some((given.unwrap_or(""), &e.message)),
    );
    Response::html(400, page)
}

/// The list (JSON or the page), with the result of a step on top.
async fn listed(
    app: &App,
    config: &Config,
    req: &Request,
    who: &Who,
    now: Timestamp,
    banner: Option<(&str, bool)>,
    status: u16,
) -> HttpResponse {
    let found = match app.ec2.mine(who).await {
        Ok(found) => sealed(app, found).await,
        Err(e) => Err(e),
    };
    let leases = match found {
        Ok(found) => lease::leases(&found, who, config, now),
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
    Response::html(
        status,
        page::lease::mine(config, Some(who), &leases, banner, None),
    )
}

async fn mine_post(
    app: &App,
    config: &Config,
    req: &Request,
    now: Timestamp,
    metrics: &mut Metrics,
) -> HttpResponse {
    let parsed = match body_of(
        req,
        config,
        lease::parse_action_form,
        lease::parse_action_json,
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
        Ok(found) => match sealed(app, found.into_iter().collect()).await {
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
    let step = lease::decide(found.as_ref(), &who, &asked.action, config, now);
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
            return Response::html(200, page::lease::confirm(&who, id, volumes));
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
    let (report, status) = report::lease::of(config.mode, &asked, state, &step, result, &at);
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
async fn refused_fields(
    app: &App,
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
            page::lease::mine(config, None, &[], Some((&message, true)), None),
        ),
    }
}
