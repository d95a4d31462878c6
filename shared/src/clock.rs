//! One clock per run: the evaluation time is the event's `time` when it carries one (an
//! EventBridge event's, the scheduled time Scheduler passes in), else the system clock. The
//! plan, every tag written and the report all use that one time, so a run can be replayed.

use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::Error;
use crate::error::brief;

/// The event's `time`, or None when it has none (the caller then uses the clock). A `time`
/// that is there but not an RFC 3339 string is bad input: nothing is evaluated at a guess.
pub fn event_time(event: &Map<String, Value>) -> Result<Option<Timestamp>, Error> {
    match event.get("time") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(t)) => t.parse().map(Some).map_err(|_| {
            Error::input(format!(
                "\"time\" {t:?} is not an RFC 3339 time such as 2026-12-01T18:00:00Z"
            ))
        }),
        Some(other) => Err(Error::input(format!(
            "\"time\" must be an RFC 3339 string, got {}",
            brief(other)
        ))),
    }
}

/// The run's time: the event's when it has one, else `clock` (the invocation's system time).
pub fn run_time(event: &Map<String, Value>, clock: Timestamp) -> Result<Timestamp, Error> {
    Ok(event_time(event)?.unwrap_or(clock))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_events_time_wins_over_the_clock_and_bad_times_are_refused() {
        let clock: Timestamp = "2026-12-05T10:00:00Z".parse().unwrap();
        let scheduled =
            obj(json!({"detail-type": "Scheduled Event", "time": "2026-12-01T02:00:00Z"}));
        assert_eq!(
            run_time(&scheduled, clock).unwrap().to_string(),
            "2026-12-01T02:00:00Z"
        );
        assert_eq!(run_time(&obj(json!({})), clock).unwrap(), clock);
        assert_eq!(run_time(&obj(json!({"time": null})), clock).unwrap(), clock);
        for (bad, says) in [
            (
                json!({"time": "tonight"}),
                "\"tonight\" is not an RFC 3339 time",
            ),
            (json!({"time": 5}), "must be an RFC 3339 string, got 5"),
        ] {
            let e = run_time(&obj(bad), clock).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
    }
}
