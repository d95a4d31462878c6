//! The launch form: GET shows it; POST validates it, checks the caller's earlier launch and
//! quota, launches, and answers (HTML for the form, JSON for scripts). Every refusal launches
//! nothing.
//!
//! request (pure) -> observe ([`crate::ports`]: an earlier launch of the same form, the
//! caller's instances) -> plan (pure: whether to launch, the type, tags and token) -> quota
//! (a place in the caller's claim book) -> apply (RunInstances) -> report and page.

pub mod apply;
pub mod page;
pub mod plan;
pub mod quota;
pub mod report;
pub mod request;

use std::collections::{BTreeMap, BTreeSet};

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse as HttpResponse;
use jiff::Timestamp;

use fleetkeeper::AwsError;
use fleetkeeper::ec2::{Instance, InstanceState};
use fleetkeeper::http::{AuthMode, Request, Response};
use fleetkeeper::seal::lease_claims;
use fleetkeeper::telemetry::Metrics;

use crate::config::Config;
use crate::model::{Launch, Rejection, Who};
use crate::ports::{App, Claims, Instances};
use crate::web::{body_of, fields_json, method_not_allowed};
use plan::{Decision, TOKEN_TAG, decide, plan};
use report::Outcome;
use request::{parse_form, parse_json};

/// `/`: GET (or HEAD) the form, POST a launch.
pub async fn route<I: Instances + Sync, C: Claims + Sync>(
    app: &App<I, C>,
    config: &Config,
    req: &Request,
    now: Timestamp,
    metrics: &mut Metrics,
) -> HttpResponse {
    match req.method.as_str() {
        "GET" | "HEAD" => Response::html(200, page::form(config, &req.request_id, None, &[], None)),
        "POST" => {
            let response = post(app, config, req, now, metrics).await;
            if response.status_code >= 500 {
                // EC2 refused or failed: the Failures alarm pages someone.
                metrics.count("Failures", 1);
            } else if response.status_code >= 400 {
                metrics.count("LaunchRejected", 1);
            }
            response
        }
        _ => method_not_allowed(req, "use GET for the form and POST to launch"),
    }
}

async fn post<I: Instances + Sync, C: Claims + Sync>(
    app: &App<I, C>,
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
async fn seal_launch<I: Instances + Sync, C: Claims + Sync>(
    app: &App<I, C>,
    id: &str,
    tags: &[(String, String)],
) -> Result<(), AwsError> {
    let ring = app.keys.ring(&Default::default()).await?;
    let tags: BTreeMap<String, String> = tags.iter().cloned().collect();
    let seal = ring.seal(id, &lease_claims(&tags))?;
    app.ec2.seal(id, &seal).await
}

/// Observe (an earlier launch of this form, the caller's instances), take a place in their
/// quota, apply.
async fn launch_or_find<I: Instances + Sync, C: Claims + Sync>(
    app: &App<I, C>,
    config: &Config,
    who: &Who,
    launch: &Launch,
    now: Timestamp,
) -> Outcome {
    let ec2 = &app.ec2;
    // EC2 honours ClientToken too; the tag also covers a repeat after EC2 has forgotten it.
    // The token is the caller's own, and the earlier launch must be theirs and sealed.
    let earlier = match ec2.launched_with(&launch.token).await {
        Ok(found) => match app
            .sealed(found.into_iter().filter(|i| who.owns(i)).collect())
            .await
        {
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
    let live: BTreeSet<String> = match app.sealed(live).await {
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
