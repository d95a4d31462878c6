//! The invocation payload. A plain EventBridge Scheduled Event or `{"action": "evaluate"}`
//! evaluates every instance's schedule (at the event's `time` when it has one);
//! `{"action": "stop"}` and `{"action": "start"}` act on every instance carrying the schedule
//! tag, whatever its schedule; `{"action": "preview", "time": ..., "hours": 24}` changes
//! nothing and lists what each schedule would do in that window.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use fleetkeeper::Error;
use fleetkeeper::error::brief;

use crate::model::Kind;

/// A manual stop or start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Stop,
    Start,
}

impl Action {
    /// The state instances are brought to.
    pub fn target_state(self) -> fleetkeeper::ec2::InstanceState {
        match self {
            Action::Stop => fleetkeeper::ec2::InstanceState::Stopped,
            Action::Start => fleetkeeper::ec2::InstanceState::Running,
        }
    }
}

/// What one invocation is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Bring each instance to the state its schedule wants `at` (None: the clock).
    Evaluate {
        at: Option<Timestamp>,
    },
    Manual(Action),
    /// What the schedules would do in the `hours` after `at`.
    Preview {
        at: Option<Timestamp>,
        hours: u32,
    },
}

/// RDS's own start of a database stopped for seven days, as EventBridge delivers it:
/// RDS-EVENT-0154 for a DB instance, RDS-EVENT-0153 for a DB cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdsRestart {
    pub arn: String,
    pub id: String,
    pub kind: Kind,
    pub account: String,
    pub region: String,
    pub at: Timestamp,
}

/// The RDS events taken: "started because it exceeded the maximum time stopped".
pub const RDS_RESTART_EVENTS: [&str; 2] = ["RDS-EVENT-0154", "RDS-EVENT-0153"];

/// An RDS event (None: not one). Another RDS event is bad input: a rule sends too much.
pub fn rds_restart(payload: &Value) -> Result<Option<RdsRestart>, Error> {
    if payload.get("source").and_then(Value::as_str) != Some("aws.rds") {
        return Ok(None);
    }
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let detail = payload.get("detail").cloned().unwrap_or(Value::Null);
    let event_id = field(&detail, "EventID").unwrap_or_default();
    let kind = match event_id.as_str() {
        "RDS-EVENT-0154" => Kind::Rds,
        "RDS-EVENT-0153" => Kind::Aurora,
        other => {
            return Err(Error::input(format!(
                "an RDS event {other:?}: nightly-stopper takes only {} (a database started by RDS after seven days stopped); narrow the rule",
                RDS_RESTART_EVENTS.join(" and ")
            )));
        }
    };
    let missing = |what: &str| Error::input(format!("the RDS event {event_id} has no {what}"));
    let arn = field(&detail, "SourceArn").ok_or_else(|| missing("detail.SourceArn"))?;
    let id = field(&detail, "SourceIdentifier")
        .or_else(|| arn.rsplit(':').next().map(str::to_owned))
        .ok_or_else(|| missing("detail.SourceIdentifier"))?;
    let obj = payload.as_object().ok_or_else(|| missing("body"))?;
    let at = fleetkeeper::clock::event_time(obj)?.ok_or_else(|| missing("time"))?;
    Ok(Some(RdsRestart {
        arn,
        id,
        kind,
        account: field(payload, "account").unwrap_or_default(),
        region: field(payload, "region").ok_or_else(|| missing("region"))?,
        at,
    }))
}

impl Request {
    /// The name the report gives it.
    pub fn name(self) -> &'static str {
        match self {
            Request::Evaluate { .. } => "evaluate",
            Request::Manual(Action::Stop) => "stop",
            Request::Manual(Action::Start) => "start",
            Request::Preview { .. } => "preview",
        }
    }
}

/// The longest preview: a week.
pub const MAX_PREVIEW_HOURS: u32 = 168;

const EXPECTED: &str =
    "\"evaluate\", \"stop\", \"start\" or \"preview\" (or send a Scheduled Event)";

