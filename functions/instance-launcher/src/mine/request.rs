//! What the caller asks of one of their instances (extend, stop, terminate), from the page's
//! buttons (a form) or a script (JSON), validated field by field. Pure: no I/O.

use serde_json::Value;

use crate::config::Config;
use crate::model::{FieldError, Raw, Rejection};
use crate::web::{form_fields, json_object};

/// What the caller asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A new expiry `hours` from now.
    Extend {
        hours: u32,
    },
    Stop,
    /// Without `confirmed`, the page asks first.
    Terminate {
        confirmed: bool,
    },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Extend { .. } => "extend",
            Action::Stop => "stop",
            Action::Terminate { .. } => "terminate",
        }
    }
}

/// A valid request from the page or a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRequest {
    pub instance_id: String,
    pub action: Action,
    /// The owner e-mail, in shared-secret mode.
    pub owner: Option<String>,
}

const ACTION_FIELDS: [&str; 5] = ["instance_id", "action", "hours", "confirm", "owner"];

/// `i-` and 8 or 17 hex digits.
pub fn valid_instance_id(s: &str) -> bool {
    s.strip_prefix("i-").is_some_and(|hex| {
        matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// A form body (the page's buttons).
pub fn parse_action_form(body: &[u8], config: &Config) -> Result<ActionRequest, Rejection> {
    let (raw, errors) = form_fields(body, &ACTION_FIELDS);
    validate_action(raw, errors, config)
}

/// A JSON body: `{"instance_id": "i-...", "action": "extend", "hours": 24}`; a terminate
/// needs `"confirm": true`, as the page's second step.
pub fn parse_action_json(body: &[u8], config: &Config) -> Result<ActionRequest, Rejection> {
    let example = "{\"instance_id\": \"i-...\", \"action\": \"extend\", \"hours\": 24}";
    let obj = json_object(body, example)?;
    let mut raw = Raw::new();
    let mut errors = Vec::new();
    for (key, v) in obj {
        if !ACTION_FIELDS.contains(&key.as_str()) {
            errors.push(FieldError::new(&key, format!("unknown field {key:?}")));
            continue;
        }
        match (key.as_str(), v) {
            ("confirm", Value::Bool(b)) => {
                raw.insert(key, if b { "yes" } else { "no" }.into());
            }
            ("hours", Value::Number(n)) => {
                raw.insert(key, n.to_string());
            }
            (_, Value::String(s)) => {
                raw.insert(key, s);
            }
            (_, Value::Null) => {}
            (_, other) => errors.push(FieldError::new(
                &key,
                format!(
                    "must be a string, got {}",
                    fleetkeeper::error::brief(&other)
                ),
            )),
        }
    }
    validate_action(raw, errors, config)
}

fn validate_action(
    raw: Raw,
    mut errors: Vec<FieldError>,
    config: &Config,
) -> Result<ActionRequest, Rejection> {
    let get = |k: &str| raw.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let instance_id = match get("instance_id") {
        Some(id) if valid_instance_id(id) => id.to_owned(),
        Some(_) => {
            errors.push(FieldError::new(
                "instance_id",
                "must be an instance id such as i-0123456789abcdef0",
            ));
            String::new()
        }
        None => {
            if !errors.iter().any(|e| e.field == "instance_id") {
                errors.push(FieldError::new("instance_id", "required"));
            }
            String::new()
        }
    };
    let action = match get("action") {
        Some("extend") => match get("hours").map(str::parse::<u32>) {
            Some(Ok(h)) if (1..=config.max_hours).contains(&h) => Some(Action::Extend { hours: h }),
            Some(_) => {
                errors.push(FieldError::new(
                    "hours",
                    format!(
                        "a whole number of hours from 1 to {} (MAX_HOURS), counted from now",
                        config.max_hours
                    ),
                ));
                None
            }
            None => Some(Action::Extend {
                hours: config.default_hours,
            }),
        },
        Some("stop") => Some(Action::Stop),
        Some("terminate") => match get("confirm") {
            None | Some("no") => Some(Action::Terminate { confirmed: false }),
            Some("yes") => Some(Action::Terminate { confirmed: true }),
            Some(_) => {
                errors.push(FieldError::new(
                    "confirm",
                    "yes or no (true or false in JSON)",
                ));
                None
            }
        },
        Some(other) => {
            let shown: String = other.chars().take(40).collect();
            errors.push(FieldError::new(
                "action",
                format!("{shown:?} is not one of extend, stop, terminate"),
            ));
            None
        }
        None => {
            errors.push(FieldError::new(
                "action",
                "required: extend, stop or terminate",
            ));
            None
        }
    };
    match action {
        Some(action) if errors.is_empty() => Ok(ActionRequest {
            instance_id,
            action,
            owner: get("owner").map(str::to_owned),
        }),
        _ => Err(Rejection::Fields(errors, raw)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        crate::config::test_config()
    }

    fn fields(r: Result<ActionRequest, Rejection>) -> Vec<String> {
        match r {
            Err(Rejection::Fields(errors, _)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn requests_from_the_page_and_from_scripts() {
        let c = config();
        let r = parse_action_form(
            b"instance_id=i-0123456789abcdef0&action=extend&hours=24&owner=Jane%40example.com",
            &c,
        )
        .unwrap();
        assert_eq!(r.action, Action::Extend { hours: 24 });
        assert_eq!(r.owner.as_deref(), Some("Jane@example.com"));
        let r = parse_action_form(b"instance_id=i-0123456789abcdef0&action=terminate", &c).unwrap();
        assert_eq!(r.action, Action::Terminate { confirmed: false });
        let r = parse_action_json(
            br#"{"instance_id":"i-0123abcd","action":"terminate","confirm":true}"#,
            &c,
        )
        .unwrap();
        assert_eq!(r.action, Action::Terminate { confirmed: true });
        let r =
            parse_action_json(br#"{"instance_id":"i-0123abcd","action":"extend"}"#, &c).unwrap();
        assert_eq!(
            r.action,
            Action::Extend {
                hours: c.default_hours
            }
        );

        assert_eq!(
            fields(parse_action_form(
                b"instance_id=i-0123abcd&action=extend&hours=73",
                &c
            )),
            ["hours"]
        );
        assert_eq!(
            fields(parse_action_form(
                b"instance_id=i-0123abcd&action=extend&hours=0",
                &c
            )),
            ["hours"]
        );
        assert_eq!(
            fields(parse_action_form(b"instance_id=i-xyz&action=stop", &c)),
            ["instance_id"]
        );
        assert_eq!(
            fields(parse_action_form(
                b"instance_id=i-0123abcd&action=reboot",
                &c
            )),
            ["action"]
        );
        assert_eq!(
            fields(parse_action_form(
                b"instance_id=i-0123abcd&action=stop&action=stop",
                &c
            )),
            ["action"]
        );
        assert_eq!(
            fields(parse_action_form(
                b"instance_id=i-0123abcd&action=stop&x=1",
                &c
            )),
            ["x"]
        );
        assert_eq!(
            fields(parse_action_json(
                br#"{"instance_id":"i-0123abcd","action":"extend","hours":"many"}"#,
                &c
            )),
            ["hours"]
        );
        assert_eq!(
            fields(parse_action_json(
                br#"{"instance_id":5,"action":"stop"}"#,
                &c
            )),
            ["instance_id"]
        );
        assert!(matches!(
            parse_action_json(b"[1]", &c),
            Err(Rejection::Body(_))
        ));
    }
}
