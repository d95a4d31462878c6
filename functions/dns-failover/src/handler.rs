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
use fleetkeeper::Mode;
use fleetkeeper::exec::Budget;
use fleetkeeper::http::{Refusal, Response, SecretSource, authenticate, caller_identity};
use fleetkeeper::telemetry::Metrics;

use crate::apply::apply;
use crate::config::{Config, Group};
use crate::event::{HttpAction, Trigger, http_action, parse};
use crate::model::{Command, Side};
use crate::plan::{Input, Observed, inputs_for_alarm, inputs_for_http, plan_group};
use crate::ports::{Dns, Probe, Prober, Route53, StateStore, States};
use crate::report::{self, FailoverReport, GroupReport};

pub const RESERVE: Duration = Duration::from_secs(5);

/// What an invocation works with; generic over the ports so tests can answer in memory.
pub struct App<D = Route53, S = StateStore, P = Prober> {
    pub route53: D,
    pub store: S,
    pub prober: P,
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
    let report = report::new(
        &name,
        config.mode,
        process(app, config, inputs, now, budget).await,
    );
    report::log(&report);
    report::metrics_into(&report, metrics);
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
    let (label, to) = match &action {
        HttpAction::Status(None) => ("status".to_owned(), None),
        HttpAction::Status(Some(n)) => (format!("http {n}"), None),
        HttpAction::Failover(n) => (format!("http {n}"), Some(Side::Standby)),
        HttpAction::Failback(n) => (format!("http {n}"), Some(Side::Primary)),
    };
    if let (Some(to), Some((group, _))) = (to, inputs.first()) {
        let command = Command {
            // Lambda's request ids are unique; the time keeps replayed sample events apart.
            id: format!("{}@{}", req.request_id, now.as_millisecond()),
            to,
            by: caller.recorded.clone(),
            at: now.to_string(),
        };
        if let Some(refusal) = ask(app, config, &caller, group, &command, now).await {
            return refusal;
        }
        if config.control_only {
            // The scheduled run applies it: the URL side never moves a record itself.
            return Response::json(
                202,
                &json!({
                    "status": "asked",
                    "group": group.name,
                    "action": command.action(),
                    "by": command.by,
                    "command_id": command.id,
                    "message": format!(
                        "{} of {} asked; dns-failover applies it at its next scheduled run (GET /status shows it)",
                        command.action(),
                        group.name
                    ),
                }),
            );
        }
    }
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

/// Who is calling, as recorded and as matched against CONTROL_PRINCIPALS.
struct Caller {
    /// For the state, the report and the log: the signed ARN as IAM gives it (a session name
    /// included), or the shared secret and the client's address.
    recorded: String,
    /// The identity a session name cannot choose (None behind a shared secret).
    identity: Option<String>,
}

impl Caller {
    fn of(req: &fleetkeeper::http::Request, config: &Config) -> Result<Caller, String> {
        match &req.iam_caller {
            Some(arn) => Ok(Caller {
                recorded: arn.clone(),
                identity: Some(caller_identity(arn, &config.session_roles)?),
            }),
            None => Ok(Caller {
                recorded: format!(
                    "the shared secret, from {}",
                    req.source_ip.as_deref().unwrap_or("an unknown address")
                ),
                identity: None,
            }),
        }
    }

