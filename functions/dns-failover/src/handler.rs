//! One invocation: work out what each group is asked (probe, alarm result, manual move,
//! status), read its zone, record and state, decide, change every zone's records in one
//! batch, save the states, report.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse;
use futures_util::future::join_all;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};

use fleetkeeper::alarm::State as AlarmState;
use fleetkeeper::exec::Budget;
use fleetkeeper::http::{Response, SecretSource, authenticate};
use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{Error, Mode};

use crate::config::{Config, Group};
use crate::decide::{Observation, manual, observe};
use crate::probe::Prober;
use crate::report::{FailoverReport, GroupReport};
use crate::route53::{Route53, Upsert, normalize};
use crate::state::{GroupState, Side, StateStore};
use crate::trigger::{HttpAction, Trigger, http_action, parse};

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

/// What one group is asked to do.
#[derive(Debug, Clone)]
enum Input {
    Probe,
    /// A result from an alarm; the key tells a repeated delivery.
    Observed(Observation, String),
    Manual(Side),
    Status,
}

pub async fn run(
    app: &App,
    config: &Config,
    payload: Value,
    now: Timestamp,
    budget: Budget,
    metrics: &mut Metrics,
) -> Result<Answer, Error> {
    let (name, inputs): (String, Vec<(&Group, Input)>) = match parse(payload)? {
        Trigger::Schedule => (
            "schedule".into(),
            app.groups.iter().map(|g| (g, Input::Probe)).collect(),
        ),
        Trigger::Ignored(why) => {
            tracing::info!(reason = %why, "event ignored");
            return Ok(Answer::Report(FailoverReport::new(
                &format!("ignored: {why}"),
                config.mode,
                vec![],
            )));
        }
        Trigger::Alarm(change) => {
            let groups: Vec<&Group> = app
                .groups
                .iter()
                .filter(|g| g.alarm.as_deref() == Some(change.alarm_name.as_str()))
                .collect();
            if groups.is_empty() {
                return Err(Error::input(format!(
                    "no failover group watches alarm {:?} (set \"alarm\" in a group)",
                    change.alarm_name
                )));
            }
            let obs = match change.state {
                AlarmState::Alarm => Some(Observation::Unhealthy),
                AlarmState::Ok => Some(Observation::Healthy),
                AlarmState::InsufficientData => None,
            };
            let key = format!("{}@{}", change.alarm_name, change.state_timestamp);
            let inputs = groups
                .into_iter()
                .map(|g| match obs {
                    Some(o) => (g, Input::Observed(o, key.clone())),
                    None => (g, Input::Status),
                })
                .collect();
            (
                format!("alarm {} {}", change.alarm_name, change.state.as_str()),
                inputs,
            )
        }
        Trigger::Http(req) => {
            return Ok(Answer::Http(
                http(app, config, &req, now, budget, metrics).await,
            ));
        }
    };
    let report = FailoverReport::new(
        &name,
        config.mode,
        process(app, config, inputs, now, budget).await,
    );
    report.log();
    report.metrics_into(metrics);
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
    let find = |name: &str| app.groups.iter().find(|g| g.name == name);
    let (label, inputs) = match &action {
        HttpAction::Status(None) => (
            "status".to_owned(),
            app.groups.iter().map(|g| (g, Input::Status)).collect(),
        ),
        HttpAction::Status(Some(n)) | HttpAction::Failover(n) | HttpAction::Failback(n) => {
            let Some(g) = find(n) else {
                let known: Vec<&str> = app.groups.iter().map(|g| g.name.as_str()).collect();
                return Response::json(
                    404,
                    &json!({ "error": format!("no group {n:?}; groups: {}", known.join(", ")) }),
                );
            };
            let input = match action {
                HttpAction::Failover(_) => Input::Manual(Side::Standby),
                HttpAction::Failback(_) => Input::Manual(Side::Primary),
                HttpAction::Status(_) => Input::Status,
            };
            (format!("http {n}"), vec![(g, input)])
        }
    };
    let report = FailoverReport::new(
        &label,
        config.mode,
        process(app, config, inputs, now, budget).await,
    );
    report.log();
    report.metrics_into(metrics);
    let code = if report.groups.iter().any(|g| g.error.is_some()) {
        502
    } else {
        200
    };
    Response::json(code, &serde_json::to_value(&report).unwrap_or(Value::Null))
}

/// A group after the observe and decide steps.
struct Prepared {
    report: GroupReport,
    zone_id: String,
    upsert: Option<Upsert>,
    next: GroupState,
    save: bool,
}

