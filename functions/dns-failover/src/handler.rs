//! One invocation: work out what each group is asked (probe, alarm result, manual move,
//! status), read its zone, record and state, decide, change every zone's records in one
//! batch, save the states, report.

use std::time::Duration;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse;
use futures_util::future::join_all;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};

use fleetkeeper::Error;
use fleetkeeper::exec::Budget;
use fleetkeeper::http::{Response, SecretSource, authenticate};
use fleetkeeper::telemetry::Metrics;

use crate::apply::apply;
use crate::config::{Config, Group};
use crate::event::{HttpAction, Trigger, http_action, parse};
use crate::plan::{Input, Observed, inputs_for_alarm, inputs_for_http, plan_group};
use crate::ports::Route53;
use crate::ports::StateStore;
use crate::ports::{Dns, Probe, Prober, States};
use crate::report::{self, FailoverReport, GroupReport};

pub const RESERVE: Duration = Duration::from_secs(5);

pub struct App {
    pub route53: Route53,
    pub store: StateStore,
    pub prober: Prober,
    pub secret: Option<SecretSource>,
    pub groups: Vec<Group>,
}

/// The reply: a report for the schedule and alarms, an HTTP response for the function URL.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Report(FailoverReport),
    Http(LambdaFunctionUrlResponse),
}

pub async fn run(
    app: &App,
    config: &Config,
    payload: Value,
    now: Timestamp,
    budget: Budget,
    metrics: &mut Metrics,
) -> Result<Answer, Error> {
    let (name, inputs) = match parse(payload)? {
        Trigger::Schedule => (
            "schedule".to_owned(),
            app.groups.iter().map(|g| (g, Input::Probe)).collect(),
        ),
        Trigger::Ignored(why) => {
            tracing::info!(reason = %why, "event ignored");
            return Ok(Answer::Report(report::new(
                &format!("ignored: {why}"),
                config.mode,
                vec![],
            )));
        }
        Trigger::Alarm(change) => (
            format!("alarm {} {}", change.alarm_name, change.state.as_str()),
            inputs_for_alarm(&app.groups, &change)?,
        ),
        Trigger::Http(req) => {
            return Ok(Answer::Http(
                http(app, config, &req, now, budget, metrics).await,
            ));
        }
    };
    let report = report::new(
        &name,
        config.mode,
        process(app, config, inputs, now, budget).await,
    );
    report::log(&report);
    report::metrics_into(&report, metrics);
    Ok(Answer::Report(report))
}

async fn http(
    app: &App,
    config: &Config,
    req: &fleetkeeper::http::Request,
    now: Timestamp,
    budget: Budget,
    metrics: &mut Metrics,
) -> LambdaFunctionUrlResponse {
    if let Err(denied) = authenticate(req, &config.auth, app.secret.as_ref()).await {
        denied.log(req);
        return Response::json(denied.status(), &json!({ "error": denied.message() }));
    }
    let action = match http_action(req) {
        Ok(a) => a,
        Err((code, msg)) => return Response::json(code, &json!({ "error": msg })),
    };
    let inputs = match inputs_for_http(&app.groups, &action) {
        Ok(inputs) => inputs,
        Err((code, msg)) => return Response::json(code, &json!({ "error": msg })),
    };
    let label = match &action {
        HttpAction::Status(None) => "status".to_owned(),
        HttpAction::Status(Some(n)) | HttpAction::Failover(n) | HttpAction::Failback(n) => {
            format!("http {n}")
        }
    };
    let report = report::new(
        &label,
        config.mode,
        process(app, config, inputs, now, budget).await,
    );
    report::log(&report);
    report::metrics_into(&report, metrics);
    let code = if report.fields.groups.iter().any(|g| g.error.is_some()) {
        502
    } else {
        200
    };
    Response::json(code, &serde_json::to_value(&report).unwrap_or(Value::Null))
}

/// Observe every group concerned (concurrently), plan each, apply.
async fn process(
    app: &App,
    config: &Config,
    inputs: Vec<(&Group, Input)>,
    now: Timestamp,
    budget: Budget,
) -> Vec<GroupReport> {
    let observed = join_all(inputs.iter().map(|(g, input)| observe_group(app, g, input))).await;
    let mut unreadable = Vec::new();
    let mut plans = Vec::new();
    for ((group, input), observed) in inputs.iter().zip(observed) {
        match observed {
            Ok(o) => plans.push(plan_group(group, input, o)),
            Err(e) => {
                let mut report = GroupReport::new(group);
                report.error = Some(e);
                unreadable.push(report);
            }
        }
    }
    let mut reports = apply(&app.route53, &app.store, config, plans, now, budget).await;
    reports.extend(unreadable);
    // In the order the groups were asked about.
    reports.sort_by_key(|r| inputs.iter().position(|(g, _)| g.name == r.group));
    reports
}

/// What one group's decision needs: its zone, its record, its saved state, and a probe of the
/// primary when the input asks for one.
async fn observe_group(app: &App, group: &Group, input: &Input) -> Result<Observed, String> {
    let probe = match input {
        Input::Probe => Some(app.prober.probe(&group.health_check).await),
        _ => None,
    };
    let zone_id = app.route53.zone_id(group).await?;
    let record = app
        .route53
        .record(&zone_id, group)
        .await
        .map_err(|e| e.to_string())?;
    let state = app
        .store
        .load(&group.name)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Observed {
        zone_id,
        record,
        state,
        probe,
    })
}
