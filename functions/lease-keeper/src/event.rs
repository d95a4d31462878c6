//! The invocation payload: an EventBridge Scheduled Event (evaluated at its `time`), or
//! `{"time": "..."}` / `{}` (the clock). Anything else is refused and changes nothing.

use jiff::Timestamp;
use serde_json::Value;

use fleetkeeper::Error;
use fleetkeeper::error::brief;
pub use fleetkeeper::seal::Adopt;

/// The time the leases are judged at: the event's, else None (the clock).
pub fn parse(payload: &Value) -> Result<Option<Timestamp>, Error> {
    fleetkeeper::clock::event_time(object(payload)?)
}

/// `{"action": "adopt"}` (with optional `"ids"`), or None for a run.
pub fn adopt(payload: &Value) -> Result<Option<Adopt>, Error> {
    fleetkeeper::seal::adopt_request(object(payload)?, "i-")
}

fn object(payload: &Value) -> Result<&serde_json::Map<String, Value>, Error> {
    payload.as_object().ok_or_else(|| {
        Error::input(format!(
            "lease-keeper expects a JSON object (a Scheduled Event, {{\"time\": \"2026-12-01T18:00:00Z\"}} or {{\"action\": \"adopt\"}}), got {}",
            brief(payload)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_and_bad_input() {
        assert_eq!(parse(&json!({})).unwrap(), None);
        let event = json!({"detail-type": "Scheduled Event", "time": "2026-12-01T10:00:00Z"});
        assert_eq!(
            parse(&event).unwrap(),
            Some("2026-12-01T10:00:00Z".parse().unwrap())
        );
        for (bad, says) in [
            (json!("now"), "expects a JSON object"),
            (json!({"time": "tomorrow"}), "is not an RFC 3339 time"),
            (json!({"time": 3}), "must be an RFC 3339 string"),
        ] {
            let err = parse(&bad).unwrap_err();
            assert!(
                matches!(err, Error::Input(_)) && err.to_string().contains(says),
                "{err}"
            );
        }
    }
}
