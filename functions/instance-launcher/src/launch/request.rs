//! A launch request from the form (application/x-www-form-urlencoded) or a script
//! (application/json), validated field by field. Pure: no I/O.

use serde_json::Value;

use crate::config::Config;
use crate::model::{FieldError, OWNER_MAX, Raw, Rejection, is_email};
use crate::web::{form_fields, json_object};

/// The fields, in the order the form shows them.
pub const FIELDS: [&str; 6] = ["size", "name", "owner", "purpose", "hours", "nightly_stop"];
/// The form's hidden idempotency field.
pub const NONCE: &str = "nonce";

pub const NAME_MAX: usize = 64;
pub const PURPOSE_MAX: usize = 200;

/// A valid request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchRequest {
    pub size: String,
    pub instance_type: String,
    pub name: String,
    /// Lowercased.
    pub owner: String,
    pub purpose: String,
    pub hours: u32,
    /// May nightly-stopper stop it? (tag `fleetkeeper:schedule`).
    pub nightly_stop: bool,
    /// From the form (or a script); the idempotency token derives from it.
    pub nonce: Option<String>,
}

/// Reads a form body. Repeated fields are refused rather than guessed at.
pub fn parse_form(body: &[u8], config: &Config) -> Result<LaunchRequest, Rejection> {
    let allowed: Vec<&str> = FIELDS.iter().copied().chain([NONCE]).collect();
    let (raw, errors) = form_fields(body, &allowed);
    // An unticked checkbox is simply absent from a form body.
    let nightly = match raw.get("nightly_stop").map(String::as_str) {
        None => Ok(false),
        Some("on" | "true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => Err(FieldError::new(
            "nightly_stop",
            format!("{:?} is not a yes/no value", clip(other)),
        )),
    };
    validate(raw, nightly, errors, config)
}

/// Reads a JSON body: an object with the form's field names; `nightly_stop` defaults to true.
pub fn parse_json(body: &[u8], config: &Config) -> Result<LaunchRequest, Rejection> {
    let obj = json_object(body, "{\"size\": \"small\", ...}")?;
    let mut raw = Raw::new();
    let mut errors = Vec::new();
    let mut nightly = Ok(true);
    for (key, v) in obj {
        if !FIELDS.contains(&key.as_str()) && key != NONCE {
            errors.push(FieldError::new(&key, format!("unknown field {key:?}")));
            continue;
        }
        match (key.as_str(), v) {
            ("nightly_stop", Value::Bool(b)) => nightly = Ok(b),
            ("nightly_stop", _) => {
                nightly = Err(FieldError::new("nightly_stop", "must be true or false"))
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
    validate(raw, nightly, errors, config)
}

fn validate(
    raw: Raw,
    nightly: Result<bool, FieldError>,
    mut errors: Vec<FieldError>,
    config: &Config,
) -> Result<LaunchRequest, Rejection> {
    let get = |k: &str| raw.get(k).map(|s| s.trim()).unwrap_or("");
    let size = get("size");
    let instance_type = config.instance_type(size);
    if size.is_empty() {
        errors.push(FieldError::new("size", "choose a size"));
    } else if instance_type.is_none() {
        let allowed: Vec<&str> = config.sizes.iter().map(|(l, _)| l.as_str()).collect();
        errors.push(FieldError::new(
            "size",
            format!(
                "{:?} is not offered; choose one of: {}",
                clip(size),
                allowed.join(", ")
            ),
        ));
    }
    let name = get("name");
    if name.is_empty() {
        errors.push(FieldError::new("name", "give the instance a name"));
    } else if name.chars().count() > NAME_MAX {
        errors.push(FieldError::new(
            "name",
            format!("at most {NAME_MAX} characters"),
        ));
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-'))
    {
        errors.push(FieldError::new(
            "name",
            "use letters, digits, spaces, dots, dashes and underscores only",
        ));
    }
    let owner = get("owner").to_ascii_lowercase();
    if owner.is_empty() {
        errors.push(FieldError::new("owner", "give the owner's e-mail address"));
    } else if owner.len() > OWNER_MAX || !is_email(&owner) {
        errors.push(FieldError::new(
            "owner",
            "not an e-mail address such as jane@example.com",
        ));
    } else if !config.owner_domains.is_empty()
        && !config
            .owner_domains
            .iter()
            .any(|d| owner.rsplit_once('@').is_some_and(|(_, dom)| dom == d))
    {
        errors.push(FieldError::new(
            "owner",
            format!(
                "must be an address at {}",
                config.owner_domains.join(" or ")
            ),
        ));
    }
    let purpose = get("purpose");
    if purpose.is_empty() {
        errors.push(FieldError::new("purpose", "say what the instance is for"));
    } else if purpose.chars().count() > PURPOSE_MAX {
        errors.push(FieldError::new(
            "purpose",
            format!("at most {PURPOSE_MAX} characters"),
        ));
    } else if purpose.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "purpose",
            "no control characters or line breaks",
        ));
    }
    let hours = match get("hours") {
        "" => Some(config.default_hours),
        h => match h.parse::<u32>() {
            Ok(n) if (1..=config.max_hours).contains(&n) => Some(n),
            _ => {
                errors.push(FieldError::new(
                    "hours",
                    format!("a whole number of hours from 1 to {}", config.max_hours),
                ));
                None
            }
        },
    };
    let nonce = match get(NONCE) {
        "" => None,
        n if n.len() <= 60 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
            Some(n.to_owned())
        }
        _ => {
            errors.push(FieldError::new(
                NONCE,
                "the form is damaged: reload the page",
            ));
            None
        }
    };
    let nightly_stop = nightly.unwrap_or_else(|e| {
        errors.push(e);
        true
    });
    if !errors.is_empty() {
        // Form order, whatever order the body came in; unknown fields last.
        let rank = |f: &str| FIELDS.iter().position(|k| *k == f).unwrap_or(FIELDS.len());
        errors.sort_by_key(|e| rank(&e.field));
        // One message per field: the first found is the most specific.
        let mut seen = Vec::new();
        errors.retain(|e| {
            let first = !seen.contains(&e.field);
            seen.push(e.field.clone());
            first
        });
        return Err(Rejection::Fields(errors, raw));
    }
    Ok(LaunchRequest {
        size: size.to_owned(),
        instance_type: instance_type.unwrap_or_default().to_owned(),
        name: name.to_owned(),
        owner,
        purpose: purpose.to_owned(),
        hours: hours.unwrap_or(config.default_hours),
        nightly_stop,
        nonce,
    })
}

