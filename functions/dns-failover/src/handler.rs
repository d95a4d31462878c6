//! One invocation: work out what each group is asked (probe, alarm result, manual action,
//! status); the URL's manual actions are asked through [`control`]; [`decide`] reads, plans,
//! applies and reports.
use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};

use fleetkeeper::Error;
use fleetkeeper::exec::Budget;
use fleetkeeper::http::{Refusal, Response, authenticate};
use fleetkeeper::telemetry::Metrics;

use crate::config::Config;
use crate::control::{self, Caller};
use crate::decide::process;
use crate::event::{Trigger, http_action, parse};
use crate::plan::{Input, inputs_for_alarm, inputs_for_http};
use crate::ports::{App, Dns, Probe, States};
use crate::report::{self, FailoverReport};

/// The reply: a report for the schedule and alarms, an HTTP response for the function URL.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Report(FailoverReport),
    Http(LambdaFunctionUrlResponse),
}

pub async fn run<D: Dns + Sync, S: States + Sync, P: Probe + Sync>(
    app: &App<D, S, P>,
    config: &Config,
    payload: Value,
    now: Timestamp,
    budget: Budget,
    metrics: &mut Metrics,
) -> Result<Answer, Error> {
    let trigger = parse(payload)?;
    if config.control_only && !matches!(trigger, Trigger::Http(_)) {
        return Err(Error::input(
            "this is dns-failover's URL side (CONTROL_ONLY): schedules and alarms go to the dns-failover function itself",
        ));
    }
    let (name, inputs) = match trigger {
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
    let report = process(app, config, &name, inputs, now, budget, metrics).await;
    Ok(Answer::Report(report))
}

async fn http<D: Dns + Sync, S: States + Sync, P: Probe + Sync>(
    app: &App<D, S, P>,
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
    let caller = match Caller::of(req, config) {
        Ok(c) => c,
        Err(why) => {
            tracing::info!(caller = ?req.iam_caller, "refused: {why}");
            return Refusal::new(403, why).json();
        }
    };
    let action = match http_action(req) {
        Ok(a) => a,
        Err(refused) => return refused.json(),
    };
    let inputs = match inputs_for_http(&app.groups, &action) {
        Ok(inputs) => inputs,
        Err(refused) => return refused.json(),
    };
    if let (Some(manual), Some((group, _))) = (action.manual(), inputs.first())
        && let Some(answer) = control::asked(app, config, req, &caller, group, manual, now).await
    {
        return answer;
    }
    let report = process(app, config, &action.label(), inputs, now, budget, metrics).await;
    let code = if report.fields.groups.iter().any(|g| g.error.is_some()) {
        502
    } else {
        200
    };
    Response::json(code, &serde_json::to_value(&report).unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    //! The handler over in-memory ports: the whole observe -> plan -> apply path, including a
    //! state save that fails after the record changed, which moto cannot be made to do.

    use std::sync::Mutex;

    use fleetkeeper::report::Status;

    use super::*;
    use crate::config::GroupsSource;
    use crate::model::Side;
    use crate::ports::fake::{Down, Memory, Zone};

    const GROUPS: &str = r#"[{"name": "web", "zone": "example.com", "record": "www.example.com",
        "type": "A", "primary": ["192.0.2.10"], "standby": ["198.51.100.20"],
        "health_check": {"url": "http://192.0.2.10/health"}, "fail_after": 2}]"#;

    fn app(refuse_saves: bool) -> (App<Zone, Memory, Down>, Config) {
        let env = fleetkeeper::Env::of(&[("FAILOVER_GROUPS", GROUPS)]);
        let config = Config::from_env(&env).unwrap();
        let GroupsSource::Inline(groups) = &config.groups else {
            panic!("inline groups")
        };
        let app = App {
            route53: Zone {
                values: Mutex::new(vec!["192.0.2.10".into()]),
                ..Zone::default()
            },
            store: Memory {
                refuse_saves,
                ..Memory::default()
            },
            prober: Down,
            secret: None,
            groups: groups.clone(),
        };
        (app, config)
    }

    async fn scheduled(app: &App<Zone, Memory, Down>, config: &Config) -> FailoverReport {
        let mut metrics = Metrics::for_function("dns-failover");
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let payload = json!({"trigger": "schedule"});
        match run(app, config, payload, now, Budget::unlimited(), &mut metrics).await {
            Ok(Answer::Report(r)) => r,
            other => panic!("expected a report, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn fails_over_after_fail_after_probes_and_saves_the_side() {
        let (app, config) = app(false);
        let first = scheduled(&app, &config).await;
        assert!(app.route53.batches.lock().unwrap().is_empty(), "{first:?}");
        assert_eq!(first.fields.groups[0].failures, 1);

        let second = scheduled(&app, &config).await;
        assert_eq!(second.status(), Status::Ok, "{second:?}");
        assert_eq!(second.done[0].action, "upsert");
        let batches = app.route53.batches.lock().unwrap().clone();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0][0].values, ["198.51.100.20"]);
        let saved = app.store.states.lock().unwrap()["web"].clone();
        assert_eq!(saved.side, Side::Standby);
        assert_eq!(saved.last_change_id.as_deref(), Some("C1"));
    }

    #[tokio::test]
    async fn a_state_that_cannot_be_saved_is_a_failure() {
        let (app, config) = app(true);
        scheduled(&app, &config).await;
        let r = scheduled(&app, &config).await;
        // Nothing was saved, so the first probe counted nothing: the record is untouched.
        assert!(app.route53.batches.lock().unwrap().is_empty());
        assert_eq!(r.status(), Status::Failed, "{r:?}");
        assert!(r.failed[0].error.contains("state not saved"), "{r:?}");
    }
}
