//! The "your instances" page, pure: who the caller is, their instances as leases, what they ask
//! for (extend, stop, terminate) read and validated, and what that means for one instance.
//! No I/O: apply carries a [`Step`] out.

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use fleetkeeper::ec2::{Instance, InstanceState};
use fleetkeeper::lease::Lease as Tagged;
use fleetkeeper::tags::{
    EXPIRED_TAG, EXPIRES_TAG, LAUNCHED_BY_TAG, OWNER_TAG, TERMINATED_TAG, TOKEN_TAG,
};

use crate::config::Config;
use crate::request::{FieldError, OWNER_MAX, Rejection, is_email};

/// The states a listed instance may be in: the ones that still bill or can be started.
pub const LISTED_STATES: [&str; 4] = ["pending", "running", "stopping", "stopped"];

/// Whose instances: the IAM caller (matched on `fleetkeeper:launched-by`) or, behind a
/// shared-secret proxy that signs nobody in, the owner e-mail given on the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Caller(String),
    Owner(String),
}

impl Who {
    /// The tag an instance of theirs carries: (key, value).
    pub fn tag(&self) -> (&'static str, &str) {
        match self {
            Who::Caller(arn) => (LAUNCHED_BY_TAG, arn),
            Who::Owner(email) => (OWNER_TAG, email),
        }
    }

    /// A digest (hex SHA-256) of who they are and `salt`: a name for them that can be shown
    /// or used as a key, and that no other caller's gives.
    pub fn digest(&self, salt: &str) -> String {
        use sha2::{Digest, Sha256};
        let (kind, name) = self.tag();
        Sha256::new()
            .chain_update(kind.as_bytes())
            .chain_update(b"=")
            .chain_update(name.as_bytes())
            .chain_update(b"\n")
            .chain_update(salt.as_bytes())
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Who, as a message names them: the caller's ARN, or the owner e-mail.
    pub fn name(&self) -> &str {
        self.tag().1
    }

    /// Theirs, and launched by instance-launcher (others are not this page's to touch).
    pub fn owns(&self, i: &Instance) -> bool {
        let (key, value) = self.tag();
        // launched-by is cut to 256 characters at launch, as tag values must be.
        let value: String = value.chars().take(256).collect();
        i.tags.contains_key(TOKEN_TAG) && i.tags.get(key).map(String::as_str) == Some(&value)
    }

    /// The owner e-mail to carry in links and forms (none for an IAM caller).
    pub fn owner(&self) -> Option<&str> {
        match self {
            Who::Owner(e) => Some(e),
            Who::Caller(_) => None,
        }
    }
}

/// Reads the owner e-mail given on the page (shared-secret mode): lowercased, checked as the
/// launch form checks it.
pub fn owner_of(given: Option<&str>) -> Result<Who, FieldError> {
    let given = given.map(str::trim).unwrap_or_default();
    if given.is_empty() {
        return Err(field(
            "owner",
            "give the owner e-mail the instances were launched for",
        ));
    }
    let owner = given.to_ascii_lowercase();
    if owner.len() > OWNER_MAX || !is_email(&owner) {
        return Err(field(
            "owner",
            "must be an e-mail address such as jane@example.com",
        ));
    }
    Ok(Who::Owner(owner))
}

/// One of the caller's instances as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lease {
    pub instance_id: String,
    pub name: String,
    pub state: String,
    pub instance_type: String,
    /// As tagged (RFC 3339 UTC), or as found when it is not a time.
    pub expires_at: String,
    /// Its lease has ended (lease-keeper stops it, then terminates it after its grace days).
    pub expired: bool,
    pub extensions: u32,
    pub extensions_left: u32,
}

pub fn extensions(i: &Instance) -> u32 {
    Tagged::of(&i.tags).map_or(0, |l| l.extensions)
}

/// The caller's instances, soonest expiry first.
pub fn leases(instances: &[Instance], who: &Who, config: &Config, now: Timestamp) -> Vec<Lease> {
    let mut out: Vec<Lease> = instances
        .iter()
        .filter(|i| who.owns(i) && InstanceState::LIVE.contains(&i.state))
        .map(|i| {
            let used = extensions(i);
            Lease {
                instance_id: i.id.clone(),
                name: i.tags.get("Name").cloned().unwrap_or_default(),
                state: i.state.to_string(),
                instance_type: i.instance_type.clone(),
                expires_at: i.tags.get(EXPIRES_TAG).cloned().unwrap_or_default(),
                expired: Tagged::of(&i.tags).is_some_and(|l| l.expires_at <= now),
                extensions: used,
                extensions_left: config.max_extensions.saturating_sub(used),
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.expires_at, &a.instance_id).cmp(&(&b.expires_at, &b.instance_id)));
    out
}

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

fn field(name: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: name.to_owned(),
        message: message.into(),
    }
}

