//! What the state machine asks: the targets of a run, the tally of its plan (the organisation
//! cap), or its summary.

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use fleetkeeper::Error;
use fleetkeeper::error::brief;

/// The functions that run in organisation mode, with what their cap counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Function {
    NightlyStopper,
    SnapshotJanitor,
}

impl Function {
    pub fn name(self) -> &'static str {
        match self {
            Function::NightlyStopper => "nightly-stopper",
            Function::SnapshotJanitor => "snapshot-janitor",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// List the accounts, cross them with the regions, write the manifest.
    Targets {
        function: Function,
        /// The function's own event, passed on to every target.
        event: Value,
        /// The event's time (Scheduler's scheduled time), else now: it names the run.
        at: Option<Timestamp>,
        /// The event asked for a dry run: the apply phase is one too.
        dry_run: bool,
    },
    /// Add up the plan phase's summaries; refuse above the cap.
    Tally { function: Function, run: String },
    /// Add up the apply phase: the organisation's summary.
    Summary { function: Function, run: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    action: String,
    function: Function,
    #[serde(default)]
    event: Value,
    run: Option<String>,
}

pub fn parse(payload: &Value) -> Result<Request, Error> {
    let shown = brief(payload);
    let raw: Raw = serde_json::from_value(payload.clone()).map_err(|e| {
        Error::input(format!(
            "expected {{\"action\": \"targets\" | \"tally\" | \"summary\", \"function\": \"nightly-stopper\" | \"snapshot-janitor\", ...}}: {e}; got {shown}"
        ))
    })?;
    let run = |raw: &Raw| -> Result<String, Error> {
        match &raw.run {
            Some(r) if !r.is_empty() && !r.contains("..") && r.starts_with(raw.function.name()) => {
                Ok(r.clone())
            }
            _ => Err(Error::input(format!(
                "{} needs the run id the targets step returned (\"run\": \"{}/...\"); got {shown}",
                raw.action,
                raw.function.name()
            ))),
        }
    };
    match raw.action.as_str() {
        "targets" => {
            let event = match raw.event {
                Value::Null => Value::Object(Default::default()),
                Value::Object(o) => Value::Object(o),
                other => {
                    return Err(Error::input(format!(
                        "event must be the function's event, a JSON object; got {}",
                        brief(&other)
                    )));
                }
            };
            let at = match event.get("time") {
                None | Some(Value::Null) => None,
                Some(Value::String(t)) => Some(t.parse::<Timestamp>().map_err(|_| {
                    Error::input(format!(
                        "event.time {t:?} is not an RFC 3339 time such as 2026-12-01T18:00:00Z"
                    ))
                })?),
                Some(other) => {
                    return Err(Error::input(format!(
                        "event.time must be a string, got {other}"
                    )));
                }
            };
            let dry_run = match event.get("dry_run") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(other) => {
                    return Err(Error::input(format!(
                        "event.dry_run must be true or false, got {other}"
                    )));
                }
            };
            Ok(Request::Targets {
                function: raw.function,
                event,
                at,
                dry_run,
            })
        }
        "tally" => Ok(Request::Tally {
            run: run(&raw)?,
            function: raw.function,
        }),
        "summary" => Ok(Request::Summary {
            run: run(&raw)?,
            function: raw.function,
        }),
        other => Err(Error::input(format!(
            "unknown action {other:?}: use targets, tally or summary"
        ))),
    }
}

/// The run's id: the function and the time it runs for, `nightly-stopper/2026-12-01T18-00-00Z`.
pub fn run_id(function: Function, at: Timestamp) -> String {
    format!("{}/{}", function.name(), at.strftime("%Y-%m-%dT%H-%M-%SZ"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_each_request() {
        let r = parse(&json!({"action": "targets", "function": "nightly-stopper",
                              "event": {"action": "evaluate", "time": "2026-12-01T18:00:00Z"}}))
        .unwrap();
        let Request::Targets {
            at,
            dry_run,
            function,
            ..
        } = r
        else {
            panic!("{r:?}")
        };
        assert_eq!(
            run_id(function, at.unwrap()),
            "nightly-stopper/2026-12-01T18-00-00Z"
        );
        assert!(!dry_run);
        let r = parse(&json!({"action": "tally", "function": "snapshot-janitor",
                              "run": "snapshot-janitor/2026-12-01T03-00-00Z"}))
        .unwrap();
        assert!(matches!(
            r,
            Request::Tally {
                function: Function::SnapshotJanitor,
                ..
            }
        ));
    }

    #[test]
    fn bad_requests_say_why() {
        for (payload, says) in [
            (
                json!({"action": "targets", "function": "alarm-restarter"}),
                "unknown variant",
            ),
            (
                json!({"action": "explode", "function": "nightly-stopper"}),
                "unknown action",
            ),
            (
                json!({"action": "tally", "function": "nightly-stopper"}),
                "run id",
            ),
            (
                json!({"action": "tally", "function": "nightly-stopper", "run": "../x"}),
                "run id",
            ),
            (
                json!({"action": "targets", "function": "nightly-stopper", "event": {"time": "soon"}}),
                "RFC 3339",
            ),
            (
                json!({"action": "targets", "function": "nightly-stopper", "event": {"dry_run": "yes"}}),
                "dry_run",
            ),
            (json!([1]), "expected"),
        ] {
            let e = parse(&payload).unwrap_err().to_string();
            assert!(e.contains(says), "{payload}: {e}");
        }
    }
}