/// Quoted user input in messages is cut short.
fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetkeeper::Env;

    fn config() -> Config {
        crate::config::test_config()
    }

    const GOOD: &str = "size=small&name=build-box+1&owner=Jane%40Example.com&purpose=try+the+new+compiler&hours=4&nightly_stop=on&nonce=c8ef6f2d-6b7e";

    fn fields(r: Result<LaunchRequest, Rejection>) -> Vec<String> {
        match r {
            Err(Rejection::Fields(errs, _)) => errs.into_iter().map(|e| e.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    fn form(body: &str) -> Result<LaunchRequest, Rejection> {
        parse_form(body.as_bytes(), &config())
    }

    #[test]
    fn a_good_form() {
        let r = form(GOOD).unwrap();
        assert_eq!(
            r,
            LaunchRequest {
                size: "small".into(),
                instance_type: "t3.micro".into(),
                name: "build-box 1".into(),
                owner: "jane@example.com".into(),
                purpose: "try the new compiler".into(),
                hours: 4,
                nightly_stop: true,
                nonce: Some("c8ef6f2d-6b7e".into()),
            }
        );
        // The unticked checkbox is absent; empty hours take the default.
        let r = form("size=medium&name=a&owner=a%40b.io&purpose=x&hours=").unwrap();
        assert_eq!((r.nightly_stop, r.hours, r.nonce), (false, 8, None));
    }

    #[test]
    fn a_good_json_body() {
        let body = br#"{"size":"medium","name":"ci","owner":"ops@example.com","purpose":"load test","hours":12}"#;
        let r = parse_json(body, &config()).unwrap();
        assert_eq!(
            (r.instance_type.as_str(), r.hours, r.nightly_stop),
            ("t3.small", 12, true)
        );
        let body = br#"{"size":"small","name":"ci","owner":"ops@example.com","purpose":"x","nightly_stop":false}"#;
        assert!(!parse_json(body, &config()).unwrap().nightly_stop);
    }

    #[test]
    fn every_field_rule() {
        let cases: &[(&str, &[&str])] = &[
            ("", &["size", "name", "owner", "purpose"]),
            ("size=huge&name=a&owner=a%40b.io&purpose=x", &["size"]),
            ("size=small&name=a%2Fb&owner=a%40b.io&purpose=x", &["name"]),
            (
                &format!(
                    "size=small&name={}&owner=a%40b.io&purpose=x",
                    "a".repeat(65)
                ),
                &["name"],
            ),
            ("size=small&name=a&owner=not-an-email&purpose=x", &["owner"]),
            (
                "size=small&name=a&owner=a%40localhost&purpose=x",
                &["owner"],
            ),
            ("size=small&name=a&owner=a+b%40c.io&purpose=x", &["owner"]),
            (
                "size=small&name=a&owner=a%40b.io&purpose=line%0Abreak",
                &["purpose"],
            ),
            (
                &format!(
                    "size=small&name=a&owner=a%40b.io&purpose={}",
                    "x".repeat(201)
                ),
                &["purpose"],
            ),
            (
                "size=small&name=a&owner=a%40b.io&purpose=x&hours=0",
                &["hours"],
            ),
            (
                "size=small&name=a&owner=a%40b.io&purpose=x&hours=73",
                &["hours"],
            ),
            (
                "size=small&name=a&owner=a%40b.io&purpose=x&hours=2.5",
                &["hours"],
            ),
            (
                "size=small&name=a&owner=a%40b.io&purpose=x&nightly_stop=maybe",
                &["nightly_stop"],
            ),
            (
                "size=small&name=a&owner=a%40b.io&purpose=x&nonce=%3Cscript%3E",
                &["nonce"],
            ),
            (
                "size=small&size=medium&name=a&owner=a%40b.io&purpose=x",
                &["size"],
            ),
            (
                "size=small&name=a&owner=a%40b.io&purpose=x&ami=ami-123",
                &["ami"],
            ),
        ];
        for (body, want) in cases {
            assert_eq!(fields(form(body)), *want, "{body}");
        }
    }

    #[test]
    fn owner_domains() {
        let c = Config::from_env(&Env::of(&[
            ("ALLOWED_SIZES", "small=t3.micro"),
            ("LAUNCH_TEMPLATE", "dev-box"),
            ("QUOTA_BUCKET", "launch-claims"),
            ("OWNER_DOMAINS", "example.com"),
        ]))
        .unwrap();
        let body = "size=small&name=a&owner=a%40evil.com&purpose=x";
        assert_eq!(fields(parse_form(body.as_bytes(), &c)), ["owner"]);
        let body = "size=small&name=a&owner=a%40example.com&purpose=x";
        assert!(parse_form(body.as_bytes(), &c).is_ok());
    }

    #[test]
    fn injection_attempts_are_refused_or_kept_as_text() {
        // Markup in the name is refused by its character rule ...
        let body = "size=small&name=%3Cimg+src%3Dx+onerror%3Dalert(1)%3E&owner=a%40b.io&purpose=x";
        assert_eq!(fields(form(body)), ["name"]);
        // ... and the raw value is kept for the page, which escapes it (page.rs tests that).
        let Err(Rejection::Fields(_, raw)) = form(body) else {
            panic!()
        };
        assert_eq!(raw["name"], "<img src=x onerror=alert(1)>");
        // The purpose is free text: accepted as text, never interpreted.
        let body = "size=small&name=a&owner=a%40b.io&purpose=%3C%2Fdd%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E";
        assert_eq!(
            form(body).unwrap().purpose,
            "</dd><script>alert(1)</script>"
        );
    }

    #[test]
    fn bad_json_bodies() {
        let c = config();
        for (body, needle) in [
            (&b"not json"[..], "not valid JSON"),
            (b"[1,2]", "must be a JSON object"),
            (b"\"small\"", "must be a JSON object"),
        ] {
            match parse_json(body, &c) {
                Err(Rejection::Body(m)) => assert!(m.contains(needle), "{m}"),
                other => panic!("{other:?}"),
            }
        }
        let body = br#"{"size":["small"],"name":"a","owner":"a@b.io","purpose":"x","nightly_stop":"yes","image":"ami-1"}"#;
        assert_eq!(
            fields(parse_json(body, &c)),
            ["size", "nightly_stop", "image"]
        );
    }
}
