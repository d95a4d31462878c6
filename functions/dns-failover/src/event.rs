//! What started this run: the schedule, a CloudWatch alarm, or an HTTP call through the
//! function URL.

use serde_json::Value;

use fleetkeeper::Error;
use fleetkeeper::alarm::{self, AlarmChange, Incoming};
use fleetkeeper::error::brief;
use fleetkeeper::http::{Refusal, Request};

use crate::model::Manual;

#[derive(Debug)]
pub enum Trigger {
    /// Probe every group.
    Schedule,
    /// An alarm state change; the groups that name the alarm take it as a probe result.
    Alarm(AlarmChange),
    /// A configuration-change event and the like: nothing to do.
    Ignored(String),
    Http(Box<Request>),
}

/// What an HTTP call asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpAction {
    Status(Option<String>),
    /// A manual action on a group; a hold's minutes.
    Manual(Manual, String, Option<u32>),
}

/// The longest maintenance hold, in minutes: a day. A hold is for a deploy, not a way of life.
pub const HOLD_MAX_MINUTES: u32 = 1440;

impl HttpAction {
    /// What the report calls the request.
    pub fn label(&self) -> String {
        match self {
            HttpAction::Status(None) => "status".to_owned(),
            HttpAction::Status(Some(n)) | HttpAction::Manual(_, n, _) => format!("http {n}"),
        }
    }

    /// The manual action asked, with a hold's minutes (None: a status read).
    pub fn manual(&self) -> Option<(Manual, Option<u32>)> {
        match self {
            HttpAction::Status(_) => None,
            HttpAction::Manual(m, _, minutes) => Some((*m, *minutes)),
        }
    }
}

pub fn parse(payload: Value) -> Result<Trigger, Error> {
    let is_url = payload
        .get("requestContext")
        .and_then(|c| c.get("http"))
        .is_some();
    if is_url {
        return Ok(Trigger::Http(Box::new(Request::from_event(payload)?)));
    }
    let Some(obj) = payload.as_object() else {
        return Err(Error::input(format!(
            "expected a scheduled event, a CloudWatch alarm event or a function URL request, got {}",
            brief(&payload)
        )));
    };
    let detail_type = obj.get("detail-type").and_then(Value::as_str);
    let schedule = obj.is_empty()
        || detail_type == Some("Scheduled Event")
        || obj.get("trigger").and_then(Value::as_str) == Some("schedule");
    if schedule {
        return Ok(Trigger::Schedule);
    }
    if obj.contains_key("alarmData")
        || detail_type.is_some_and(|d| d.starts_with("CloudWatch Alarm"))
    {
        return match alarm::parse(&payload)? {
            Incoming::Change(c) => Ok(Trigger::Alarm(c)),
            Incoming::Ignored { what, reason } => Ok(Trigger::Ignored(format!("{what}: {reason}"))),
        };
    }
    Err(Error::input(format!(
        "expected a scheduled event ({{\"trigger\": \"schedule\"}}), a CloudWatch alarm event or a function URL request, got {}",
        brief(&payload)
    )))
}