pub fn parse(payload: &Value) -> Result<Request, Error> {
    let obj = payload.as_object().ok_or_else(|| {
        Error::input(format!(
            "expected a JSON object such as {{\"action\": \"evaluate\"}}, got {}",
            brief(payload)
        ))
    })?;
    let at = fleetkeeper::clock::event_time(obj)?;
    let action = match obj.get("action") {
        Some(Value::String(a)) => a.to_ascii_lowercase(),
        Some(other) => {
            return Err(Error::input(format!(
                "\"action\" must be the string {EXPECTED}, got {}",
                brief(other)
            )));
        }
        None if obj.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") => {
            "evaluate".into()
        }
        None => {
            return Err(Error::input(format!(
                "no \"action\" in the payload: send {EXPECTED}"
            )));
        }
    };
    if obj.contains_key("hours") && action != "preview" {
        return Err(Error::input(
            "\"hours\" is only for {\"action\": \"preview\"}",
        ));
    }
    match action.as_str() {
        "evaluate" => Ok(Request::Evaluate { at }),
        "stop" => Ok(Request::Manual(Action::Stop)),
        "start" => Ok(Request::Manual(Action::Start)),
        "preview" => {
            let hours = match obj.get("hours") {
                None => 24,
                Some(h) => h
                    .as_u64()
                    .filter(|h| (1..=u64::from(MAX_PREVIEW_HOURS)).contains(h))
                    .ok_or_else(|| {
                        Error::input(format!(
                            "\"hours\" must be a whole number from 1 to {MAX_PREVIEW_HOURS}, got {}",
                            brief(h)
                        ))
                    })? as u32,
            };
            Ok(Request::Preview { at, hours })
        }
        _ => Err(Error::input(format!(
            "unknown action {action:?}: expected {EXPECTED}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(name: &str) -> Value {
        let path = format!(
            "{}/../../events/nightly-stopper/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn actions_and_scheduled_event() {
        assert_eq!(
            parse(&json!({"action": "stop"})).unwrap(),
            Request::Manual(Action::Stop)
        );
        assert_eq!(
            parse(&json!({"action": "START"})).unwrap(),
            Request::Manual(Action::Start)
        );
        // A Scheduled Event now means evaluate, at the event's time.
        let at: Timestamp = event("scheduled-event.json")["time"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            parse(&event("scheduled-event.json")).unwrap(),
            Request::Evaluate { at: Some(at) }
        );
        assert_eq!(
            parse(&event("stop.json")).unwrap(),
            Request::Manual(Action::Stop)
        );
        assert_eq!(
            parse(&event("start.json")).unwrap(),
            Request::Manual(Action::Start)
        );
        assert_eq!(
            parse(&json!({"action": "evaluate"})).unwrap(),
            Request::Evaluate { at: None }
        );
        assert_eq!(
            parse(&json!({"action": "preview", "time": "2026-12-01T17:00:00Z"})).unwrap(),
            Request::Preview {
                at: Some("2026-12-01T17:00:00Z".parse().unwrap()),
                hours: 24
            }
        );
        assert_eq!(
            parse(&json!({"action": "preview", "hours": 168})).unwrap(),
            Request::Preview {
                at: None,
                hours: 168
            }
        );
    }

    #[test]
    fn bad_payloads_are_clear_errors() {
        for (payload, needle) in [
            (json!({"action": "reboot"}), "unknown action \"reboot\""),
            (json!({"action": 1}), "must be the string"),
            (json!({}), "no \"action\""),
            (json!("stop"), "expected a JSON object"),
            (json!(null), "expected a JSON object"),
            (
                json!({"action": "evaluate", "time": "tonight"}),
                "\"time\" \"tonight\" is not an RFC 3339 time",
            ),
            (
                json!({"action": "evaluate", "time": 5}),
                "must be an RFC 3339",
            ),
            (
                json!({"action": "preview", "hours": 0}),
                "\"hours\" must be a whole number from 1 to 168, got 0",
            ),
            (json!({"action": "preview", "hours": 1000}), "from 1 to 168"),
            (json!({"action": "preview", "hours": "24"}), "from 1 to 168"),
            (json!({"action": "stop", "hours": 3}), "only for"),
        ] {
            let err = parse(&payload).unwrap_err();
            assert!(matches!(err, Error::Input(_)));
            assert!(err.to_string().contains(needle), "{payload}: {err}");
        }
    }
}
