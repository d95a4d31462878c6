//! CloudWatch alarm state changes (alarm-restarter and dns-failover). The two shapes an alarm
//! reaches a function in, read into one [`AlarmChange`]:
//!
//! - EventBridge's "CloudWatch Alarm State Change" event (`detail` holds the alarm);
//! - the payload of an alarm's direct Lambda action (`alarmData` holds the alarm).
//!
//! Both carry `configuration.metrics[]`, where an entry has either `metricStat` (with the
//! metric's dimensions) or an `expression` (metric math). `aws_lambda_events` requires
//! `metricStat` on every entry, so metric-math alarms would not parse with it: the shapes are
//! read here by hand, with errors that name the missing or wrong field.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, brief};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    Ok,
    Alarm,
    InsufficientData,
}

impl State {
    fn parse(value: &str, field: &str) -> Result<State, Error> {
        match value {
            "OK" => Ok(State::Ok),
            "ALARM" => Ok(State::Alarm),
            "INSUFFICIENT_DATA" => Ok(State::InsufficientData),
            other => Err(Error::input(format!(
                "{field} is {other:?}: expected OK, ALARM or INSUFFICIENT_DATA"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Alarm => "ALARM",
            State::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// Which delivery the alarm came by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    EventBridge,
    AlarmAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlarmKind {
    /// A metric or metric-math alarm.
    Metric,
    /// A composite alarm: it watches other alarms, never an instance.
    Composite,
}

/// One alarm state change, whichever way it came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlarmChange {
    pub delivery: Delivery,
    pub alarm_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub kind: AlarmKind,
    pub state: State,
    /// When the alarm entered `state`, as CloudWatch wrote it. With the alarm name it
    /// identifies this change, so a second delivery of it is recognised.
    pub state_timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<State>,
    /// Every `InstanceId` dimension of every metric the alarm uses, first seen first.
    pub instances: Vec<String>,
}

impl AlarmChange {
    /// Only a change into ALARM from another state restarts anything. A missing previous
    /// state (never seen from CloudWatch) counts as a change.
    pub fn entered_alarm(&self) -> bool {
        self.state == State::Alarm && self.previous != Some(State::Alarm)
    }
}

/// What a payload is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Change(AlarmChange),
    /// A CloudWatch event this function has no business with, e.g. a configuration change.
    Ignored {
        what: String,
        reason: String,
    },
}

const STATE_CHANGE: &str = "CloudWatch Alarm State Change";
const CONFIG_CHANGE: &str = "CloudWatch Alarm Configuration Change";

/// Reads a payload. Anything that is neither shape, or lacks a field the change needs, is an
/// input error naming the field.
pub fn parse(payload: &Value) -> Result<Incoming, Error> {
    // Some relays deliver the event as a JSON string; accept that, refuse any other string.
    if let Value::String(text) = payload {
        let inner: Value = serde_json::from_str(text).map_err(|e| {
            Error::input(format!(
                "the payload is a string that is not JSON ({e}): expected a CloudWatch alarm event"
            ))
        })?;
        if inner.is_string() {
            return Err(Error::input(
                "the payload is a JSON string holding a string",
            ));
        }
        return parse(&inner);
    }
    let obj = payload.as_object().ok_or_else(|| {
        Error::input(format!(
            "expected a CloudWatch alarm event (a JSON object), got {}",
            brief(payload)
        ))
    })?;
    if let Some(detail_type) = obj.get("detail-type") {
        let detail_type = detail_type
            .as_str()
            .ok_or_else(|| Error::input("\"detail-type\" must be a string"))?;
        return match detail_type {
            STATE_CHANGE => {
                let detail = object(obj, "detail", "")?;
                let change = read_alarm(detail, "detail", Delivery::EventBridge, |c| {
                    c.alarm_arn = obj
                        .get("resources")
                        .and_then(Value::as_array)
                        .and_then(|r| r.first())
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    c.region = opt_str(obj, "region");
                    c.account = opt_str(obj, "account");
                })?;
                Ok(Incoming::Change(change))
            }
            CONFIG_CHANGE => Ok(Incoming::Ignored {
                what: detail_type.to_owned(),
                reason: "only state changes restart instances".into(),
            }),
            other => Err(Error::input(format!(
                "\"detail-type\" is {other:?}: expected {STATE_CHANGE:?} (route only alarm state \
                 changes to this function)"
            ))),
        };
    }
    if obj.contains_key("alarmData") {
        let data = object(obj, "alarmData", "")?;
        let change = read_alarm(data, "alarmData", Delivery::AlarmAction, |c| {
            c.alarm_arn = opt_str(obj, "alarmArn");
            c.region = opt_str(obj, "region");
            c.account = opt_str(obj, "accountId");
        })?;
        return Ok(Incoming::Change(change));
    }
    Err(Error::input(
        "not a CloudWatch alarm event: expected an EventBridge \"CloudWatch Alarm State Change\" \
         event (with \"detail-type\" and \"detail\") or an alarm action payload (with \"alarmData\")",
    ))
}

fn read_alarm(
    alarm: &Map<String, Value>,
    at: &str,
    delivery: Delivery,
    outer: impl FnOnce(&mut AlarmChange),
) -> Result<AlarmChange, Error> {
    let alarm_name = string(alarm, "alarmName", at)?.to_owned();
    let state = object(alarm, "state", at)?;
    let state_at = format!("{at}.state");
    let value = State::parse(
        string(state, "value", &state_at)?,
        &format!("{state_at}.value"),
    )?;
    let state_timestamp = string(state, "timestamp", &state_at)?.to_owned();
    let previous = match alarm.get("previousState") {
        None | Some(Value::Null) => None,
        Some(_) => {
            let prev = object(alarm, "previousState", at)?;
            let prev_at = format!("{at}.previousState");
            Some(State::parse(
                string(prev, "value", &prev_at)?,
                &format!("{prev_at}.value"),
            )?)
        }
    };
    let (kind, instances) = match alarm.get("configuration") {
        Some(Value::Object(config)) => read_configuration(config, &format!("{at}.configuration"))?,
        None | Some(Value::Null) => (AlarmKind::Metric, Vec::new()),
        Some(other) => {
            return Err(Error::input(format!(
                "{at}.configuration must be an object, got {}",
                brief(other)
            )));
        }
    };
    let mut change = AlarmChange {
        delivery,
        alarm_name,
        alarm_arn: None,
        region: None,
        account: None,
        kind,
        state: value,
        state_timestamp,
        previous,
        instances,
    };
    outer(&mut change);
    Ok(change)
}

fn read_configuration(
    config: &Map<String, Value>,
    at: &str,
) -> Result<(AlarmKind, Vec<String>), Error> {
    if config.contains_key("alarmRule") && !config.contains_key("metrics") {
        return Ok((AlarmKind::Composite, Vec::new()));
    }
    let metrics = match config.get("metrics") {
        None | Some(Value::Null) => return Ok((AlarmKind::Metric, Vec::new())),
        Some(Value::Array(m)) => m,
        Some(other) => {
            return Err(Error::input(format!(
                "{at}.metrics must be a list, got {}",
                brief(other)
            )));
        }
    };
    let mut instances: Vec<String> = Vec::new();
    for (i, metric) in metrics.iter().enumerate() {
        let m_at = format!("{at}.metrics[{i}]");
        let metric = metric
            .as_object()
            .ok_or_else(|| Error::input(format!("{m_at} must be an object")))?;
        // Expression entries name no dimensions; the metricStat entries beside them do.
        let Some(stat) = metric.get("metricStat") else {
            continue;
        };
        let dims = stat
            .get("metric")
            .and_then(|m| m.get("dimensions"))
            .unwrap_or(&Value::Null);
        let dims = match dims {
            Value::Null => continue,
            Value::Object(d) => d,
            other => {
                return Err(Error::input(format!(
                    "{m_at}.metricStat.metric.dimensions must be an object, got {}",
                    brief(other)
                )));
            }
        };
        match dims.get("InstanceId") {
            Some(Value::String(id)) if !instances.contains(id) => instances.push(id.clone()),
            None | Some(Value::String(_)) => {}
            Some(other) => {
                return Err(Error::input(format!(
                    "{m_at}.metricStat.metric.dimensions.InstanceId must be a string, got {}",
                    brief(other)
                )));
            }
        }
    }
    Ok((AlarmKind::Metric, instances))
}

fn path(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

fn object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<&'a Map<String, Value>, Error> {
    match obj.get(key) {
        Some(Value::Object(o)) => Ok(o),
        None => Err(Error::input(format!("missing field {}", path(at, key)))),
        Some(other) => Err(Error::input(format!(
            "{} must be an object, got {}",
            path(at, key),
            brief(other)
        ))),
    }
}

fn string<'a>(obj: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a str, Error> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        None => Err(Error::input(format!("missing field {}", path(at, key)))),
        Some(other) => Err(Error::input(format!(
            "{} must be a non-empty string, got {}",
            path(at, key),
            brief(other)
        ))),
    }
}

fn opt_str(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixtures under events/alarm-restarter/, written from the AWS documentation's
    /// examples of each shape.
    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/../events/alarm-restarter/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    fn change(name: &str) -> AlarmChange {
        match parse(&fixture(name)).unwrap() {
            Incoming::Change(c) => c,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn metric_alarm_from_eventbridge() {
        let c = change("metric-alarm");
        assert_eq!(c.delivery, Delivery::EventBridge);
        assert_eq!(c.alarm_name, "fleetkeeper-web-1-status-check");
        assert_eq!(c.kind, AlarmKind::Metric);
        assert_eq!(c.instances, ["i-0a1b2c3d4e5f60718"]);
        assert_eq!((c.previous, c.state), (Some(State::Ok), State::Alarm));
        assert!(c.entered_alarm());
        assert_eq!(c.region.as_deref(), Some("us-east-1"));
        assert_eq!(c.account.as_deref(), Some("123456789012"));
        assert!(
            c.alarm_arn
                .unwrap()
                .ends_with(":alarm:fleetkeeper-web-1-status-check")
        );
        assert_eq!(c.state_timestamp, "2026-11-20T17:04:40.989+0000");
    }

    #[test]
    fn metric_math_alarm_reads_every_metric_stat_beside_the_expression() {
        let c = change("metric-math-alarm");
        assert_eq!(c.kind, AlarmKind::Metric);
        // Two metricStat entries name two instances; the expression entry names none.
        assert_eq!(c.instances, ["i-0a1b2c3d4e5f60718", "i-0f1e2d3c4b5a69788"]);
        assert!(c.entered_alarm());
    }

    #[test]
    fn composite_alarm_names_no_instance() {
        let c = change("composite-alarm");
        assert_eq!(c.kind, AlarmKind::Composite);
        assert!(c.instances.is_empty());
    }

    #[test]
    fn direct_alarm_action_payload() {
        let c = change("alarm-action");
        assert_eq!(c.delivery, Delivery::AlarmAction);
        assert_eq!(c.instances, ["i-0a1b2c3d4e5f60718"]);
        assert_eq!(c.previous, Some(State::InsufficientData));
        assert!(c.entered_alarm());
        assert_eq!(c.account.as_deref(), Some("123456789012"));
        assert!(c.alarm_arn.is_some());
    }

    #[test]
    fn configuration_change_is_ignored() {
        let got = parse(&fixture("configuration-change")).unwrap();
        assert!(
            matches!(&got, Incoming::Ignored { what, .. } if what == CONFIG_CHANGE),
            "{got:?}"
        );
    }

    #[test]
    fn transitions() {
        let c = change("insufficient-data-to-alarm");
        assert_eq!(c.previous, Some(State::InsufficientData));
        assert!(c.entered_alarm());

        let c = change("alarm-to-alarm");
        assert_eq!((c.previous, c.state), (Some(State::Alarm), State::Alarm));
        assert!(!c.entered_alarm());

        let c = change("ok");
        assert_eq!((c.previous, c.state), (Some(State::Alarm), State::Ok));
        assert!(!c.entered_alarm());
    }

    #[test]
    fn a_json_string_payload_is_unwrapped() {
        let text = fixture("metric-alarm").to_string();
        let got = parse(&Value::String(text)).unwrap();
        assert!(matches!(got, Incoming::Change(_)));
    }

    #[test]
    fn bad_input_names_the_field() {
        let mut no_timestamp = fixture("metric-alarm");
        no_timestamp["detail"]["state"]
            .as_object_mut()
            .unwrap()
            .remove("timestamp");
        let mut unknown_state = fixture("alarm-action");
        unknown_state["alarmData"]["state"]["value"] = "ON_FIRE".into();
        let mut bad_previous = fixture("metric-alarm");
        bad_previous["detail"]["previousState"]["value"] = "alarm".into();
        let mut no_name = fixture("alarm-action");
        no_name["alarmData"]
            .as_object_mut()
            .unwrap()
            .remove("alarmName");
        let mut numeric_id = fixture("metric-alarm");
        numeric_id["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]
            ["InstanceId"] = 42.into();
        let cases: Vec<(Value, &str)> = vec![
            (Value::String("not json".into()), "not JSON"),
            (Value::Null, "expected a CloudWatch alarm event"),
            (
                serde_json::json!([1, 2]),
                "expected a CloudWatch alarm event",
            ),
            (serde_json::json!({}), "not a CloudWatch alarm event"),
            (
                serde_json::json!({"detail-type": "Scheduled Event", "detail": {}}),
                "\"Scheduled Event\"",
            ),
            (
                serde_json::json!({"detail-type": STATE_CHANGE}),
                "missing field detail",
            ),
            (no_timestamp, "missing field detail.state.timestamp"),
            (unknown_state, "alarmData.state.value is \"ON_FIRE\""),
            (bad_previous, "detail.previousState.value is \"alarm\""),
            (no_name, "missing field alarmData.alarmName"),
            (numeric_id, "InstanceId must be a string"),
        ];
        for (payload, needle) in cases {
            let err = parse(&payload).unwrap_err();
            assert!(matches!(err, Error::Input(_)), "{payload}: {err}");
            assert!(err.to_string().contains(needle), "{needle:?} not in: {err}");
        }
    }
}
