//! The invocation payload: `{"action": "stop"}`, `{"action": "start"}`, or a plain EventBridge
//! "Scheduled Event" (which means stop).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use fleetkeeper::Error;
use fleetkeeper::error::brief;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Stop,
    Start,
}

impl Action {
    /// The state instances are brought to.
    pub fn target_state(self) -> &'static str {
        match self {
            Action::Stop => "stopped",
            Action::Start => "running",
        }
    }
}

pub fn parse(payload: &Value) -> Result<Action, Error> {
    let obj = payload.as_object().ok_or_else(|| {
        Error::input(format!(
            "expected a JSON object such as {{\"action\": \"stop\"}}, got {}",
            brief(payload)
        ))
    })?;
    match obj.get("action") {
        Some(Value::String(a)) => match a.to_ascii_lowercase().as_str() {
            "stop" => Ok(Action::Stop),
            "start" => Ok(Action::Start),
            _ => Err(Error::input(format!(
                "unknown action {a:?}: expected \"stop\" or \"start\""
            ))),
        },
        Some(other) => Err(Error::input(format!(
            "\"action\" must be the string \"stop\" or \"start\", got {}",
            brief(other)
        ))),
        None if obj.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") => {
            Ok(Action::Stop)
        }
        None => Err(Error::input(
            "no \"action\" in the payload: send {\"action\": \"stop\"} or {\"action\": \"start\"}",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn actions_and_scheduled_event() {
        assert_eq!(parse(&json!({"action": "stop"})).unwrap(), Action::Stop);
        assert_eq!(parse(&json!({"action": "START"})).unwrap(), Action::Start);
        let scheduled: Value = serde_json::from_str(include_str!(
            "../../../events/nightly-stopper/scheduled-event.json"
        ))
        .unwrap();
        assert_eq!(parse(&scheduled).unwrap(), Action::Stop);
        let stop: Value =
            serde_json::from_str(include_str!("../../../events/nightly-stopper/stop.json"))
                .unwrap();
        assert_eq!(parse(&stop).unwrap(), Action::Stop);
        let start: Value =
            serde_json::from_str(include_str!("../../../events/nightly-stopper/start.json"))
                .unwrap();
        assert_eq!(parse(&start).unwrap(), Action::Start);
    }

    #[test]
    fn bad_payloads_are_clear_errors() {
        for (payload, needle) in [
            (json!({"action": "reboot"}), "unknown action \"reboot\""),
            (json!({"action": 1}), "must be the string"),
            (json!({}), "no \"action\""),
            (json!("stop"), "expected a JSON object"),
            (json!(null), "expected a JSON object"),
        ] {
            let err = parse(&payload).unwrap_err();
            assert!(matches!(err, Error::Input(_)));
            assert!(err.to_string().contains(needle), "{payload}: {err}");
        }
    }
}
