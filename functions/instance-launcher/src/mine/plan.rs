//! "Your instances", pure: the caller's instances as leases, and what an action asked for
//! means for one instance as it is now. No I/O: apply carries a [`Step`] out.

use jiff::{SignedDuration, Timestamp};

use fleetkeeper::ec2::{Instance, InstanceState};
use fleetkeeper::lease::Lease as Tagged;
use fleetkeeper::tags::{EXPIRED_TAG, EXPIRES_TAG, TERMINATED_TAG};

use crate::config::Config;
use crate::mine::request::Action;
use crate::model::{FieldError, Who};

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
                return Step::Invalid(FieldError::new(
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
    use crate::model::owner_of;
    use fleetkeeper::ec2::AttachedVolume;
    use fleetkeeper::tags::{EXTENSIONS_TAG, WARNED_TAG};
    use fleetkeeper::tags::{LAUNCHED_BY_TAG, OWNER_TAG, TOKEN_TAG};

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