/// `i-` and 8 or 17 hex digits.
pub fn valid_instance_id(s: &str) -> bool {
    s.strip_prefix("i-").is_some_and(|hex| {
        matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// A form body (the page's buttons).
pub fn parse_action_form(body: &[u8], config: &Config) -> Result<ActionRequest, Rejection> {
    let mut raw = crate::request::Raw::new();
    let mut errors = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        let key = k.into_owned();
        if !ACTION_FIELDS.contains(&key.as_str()) {
            errors.push(field(&key, format!("unknown field {key:?}")));
        } else if raw.insert(key.clone(), v.into_owned()).is_some() {
            errors.push(field(&key, "given more than once"));
        }
    }
    validate_action(raw, errors, config)
}

/// A JSON body: `{"instance_id": "i-...", "action": "extend", "hours": 24}`; a terminate
/// needs `"confirm": true`, as the page's second step.
pub fn parse_action_json(body: &[u8], config: &Config) -> Result<ActionRequest, Rejection> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Rejection::Body(format!("the body is not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(Rejection::Body(
            "the body must be a JSON object such as {\"instance_id\": \"i-...\", \"action\": \"extend\", \"hours\": 24}".into(),
        ));
    };
    let mut raw = crate::request::Raw::new();
    let mut errors = Vec::new();
    for (key, v) in obj {
        if !ACTION_FIELDS.contains(&key.as_str()) {
            errors.push(field(&key, format!("unknown field {key:?}")));
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
            (_, other) => errors.push(field(
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
    raw: crate::request::Raw,
    mut errors: Vec<FieldError>,
    config: &Config,
) -> Result<ActionRequest, Rejection> {
    let get = |k: &str| raw.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let instance_id = match get("instance_id") {
        Some(id) if valid_instance_id(id) => id.to_owned(),
        Some(_) => {
            errors.push(field(
                "instance_id",
                "must be an instance id such as i-0123456789abcdef0",
            ));
            String::new()
        }
        None => {
            if !errors.iter().any(|e| e.field == "instance_id") {
                errors.push(field("instance_id", "required"));
            }
            String::new()
        }
    };
    let action = match get("action") {
        Some("extend") => match get("hours").map(str::parse::<u32>) {
            Some(Ok(h)) if (1..=config.max_hours).contains(&h) => Some(Action::Extend { hours: h }),
            Some(_) => {
                errors.push(field(
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
                errors.push(field("confirm", "yes or no (true or false in JSON)"));
                None
            }
        },
        Some(other) => {
            let shown: String = other.chars().take(40).collect();
            errors.push(field(
                "action",
                format!("{shown:?} is not one of extend, stop, terminate"),
            ));
            None
        }
        None => {
            errors.push(field("action", "required: extend, stop or terminate"));
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

/// What one action means for the instance as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Not there, or not the caller's (both 404: the page does not say which).
    NotFound,
    /// 400 naming the field.
    Invalid(FieldError),
    /// 409: the instance cannot do that in its state.
    Conflict(String),
    /// Ask before terminating: the volumes that go with it.
    Confirm {
        volumes: Vec<String>,
    },
    Extend {
        expires_at: Timestamp,
        extensions: u32,
        /// lease-keeper stopped it at its expiry: the extension starts it again.
        start: bool,
    },
    Stop,
    Terminate,
    /// Nothing to change: already stopped, or already terminated from this page (answered
    /// with the first result: when it was terminated).
    Already {
        state: String,
        since: Option<String>,
    },
}

pub fn decide(
    instance: Option<&Instance>,
    who: &Who,
    action: &Action,
    config: &Config,
    now: Timestamp,
) -> Step {
    let Some(i) = instance.filter(|i| who.owns(i)) else {
        return Step::NotFound;
    };
    let gone = i.state.is_gone();
    match action {
        Action::Terminate { .. } if gone => Step::Already {
            state: i.state.to_string(),
            since: i.tags.get(TERMINATED_TAG).cloned(),
        },
        _ if gone => Step::Conflict(format!("{} is {}: its lease has ended", i.id, i.state)),
        Action::Extend { hours } => {
            let used = extensions(i);
            if used >= config.max_extensions {
                return Step::Invalid(field(
                    "action",
                    format!(
                        "{} was extended {used} time(s), the most allowed (MAX_EXTENSIONS={}): launch a new one",
                        i.id, config.max_extensions
                    ),
                ));
            }
            let at = now + SignedDuration::from_hours(i64::from(*hours));
            Step::Extend {
                expires_at: Timestamp::from_second(at.as_second()).unwrap_or(at),
                extensions: used + 1,
                start: i.tags.contains_key(EXPIRED_TAG) && i.state == InstanceState::Stopped,
            }
        }
        Action::Stop if matches!(i.state, InstanceState::Stopping | InstanceState::Stopped) => {
            Step::Already {
                state: i.state.to_string(),
                since: None,
            }
        }
        Action::Stop => Step::Stop,
        Action::Terminate { confirmed: false } => Step::Confirm {
            volumes: i
                .volumes
                .iter()
                .filter(|v| v.delete_on_termination)
                .map(|v| v.volume_id.clone())
                .collect(),
        },
        Action::Terminate { confirmed: true } => Step::Terminate,
    }
}

/// The tags an extension writes and the ones it removes, as the shared lease contract says.
pub use fleetkeeper::lease::extension_tags;

#[cfg(test)]
mod tests {
    use super::*;
    use fleetkeeper::ec2::AttachedVolume;
    use fleetkeeper::tags::{EXTENSIONS_TAG, WARNED_TAG};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn config() -> Config {
        crate::config::test_config()
    }

    fn instance(id: &str, state: &str, tags: &[(&str, &str)]) -> Instance {
        let mut i = Instance {
            id: id.into(),
            state: state.into(),
            instance_type: "t3.micro".into(),
            ..Instance::default()
        };
        for (k, v) in [
            (TOKEN_TAG, "fk-1"),
            (OWNER_TAG, "jane@example.com"),
            (LAUNCHED_BY_TAG, "arn:aws:iam::123456789012:user/jane"),
            (EXPIRES_TAG, "2026-11-28T18:00:00Z"),
        ]
        .into_iter()
        .chain(tags.iter().copied())
        {
            i.tags.insert(k.into(), v.into());
        }
        i
    }

    const NOW: &str = "2026-11-28T12:00:00Z";

    #[test]
    fn only_the_callers_instances_launched_by_the_form_are_theirs() {
        let jane = Who::Owner("jane@example.com".into());
        let iam = Who::Caller("arn:aws:iam::123456789012:user/jane".into());
        let mine = instance("i-0000000a", "running", &[]);
        assert!(jane.owns(&mine) && iam.owns(&mine));
        let other = instance("i-0000000b", "running", &[(OWNER_TAG, "bob@example.com")]);
        assert!(!jane.owns(&other) && iam.owns(&other));
        let mut hand_made = instance("i-0000000c", "running", &[]);
        hand_made.tags.remove(TOKEN_TAG);
        assert!(!jane.owns(&hand_made) && !iam.owns(&hand_made));
        assert_eq!(
            decide(Some(&other), &jane, &Action::Stop, &config(), at(NOW)),
            Step::NotFound
        );
        assert_eq!(
            decide(None, &jane, &Action::Stop, &config(), at(NOW)),
            Step::NotFound
        );
    }

    #[test]
    fn leases_list_live_instances_soonest_first() {
        let list = [
            instance(
                "i-0000000b",
                "running",
                &[(EXPIRES_TAG, "2026-11-29T09:00:00Z")],
            ),
            instance(
                "i-0000000a",
                "stopped",
                &[(EXPIRES_TAG, "2026-11-28T10:00:00Z"), (EXTENSIONS_TAG, "2")],
            ),
            instance("i-0000000c", "terminated", &[]),
        ];
        let jane = Who::Owner("jane@example.com".into());
        let leases = leases(&list, &jane, &config(), at(NOW));
        let ids: Vec<&str> = leases.iter().map(|l| l.instance_id.as_str()).collect();
        assert_eq!(ids, ["i-0000000a", "i-0000000b"]);
        assert!(leases[0].expired && !leases[1].expired);
        assert_eq!((leases[0].extensions, leases[0].extensions_left), (2, 1));
    }

    #[test]
    fn extending_counts_starts_an_expired_instance_and_stops_at_the_limit() {
        let jane = Who::Owner("jane@example.com".into());
        let c = config();
        let live = instance(
            "i-0000000a",
            "running",
            &[(WARNED_TAG, "2026-11-28T18:00:00Z")],
        );
        assert_eq!(
            decide(
                Some(&live),
                &jane,
                &Action::Extend { hours: 24 },
                &c,
                at(NOW)
            ),
            Step::Extend {
                expires_at: at("2026-11-29T12:00:00Z"),
                extensions: 1,
                start: false
            }
        );
        let expired = instance(
            "i-0000000a",
            "stopped",
            &[(EXPIRED_TAG, "2026-11-28T18:00:00Z"), (EXTENSIONS_TAG, "2")],
        );
        assert_eq!(
            decide(
                Some(&expired),
                &jane,
                &Action::Extend { hours: 1 },
                &c,
                at(NOW)
            ),
            Step::Extend {
                expires_at: at("2026-11-28T13:00:00Z"),
                extensions: 3,
                start: true
            }
        );
        // Stopped at night by nightly-stopper, not by its lease: it stays stopped.
        let night = instance("i-0000000a", "stopped", &[]);
        assert!(matches!(
            decide(
                Some(&night),
                &jane,
                &Action::Extend { hours: 1 },
                &c,
                at(NOW)
            ),
            Step::Extend { start: false, .. }
        ));
        let spent = instance("i-0000000a", "running", &[(EXTENSIONS_TAG, "3")]);
        match decide(
            Some(&spent),
            &jane,
            &Action::Extend { hours: 1 },
            &c,
            at(NOW),
        ) {
            Step::Invalid(e) => {
                assert_eq!(e.field, "action");
                assert!(e.message.contains("MAX_EXTENSIONS=3"), "{}", e.message);
            }
            other => panic!("{other:?}"),
        }
        let (set, removed) = extension_tags(at("2026-11-29T12:00:00Z"), 1);
        assert_eq!(set[0], (EXPIRES_TAG.into(), "2026-11-29T12:00:00Z".into()));
        assert_eq!(removed, [WARNED_TAG, EXPIRED_TAG]);
    }

    #[test]
    fn stop_and_terminate_by_state() {
        let jane = Who::Owner("jane@example.com".into());
        let c = config();
        let mut live = instance("i-0000000a", "running", &[]);
        live.volumes = vec![
            AttachedVolume {
                volume_id: "vol-1".into(),
                device: "/dev/xvda".into(),
                boot: true,
                delete_on_termination: true,
            },
            AttachedVolume {
                volume_id: "vol-2".into(),
                device: "/dev/xvdb".into(),
                boot: false,
                delete_on_termination: false,
            },
        ];
        assert_eq!(
            decide(Some(&live), &jane, &Action::Stop, &c, at(NOW)),
            Step::Stop
        );
        assert_eq!(
            decide(
                Some(&live),
                &jane,
                &Action::Terminate { confirmed: false },
                &c,
                at(NOW)
            ),
            Step::Confirm {
                volumes: vec!["vol-1".into()]
            }
        );
        assert_eq!(
            decide(
                Some(&live),
                &jane,
                &Action::Terminate { confirmed: true },
                &c,
                at(NOW)
            ),
            Step::Terminate
        );
        let stopped = instance("i-0000000a", "stopped", &[]);
        assert_eq!(
            decide(Some(&stopped), &jane, &Action::Stop, &c, at(NOW)),
            Step::Already {
                state: "stopped".into(),
                since: None
            }
        );
        let gone = instance(
            "i-0000000a",
            "terminated",
            &[(TERMINATED_TAG, "2026-11-28T11:00:00Z")],
        );
        assert_eq!(
            decide(
                Some(&gone),
                &jane,
                &Action::Terminate { confirmed: true },
                &c,
                at(NOW)
            ),
            Step::Already {
                state: "terminated".into(),
                since: Some("2026-11-28T11:00:00Z".into())
            }
        );
        assert!(matches!(
            decide(
                Some(&gone),
                &jane,
                &Action::Extend { hours: 2 },
                &c,
                at(NOW)
            ),
            Step::Conflict(_)
        ));
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

    #[test]
    fn the_owner_given_on_the_page() {
        assert_eq!(
            owner_of(Some(" Jane@Example.com ")),
            Ok(Who::Owner("jane@example.com".into()))
        );
        assert_eq!(owner_of(None).unwrap_err().field, "owner");
        assert_eq!(owner_of(Some("<script>")).unwrap_err().field, "owner");
    }
}