/// Reads an HTTP call: `GET /` or `GET /status` for every group, or a POST of
/// `{"action": "status" | "failover" | "failback", "group": "<name>"}`.
pub fn http_action(req: &Request) -> Result<HttpAction, Refusal> {
    let path = req.path.trim_end_matches('/');
    match (req.method.as_str(), path) {
        ("GET", "" | "/status") => return Ok(HttpAction::Status(None)),
        ("POST", "") => {}
        (_, "" | "/status") => {
            return Err(Refusal::new(
                405,
                "use GET for status, POST {\"action\", \"group\"} to act",
            ));
        }
        _ => return Err(Refusal::new(404, "not found")),
    }
    if req.content_type() != "application/json" {
        return Err(Refusal::new(415, "send application/json"));
    }
    if req.body.len() > 4096 {
        return Err(Refusal::new(413, "the body is over 4096 bytes"));
    }
    let body: Value = serde_json::from_slice(&req.body)
        .map_err(|e| Refusal::new(400, format!("the body is not valid JSON: {e}")))?;
    let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let group = field("group");
    const ACTIONS: &str = "status, failover, failback, hold, release or resolve";
    let manual = match field("action").as_deref() {
        Some("status") => return Ok(HttpAction::Status(group)),
        Some("failover") => Manual::Failover,
        Some("failback") => Manual::Failback,
        Some("hold") => Manual::Hold,
        Some("release") => Manual::Release,
        Some("resolve") => Manual::Resolve,
        Some(other) => {
            return Err(Refusal::new(
                400,
                format!("unknown action {other:?}: {ACTIONS}"),
            ));
        }
        None => {
            return Err(Refusal::new(
                400,
                format!("\"action\" is required: {ACTIONS}"),
            ));
        }
    };
    let group = group.ok_or(Refusal::new(400, "\"group\" is required"))?;
    let minutes = match (manual, body.get("minutes")) {
        (Manual::Hold, Some(m)) => match m.as_u64() {
            Some(m @ 1..) if m <= u64::from(HOLD_MAX_MINUTES) => Some(m as u32),
            _ => {
                return Err(Refusal::new(
                    400,
                    format!("\"minutes\" is a whole number from 1 to {HOLD_MAX_MINUTES}"),
                ));
            }
        },
        (Manual::Hold, None) => {
            return Err(Refusal::new(
                400,
                format!("a hold needs \"minutes\" (1 to {HOLD_MAX_MINUTES})"),
            ));
        }
        (_, Some(_)) => {
            return Err(Refusal::new(400, "\"minutes\" goes with hold only"));
        }
        (_, None) => None,
    };
    Ok(HttpAction::Manual(manual, group, minutes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn url(method: &str, path: &str, body: &str) -> Value {
        json!({
            "version": "2.0", "rawPath": path, "rawQueryString": "",
            "headers": {"content-type": "application/json"},
            "requestContext": {"requestId": "r-1", "timeEpoch": 0,
                "http": {"method": method, "path": path}},
            "body": body, "isBase64Encoded": false
        })
    }

    fn action(method: &str, path: &str, body: &str) -> Result<HttpAction, Refusal> {
        match parse(url(method, path, body)).unwrap() {
            Trigger::Http(req) => http_action(&req),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn schedules_and_alarms() {
        for p in [
            json!({}),
            json!({"trigger": "schedule"}),
            json!({"detail-type": "Scheduled Event", "source": "aws.scheduler"}),
        ] {
            assert!(matches!(parse(p).unwrap(), Trigger::Schedule));
        }
        let alarm = fleetkeeper_tests::event("dns-failover", "alarm");
        let Trigger::Alarm(c) = parse(alarm).unwrap() else {
            panic!()
        };
        assert_eq!(c.alarm_name, "fleetkeeper-web-primary");
    }

    #[test]
    fn http_calls() {
        assert_eq!(action("GET", "/", ""), Ok(HttpAction::Status(None)));
        assert_eq!(action("GET", "/status", ""), Ok(HttpAction::Status(None)));
        assert_eq!(
            action("POST", "/", r#"{"action":"failover","group":"web"}"#),
            Ok(HttpAction::Manual(Manual::Failover, "web".into(), None))
        );
        assert_eq!(
            action("POST", "/", r#"{"action":"failback","group":"web"}"#),
            Ok(HttpAction::Manual(Manual::Failback, "web".into(), None))
        );
        assert_eq!(
            action(
                "POST",
                "/",
                r#"{"action":"hold","group":"web","minutes":30}"#
            ),
            Ok(HttpAction::Manual(Manual::Hold, "web".into(), Some(30)))
        );
        assert_eq!(
            action("POST", "/", r#"{"action":"resolve","group":"web"}"#),
            Ok(HttpAction::Manual(Manual::Resolve, "web".into(), None))
        );
        for (m, p, b, code) in [
            ("POST", "/", "nope", 400),
            ("POST", "/", r#"{"action":"failover"}"#, 400),
            ("POST", "/", r#"{"action":"reboot","group":"web"}"#, 400),
            ("POST", "/", r#"{"group":"web"}"#, 400),
            ("POST", "/", r#"{"action":"hold","group":"web"}"#, 400),
            (
                "POST",
                "/",
                r#"{"action":"hold","group":"web","minutes":0}"#,
                400,
            ),
            (
                "POST",
                "/",
                r#"{"action":"hold","group":"web","minutes":2000}"#,
                400,
            ),
            (
                "POST",
                "/",
                r#"{"action":"hold","group":"web","minutes":"30"}"#,
                400,
            ),
            (
                "POST",
                "/",
                r#"{"action":"release","group":"web","minutes":5}"#,
                400,
            ),
            ("POST", "/", r#"{"action":"release"}"#, 400),
            ("DELETE", "/", "", 405),
            ("GET", "/admin", "", 404),
        ] {
            assert_eq!(action(m, p, b).unwrap_err().status, code, "{m} {p} {b}");
        }
    }

    #[test]
    fn the_sample_manual_actions() {
        for (name, want, minutes) in [
            ("http-hold", Manual::Hold, Some(30)),
            ("http-release", Manual::Release, None),
            ("http-resolve", Manual::Resolve, None),
        ] {
            let Trigger::Http(req) = parse(fleetkeeper_tests::event("dns-failover", name)).unwrap()
            else {
                panic!("{name}")
            };
            assert_eq!(http_action(&req).unwrap().manual(), Some((want, minutes)));
        }
    }

    #[test]
    fn bad_payloads() {
        for p in [
            json!("x"),
            json!([1]),
            json!({"action": "failover"}),
            json!({"detail-type": "CloudWatch Alarm State Change"}),
        ] {
            let err = parse(p.clone()).unwrap_err();
            assert!(matches!(err, Error::Input(_)), "{p}: {err}");
        }
    }
}