async fn process(
    app: &App,
    config: &Config,
    inputs: Vec<(&Group, Input)>,
    now: Timestamp,
    budget: Budget,
) -> Vec<GroupReport> {
    let prepared = join_all(
        inputs
            .iter()
            .map(|(g, input)| prepare(app, g, input.clone(), now)),
    )
    .await;
    // One atomic batch per zone.
    let mut by_zone: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, p) in prepared.iter().enumerate() {
        if let Ok(p) = p
            && p.upsert.is_some()
        {
            by_zone.entry(p.zone_id.clone()).or_default().push(i);
        }
    }
    let mut prepared: Vec<Result<Prepared, GroupReport>> = prepared;
    for (zone, members) in by_zone {
        let upserts: Vec<Upsert> = members
            .iter()
            .filter_map(|i| prepared[*i].as_ref().ok().and_then(|p| p.upsert.clone()))
            .collect();
        if config.mode == Mode::DryRun {
            for i in &members {
                if let Ok(p) = &mut prepared[*i] {
                    p.report.action = "would-upsert";
                    p.save = false;
                }
            }
            continue;
        }
        let names: Vec<&str> = upserts.iter().map(|u| u.group.as_str()).collect();
        let comment = format!("fleetkeeper dns-failover: {}", names.join(", "));
        let submitted = match app.route53.submit(&zone, &upserts, &comment).await {
            Ok(s) => app
                .route53
                .wait_insync(s, config.change_wait, config.change_poll, budget)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        for i in &members {
            if let Ok(p) = &mut prepared[*i] {
                match &submitted {
                    Ok(s) => {
                        p.report.action = "upsert";
                        p.report.change_id = Some(s.change_id.clone());
                        p.report.change_status = Some(s.status.clone());
                        p.next.last_change_id = Some(s.change_id.clone());
                    }
                    Err(e) => {
                        // The state is not saved: the next run decides again and retries.
                        p.report.error = Some(format!("record change failed: {e}"));
                        p.save = false;
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for p in prepared {
        match p {
            Err(report) => out.push(report),
            Ok(mut p) => {
                if p.save && config.mode == Mode::Live {
                    p.next.updated_at = Some(now.to_string());
                    if let Err(e) = app.store.save(&p.report.group, &p.next).await {
                        p.report.error = Some(format!("state not saved: {e}"));
                    }
                }
                out.push(p.report);
            }
        }
    }
    out
}

async fn prepare(
    app: &App,
    group: &Group,
    input: Input,
    _now: Timestamp,
) -> Result<Prepared, GroupReport> {
    let mut report = GroupReport::new(group);
    let fail = |mut r: GroupReport, e: String| {
        r.error = Some(e);
        r
    };
    let probe = match input {
        Input::Probe => Some(app.prober.probe(&group.health_check).await),
        _ => None,
    };
    let zone_id = match app.route53.zone_id(group).await {
        Ok(z) => z,
        Err(e) => return Err(fail(report, e)),
    };
    let record = match app.route53.record(&zone_id, group).await {
        Ok(r) => r,
        Err(e) => return Err(fail(report, e.to_string())),
    };
    report.record_before = record.as_ref().map(|r| r.values.clone());
    let standby = normalize(group.record_type, &group.standby);
    let state = match app.store.load(&group.name).await {
        Ok(Some(s)) => s,
        // No state yet: start from what the record says.
        Ok(None) => GroupState::on(if record.as_ref().map(|r| &r.values) == Some(&standby) {
            Side::Standby
        } else {
            Side::Primary
        }),
        Err(e) => return Err(fail(report, e.to_string())),
    };
    report.side_before = Some(state.side);
    let (next, flip, save) = match (&input, &probe) {
        (Input::Probe, Some(p)) => {
            report.probe = Some(p.clone());
            report.observation = Some(p.observation());
            let (n, f) = observe(
                &state,
                p.observation(),
                group.fail_after,
                group.recover_after,
            );
            (n, f, true)
        }
        (Input::Observed(obs, key), _) => {
            if state.last_alarm.as_deref() == Some(key.as_str()) {
                report.note =
                    Some("this alarm change was already counted (a repeated delivery)".into());
                (state.clone(), None, false)
            } else {
                report.observation = Some(*obs);
                let (mut n, f) = observe(&state, *obs, group.fail_after, group.recover_after);
                n.last_alarm = Some(key.clone());
                (n, f, true)
            }
        }
        (Input::Manual(side), _) => {
            let (n, f) = manual(&state, *side);
            (n, f, true)
        }
        _ => (state.clone(), None, false),
    };
    if next.held && !matches!(input, Input::Manual(_)) {
        report.note =
            Some("held on the standby by a manual failover: POST failback to release".into());
    }
    report.flip = flip;
    report.side_after = Some(next.side);
    (report.failures, report.successes, report.held) = (next.failures, next.successes, next.held);
    let desired = normalize(group.record_type, group.values(next.side));
    report.record_after = Some(desired.clone());
    // Status only reads; everything else makes the record match the side, also when it had
    // drifted (an earlier change failed, or someone edited it).
    let right = record
        .as_ref()
        .is_some_and(|r| r.values == desired && r.ttl == Some(group.ttl));
    let upsert = (!matches!(input, Input::Status) && !right).then(|| Upsert {
        group: group.name.clone(),
        name: group.record.clone(),
        record_type: group.record_type,
        ttl: group.ttl,
        values: desired,
    });
    if matches!(input, Input::Status) {
        report.record_after = report.record_before.clone();
    }
    Ok(Prepared {
        report,
        zone_id,
        upsert,
        next,
        save,
    })
}