    fn may_move(&self, principals: &[String]) -> bool {
        principals.is_empty()
            || self.identity.as_deref().is_some_and(|id| {
                principals.iter().any(|p| match p.strip_suffix('*') {
                    Some(prefix) => id.starts_with(prefix),
                    None => id == p,
                })
            })
    }
}

/// While a group's command waits to be applied, another is asked no sooner than this: the URL
/// side's writes share SSM's rate with the scheduled run's.
const COMMAND_SPACING: jiff::SignedDuration = jiff::SignedDuration::from_secs(10);

/// Writes `command` for `group`, or the answer refusing it (nothing written).
async fn ask<D: Dns + Sync, S: States + Sync, P: Probe + Sync>(
    app: &App<D, S, P>,
    config: &Config,
    caller: &Caller,
    group: &Group,
    command: &Command,
    now: Timestamp,
) -> Option<LambdaFunctionUrlResponse> {
    let refuse = |code: u16, why: String| {
        tracing::info!(group = %group.name, action = command.action(), by = %command.by, "manual command refused: {why}");
        Some(Refusal::new(code, why).json())
    };
    if !caller.may_move(&config.control_principals) {
        return refuse(
            403,
            format!(
                "{} may read status but not move records: not in CONTROL_PRINCIPALS",
                caller.identity.as_deref().unwrap_or(&caller.recorded)
            ),
        );
    }
    let (state, last) = match (
        app.store.load(&group.name).await,
        app.store.command(&group.name).await,
    ) {
        (Ok(state), Ok(last)) => (state, last),
        (Err(e), _) | (_, Err(e)) => return refuse(502, e.to_string()),
    };
    let pending = match &state {
        Some(s) => s.pending(last.clone()),
        None => last.clone(),
    };
    if let Some(p) = pending.as_ref().filter(|p| p.to == command.to) {
        return refuse(
            409,
            format!(
                "{} of {} was already asked by {} at {} and is not applied yet",
                p.action(),
                group.name,
                p.by,
                p.at
            ),
        );
    }
    // Asked again before the last was applied: spaced, so a flood writes little.
    let recent = pending
        .as_ref()
        .and_then(|l| l.at.parse::<Timestamp>().ok())
        .is_some_and(|at| now < at + COMMAND_SPACING);
    if recent {
        return refuse(
            429,
            format!(
                "another manual command for {} was asked less than {} seconds ago and is not applied yet: try again shortly",
                group.name,
                COMMAND_SPACING.as_secs()
            ),
        );
    }
    if config.mode == Mode::DryRun {
        return Some(Response::json(
            200,
            &json!({
                "status": "dry-run",
                "message": format!("dry run: {} of {} by {} would be asked; nothing was written", command.action(), group.name, command.by),
            }),
        ));
    }
    if let Err(e) = app.store.ask(&group.name, command).await {
        return refuse(502, format!("the command could not be written: {e}"));
    }
    tracing::info!(group = %group.name, action = command.action(), by = %command.by, id = %command.id, "manual command asked");
    None
}

/// Observe every group concerned (concurrently), plan each, apply.
async fn process<D: Dns + Sync, S: States + Sync, P: Probe + Sync>(
    app: &App<D, S, P>,
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
async fn observe_group<D: Dns + Sync, S: States + Sync, P: Probe + Sync>(
    app: &App<D, S, P>,
    group: &Group,
    input: &Input,
) -> Result<Observed, String> {
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
    let command = app
        .store
        .command(&group.name)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Observed {
        zone_id,
        record,
        state,
        probe,
        command,
    })
}

#[cfg(test)]
mod tests {
    //! The handler over in-memory ports: the whole observe -> plan -> apply path, including a
    //! state save that fails after the record changed, which moto cannot be made to do.

    use std::collections::HashMap;
    use std::sync::Mutex;

    use fleetkeeper::AwsError;
    use fleetkeeper::report::Status;

    use super::*;
    use crate::config::{GroupsSource, HealthCheck};
    use crate::model::{GroupState, Side};
    use crate::ports::{ProbeResult, Record, StateError, Submitted, Upsert};

    #[derive(Default)]
    struct Zone {
        values: Mutex<Vec<String>>,
        batches: Mutex<Vec<Vec<Upsert>>>,
    }

    impl Dns for Zone {
        async fn zone_id(&self, _: &Group) -> Result<String, String> {
            Ok("Z1".into())
        }
        async fn record(&self, _: &str, _: &Group) -> Result<Option<Record>, AwsError> {
            let values = self.values.lock().unwrap().clone();
            Ok(Some(Record {
                ttl: Some(60),
                values,
            }))
        }
        async fn submit(&self, _: &str, ups: &[Upsert], _: &str) -> Result<Submitted, AwsError> {
            *self.values.lock().unwrap() = ups[0].values.clone();
            self.batches.lock().unwrap().push(ups.to_vec());
            Ok(Submitted {
                change_id: "C1".into(),
                status: "PENDING".into(),
            })
        }
        async fn wait_insync(
            &self,
            s: Submitted,
            _: Duration,
            _: Duration,
            _: Budget,
        ) -> Result<Submitted, AwsError> {
            Ok(Submitted {
                status: "INSYNC".into(),
                ..s
            })
        }
    }

    #[derive(Default)]
    struct Memory {
        states: Mutex<HashMap<String, GroupState>>,
        commands: Mutex<HashMap<String, Command>>,
        refuse_saves: bool,
    }

    impl States for Memory {
        async fn load(&self, group: &str) -> Result<Option<GroupState>, StateError> {
            Ok(self.states.lock().unwrap().get(group).cloned())
        }
        async fn save(&self, group: &str, state: &GroupState) -> Result<(), AwsError> {
            if self.refuse_saves {
                return Err(AwsError::service(
                    "ssm:PutParameter",
                    "ThrottlingException",
                    "slow down",
                ));
            }
            self.states
                .lock()
                .unwrap()
                .insert(group.into(), state.clone());
            Ok(())
        }
        async fn command(&self, group: &str) -> Result<Option<Command>, StateError> {
            Ok(self.commands.lock().unwrap().get(group).cloned())
        }
        async fn ask(&self, group: &str, command: &Command) -> Result<(), AwsError> {
            self.commands
                .lock()
                .unwrap()
                .insert(group.into(), command.clone());
            Ok(())
        }
    }

    struct Down;

    impl Probe for Down {
        async fn probe(&self, _: &HealthCheck) -> ProbeResult {
            ProbeResult {
                healthy: false,
                detail: "HTTP 503 (expected 200-399)".into(),
                ms: 3,
            }
        }
    }

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
