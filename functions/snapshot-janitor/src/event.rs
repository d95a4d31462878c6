//! The invocation payload: a Scheduled Event or `{}` (a run, at the event's `time` or the
//! clock), or `{"action": "adopt"}` with optional `"ids"`. Anything else is refused and
//! changes nothing.

use jiff::Timestamp;
use serde_json::Value;

use fleetkeeper::Error;
use fleetkeeper::error::brief;

pub use fleetkeeper::seal::Adopt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The event's time; None: the clock.
    pub at: Option<Timestamp>,
    /// Some: an adopt request instead of a run.
    pub adopt: Option<Adopt>,
}

pub fn parse(payload: &Value) -> Result<Request, Error> {
    let obj = payload.as_object().ok_or_else(|| {
        Error::input(format!(
            "snapshot-janitor expects a JSON object (a scheduled event, {{}} or {{\"action\": \"adopt\"}}), got {}",
            brief(payload)
        ))
    })?;
    let at = fleetkeeper::clock::event_time(obj)?;
    let adopt = fleetkeeper::seal::adopt_request(obj, "snap-")?;
    if adopt.is_none()
        && let Some(other) = obj.get("action").filter(|a| !a.is_null())
    {
        return Err(Error::input(format!(
            "unknown action {}: send a scheduled event, {{}}, or {{\"action\": \"adopt\"}}",
            brief(other)
        )));
    }
    Ok(Request { at, adopt })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn runs_adoptions_and_bad_input() {
        assert_eq!(
            parse(&json!({})).unwrap(),
            Request {
                at: None,
                adopt: None
            }
        );
        let scheduled =
            parse(&json!({"detail-type": "Scheduled Event", "time": "2026-11-21T02:00:00Z"}))
                .unwrap();
        assert_eq!(scheduled.at, Some("2026-11-21T02:00:00Z".parse().unwrap()));
        assert_eq!(
            parse(&json!({"action": "adopt"})).unwrap().adopt,
            Some(Adopt::List)
        );
        assert_eq!(
            parse(&json!({"action": "adopt", "ids": ["snap-1", "snap-2"]}))
                .unwrap()
                .adopt,
            Some(Adopt::Seal(vec!["snap-1".into(), "snap-2".into()]))
        );
        for (bad, says) in [
            (json!(["x"]), "expects a JSON object"),
            (json!({"action": "prune"}), "unknown action \"prune\""),
            (json!({"action": "adopt", "ids": []}), "non-empty list"),
            (
                json!({"action": "adopt", "ids": ["i-123"]}),
                "ids such as snap-",
            ),
            (json!({"time": "tonight"}), "not an RFC 3339 time"),
        ] {
            let e = parse(&bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
