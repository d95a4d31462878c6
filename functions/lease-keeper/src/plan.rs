//! The plan, pure: for each instance with a lease (`fleetkeeper:expires-at`), at time `now`,
//! whether to warn its owner, stop it, terminate it (with final snapshots first) or leave it,
//! each with its reason. No I/O, no clock. Where a lease stands is the shared state machine
//! (`fleetkeeper::lease::Stage`); this plan adds who may be mailed and what protects an
//! instance from termination.
//!
//! - warn when the lease ends within WARN_HOURS and this very expiry was not warned about yet
//!   (`fleetkeeper:warned-for` holds the expiry warned about, so an extension warns again);
//! - stop at expiry, and mark when (`fleetkeeper:expired-at`); a stopped instance is marked too;
//! - terminate once it has been stopped for GRACE_DAYS since expiry, only if instance-launcher
//!   launched it (its launch token) or TERMINATE_TAGGED is set, never with termination
//!   protection or in an Auto Scaling group; an instance started again after expiry is stopped
//!   again rather than terminated running;
//! - a lease that cannot be read is reported and never acted on.

use jiff::Timestamp;

pub use crate::model::{Act, FINAL_SNAPSHOT_TAG};
use fleetkeeper::Plan;
use fleetkeeper::ec2::Instance;
use fleetkeeper::lease::{Lease, Read, Stage};
use fleetkeeper::tags::{ASG_TAG, EXPIRES_TAG, OWNER_TAG, TOKEN_TAG};
pub use fleetkeeper::tags::{EXPIRED_TAG, WARNED_TAG};

use crate::config::{Config, Notify};
use fleetkeeper::seal::{KeyRing, Proof, lease_claims};

/// Whether a warning may be e-mailed to `owner`: with SENDER, only within OWNER_DOMAINS (the
/// owner tag is anyone's to write); the alerts topic takes every warning.
fn may_mail(owner: &str, config: &Config) -> bool {
    match config.notify {
        Notify::Topic { .. } => true,
        Notify::Email { .. } => owner.rsplit_once('@').is_some_and(|(user, domain)| {
            !user.is_empty() && config.owner_domains.contains(&domain.to_ascii_lowercase())
        }),
    }
}

/// A region's leased instances split by what their seals prove.
#[derive(Debug, Clone, Default)]
pub struct Sorted {
    /// Leases fleetkeeper made (or an operator adopted): acted on.
    pub ours: Vec<Instance>,
    /// The others, with what their seal proves: left alone and reported.
    pub not_ours: Vec<(String, Proof)>,
}

/// Pure: which leases are ours. The lease tags are anyone's to write, or to copy from a
/// genuine lease onto a foreign instance; only the seal over them, bound to the instance's
/// id, proves a lease fleetkeeper's.
pub fn sort_by_seal(instances: Vec<Instance>, ring: &KeyRing) -> Sorted {
    let mut out = Sorted::default();
    for i in instances {
        match ring.check(&i.id, &i.tags, &lease_claims(&i.tags)) {
            Proof::Valid => out.ours.push(i),
            proof => out.not_ours.push((i.id, proof)),
        }
    }
    out
}

/// What the plan needs beyond what DescribeInstances says: termination protection, read
/// only for the instances that could be terminated.
pub fn may_terminate(i: &Instance, config: &Config, now: Timestamp) -> bool {
    Lease::of(&i.tags).is_some_and(|l| l.grace_over(config.grace_days, now))
}

fn unreadable(raw: &str) -> String {
    format!("{EXPIRES_TAG} {raw:?} is not an RFC 3339 time (2026-12-01T18:00:00Z): never acted on")
}

/// `protected`: ids with termination protection (DisableApiTermination).
pub fn plan(
    instances: &[Instance],
    protected: &[String],
    config: &Config,
    now: Timestamp,
) -> Plan<Act> {
    let mut plan = Plan::new();
    for i in instances {
        let lease = match Lease::read(&i.tags) {
            Read::Lease(lease) => lease,
            Read::Unreadable(raw) => {
                plan.skip(&i.id, unreadable(&raw));
                continue;
            }
            Read::None => {
                plan.skip(&i.id, unreadable(""));
                continue;
            }
        };
        if i.state.is_gone() {
            plan.skip(&i.id, format!("already {}", i.state));
            continue;
        }
        let stage = lease.stage(i.state.is_up(), i.launched_at, &config.terms(), now);
        // Said in every reason about a capped lease: its tag is not what decides.
        let cap_note = |expires: Timestamp| {
            format!(
                " ({EXPIRES_TAG} {} is more than MAX_HOURS={} per lease period after its launch: it ends at {expires})",
                lease.raw, config.max_hours
            )
        };
        let note = |expires, capped| {
            if capped {
                cap_note(expires)
            } else {
                String::new()
            }
        };
        let expires = match stage {
            Stage::Running {
                expires, capped, ..
            } => {
                plan.skip(
                    &i.id,
                    format!("leased until {expires}{}", note(expires, capped)),
                );
                continue;
            }
            Stage::Ending {
                expires,
                warned: true,
                ..
            } => {
                plan.skip(&i.id, format!("owner warned already; expires {expires}"));
                continue;
            }
            Stage::Ending {
                expires,
                capped,
                warned: false,
            } => {
                match i.tags.get(OWNER_TAG) {
                    None => plan.skip(
                        &i.id,
                        format!("expires {expires}, but has no {OWNER_TAG} to warn"),
                    ),
                    Some(owner) if !may_mail(owner, config) => plan.skip(
                        &i.id,
                        format!(
                            "expires {expires}, but its {OWNER_TAG} {owner:?} is not in OWNER_DOMAINS ({}): not e-mailed",
                            config.owner_domains.join(", ")
                        ),
                    ),
                    Some(owner) => plan.act(
                        &i.id,
                        Act::Warn {
                            expires,
                            owner: owner.clone(),
                        },
                        format!(
                            "expires {expires}, within WARN_HOURS={}{}",
                            config.warn_hours,
                            note(expires, capped)
                        ),
                    ),
                }
                continue;
            }
            Stage::Over { expires, capped } => {
                let stop = i.state.is_up();
                let why = format!("the lease ended at {expires}{}", note(expires, capped));
                plan.act(&i.id, Act::Expire { stop, mark: true }, why);
                continue;
            }
            Stage::Restarted { expires } => {
                plan.act(
                    &i.id,
                    Act::Expire {
                        stop: true,
                        mark: false,
                    },
                    format!("the lease ended at {expires}; started again without an extension"),
                );
                continue;
            }
            Stage::Stopped {
                grace_over: false, ..
            } => {
                plan.skip(
                    &i.id,
                    format!(
                        "expired, stopped; terminated after GRACE_DAYS={}",
                        config.grace_days
                    ),
                );
                continue;
            }
            Stage::Stopped {
                expires,
                grace_over: true,
            } => expires,
        };
        let why_not = if let Some(group) = i.tags.get(ASG_TAG) {
            Some(format!("in Auto Scaling group {group:?}: never terminated"))
        } else if protected.contains(&i.id) {
            Some("termination protection is on: never terminated".to_owned())
        } else if !i.tags.contains_key(TOKEN_TAG) && !config.terminate_tagged {
            Some(format!(
                "not launched by instance-launcher (no {TOKEN_TAG}); set TERMINATE_TAGGED=true to terminate it"
            ))
        } else {
            None
        };
        if let Some(why) = why_not {
            plan.skip(&i.id, format!("grace over, but {why}"));
            continue;
        }
        let volumes = i
            .volumes
            .iter()
            .filter(|v| v.delete_on_termination)
            .map(|v| v.volume_id.clone())
            .collect();
        let owner = i.tags.get(OWNER_TAG).cloned().unwrap_or_default();
        plan.act(
            &i.id,
            Act::Terminate { volumes, owner },
            format!(
                "expired {expires} and stopped for GRACE_DAYS={}",
                config.grace_days
            ),
        );
    }
    plan
}

/// MAX_TERMINATIONS is one limit for the run: above it, the whole run changes nothing.
pub fn cap_terminations<'a>(plans: impl IntoIterator<Item = &'a mut Plan<Act>>, max: usize) {
    fleetkeeper::plan::cap_counted(
        plans,
        max,
        |a| matches!(a, Act::Terminate { .. }),
        |count| {
            format!(
                "{count} terminations planned, more than MAX_TERMINATIONS={max}: nothing was changed; check the leases, or raise the limit"
            )
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetkeeper::Env;
    use fleetkeeper::ec2::AttachedVolume;
    use fleetkeeper::tags::EXTENSIONS_TAG;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let mut all = vec![
            ("SENDER", "fleet@example.com"),
            ("OWNER_DOMAINS", "example.com"),
        ];
        all.extend_from_slice(pairs);
        Config::from_env(&Env::of(&all)).unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn inst(id: &str, state: &str, tags: &[(&str, &str)]) -> Instance {
        let mut all = vec![
            (EXPIRES_TAG, "2026-12-01T12:00:00Z"),
            (OWNER_TAG, "jane@example.com"),
            (TOKEN_TAG, "fk-1"),
        ];
        for (k, v) in tags {
            all.retain(|(key, _)| key != k);
            all.push((k, v));
        }
        Instance {
            id: id.into(),
            state: state.into(),
            tags: all
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            volumes: vec![
                AttachedVolume {
                    volume_id: format!("vol-root-{id}"),
                    device: "/dev/xvda".into(),
                    boot: true,
                    delete_on_termination: true,
                },
                AttachedVolume {
                    volume_id: format!("vol-kept-{id}"),
                    device: "/dev/sdf".into(),
                    boot: false,
                    delete_on_termination: false,
                },
            ],
            ..Default::default()
        }
    }

    fn acts(p: &Plan<Act>) -> Vec<(String, String)> {
        p.actions
            .iter()
            .map(|a| (a.target.clone(), a.action.to_string()))
            .collect()
    }

    fn reason<'a>(p: &'a Plan<Act>, id: &str) -> &'a str {
        p.skipped
            .iter()
            .find(|s| s.target == id)
            .map(|s| s.reason.as_str())
            .unwrap_or_else(|| panic!("{id} not skipped: {p:?}"))
    }

    #[test]
    fn warnings_are_mailed_only_within_owner_domains() {
        let now = ts("2026-11-30T13:00:00Z");
        let mut outside = inst("i-out", "running", &[]);
        outside
            .tags
            .insert(OWNER_TAG.into(), "someone@elsewhere.net".into());
        let mut spoofed = inst("i-spoof", "running", &[]);
        spoofed
            .tags
            .insert(OWNER_TAG.into(), "x@example.com.evil.net".into());
        let fleet = [inst("i-in", "running", &[]), outside, spoofed];
        let p = plan(&fleet, &[], &config(&[]), now);
        assert_eq!(acts(&p), vec![("i-in".into(), "warn".into())]);
        for id in ["i-out", "i-spoof"] {
            assert!(
                reason(&p, id).contains("is not in OWNER_DOMAINS (example.com): not e-mailed"),
                "{}",
                reason(&p, id)
            );
        }
    }

    #[test]
    fn warns_once_and_again_after_an_extension() {
        let c = config(&[]);
        let fresh = [inst("i-1", "running", &[])];
        // 2026-11-30T11:00Z: more than 24 h before expiry.
        assert!(
            plan(&fresh, &[], &c, ts("2026-11-30T11:00:00Z"))
                .actions
                .is_empty()
        );
        let p = plan(&fresh, &[], &c, ts("2026-11-30T13:00:00Z"));
        assert_eq!(acts(&p), [("i-1".into(), "warn".into())]);
        assert!(
            matches!(&p.actions[0].action, Act::Warn { owner, .. } if owner == "jane@example.com")
        );
        let warned = [inst(
            "i-1",
            "running",
            &[(WARNED_TAG, "2026-12-01T12:00:00Z")],
        )];
        let p = plan(&warned, &[], &c, ts("2026-11-30T18:00:00Z"));
        assert!(p.actions.is_empty());
        assert!(reason(&p, "i-1").starts_with("owner warned already"));
        // Extended by a day: the old warning is for another expiry, so it warns again.
        let extended = [inst(
            "i-1",
            "running",
            &[
                (WARNED_TAG, "2026-12-01T12:00:00Z"),
                (EXPIRES_TAG, "2026-12-02T12:00:00Z"),
            ],
        )];
        assert!(
            plan(&extended, &[], &c, ts("2026-11-30T18:00:00Z"))
                .actions
                .is_empty()
        );
        let p = plan(&extended, &[], &c, ts("2026-12-01T13:00:00Z"));
        assert_eq!(acts(&p), [("i-1".into(), "warn".into())]);
    }

    #[test]
    fn stops_at_expiry_then_terminates_after_the_grace() {
        let c = config(&[]);
        let at_expiry = ts("2026-12-01T12:00:00Z");
        let p = plan(&[inst("i-1", "running", &[])], &[], &c, at_expiry);
        assert_eq!(acts(&p), [("i-1".into(), "stop".into())]);
        let p = plan(&[inst("i-2", "stopped", &[])], &[], &c, at_expiry);
        assert_eq!(acts(&p), [("i-2".into(), "mark-expired".into())]);

        let expired = [("fleetkeeper:expired-at", "2026-12-01T12:05:00Z")];
        let stopped = [inst("i-1", "stopped", &expired)];
        let p = plan(&stopped, &[], &c, ts("2026-12-08T12:04:00Z"));
        assert!(p.actions.is_empty(), "a minute short of GRACE_DAYS=7");
        assert!(reason(&p, "i-1").contains("terminated after GRACE_DAYS=7"));
        let p = plan(&stopped, &[], &c, ts("2026-12-08T12:05:00Z"));
        assert_eq!(acts(&p), [("i-1".into(), "terminate".into())]);
        // Only the volume that goes with the instance gets a final snapshot.
        assert_eq!(
            p.actions[0].action,
            Act::Terminate {
                volumes: vec!["vol-root-i-1".into()],
                owner: "jane@example.com".into()
            }
        );
        // Started again after expiry, without an extension: stopped again, not terminated.
        let p = plan(
            &[inst("i-1", "running", &expired)],
            &[],
            &c,
            ts("2026-12-03T00:00:00Z"),
        );
        assert_eq!(acts(&p), [("i-1".into(), "stop".into())]);
        let p = plan(
            &[inst("i-1", "running", &expired)],
            &[],
            &c,
            ts("2026-12-09T00:00:00Z"),
        );
        assert_eq!(acts(&p), [("i-1".into(), "stop".into())]);
    }

    #[test]
    fn never_terminates_protected_scaled_or_foreign_instances() {
        let expired = ("fleetkeeper:expired-at", "2026-12-01T12:05:00Z");
        let later = ts("2026-12-20T00:00:00Z");
        let fleet = [
            inst("i-prot", "stopped", &[expired]),
            inst("i-asg", "stopped", &[expired, (ASG_TAG, "web")]),
            {
                let mut i = inst("i-foreign", "stopped", &[expired]);
                i.tags.remove(TOKEN_TAG);
                i
            },
        ];
        let p = plan(&fleet, &["i-prot".into()], &config(&[]), later);
        assert!(p.actions.is_empty(), "{p:?}");
        assert!(reason(&p, "i-prot").contains("termination protection"));
        assert!(reason(&p, "i-asg").contains("Auto Scaling group \"web\""));
        assert!(reason(&p, "i-foreign").contains("TERMINATE_TAGGED=true"));
        let p = plan(
            &fleet,
            &["i-prot".into()],
            &config(&[("TERMINATE_TAGGED", "true")]),
            later,
        );
        assert_eq!(acts(&p), [("i-foreign".into(), "terminate".into())]);
    }

    #[test]
    fn an_unreadable_lease_is_reported_and_left_alone() {
        let p = plan(
            &[inst("i-1", "running", &[(EXPIRES_TAG, "next friday")])],
            &[],
            &config(&[]),
            ts("2027-01-01T00:00:00Z"),
        );
        assert!(p.actions.is_empty());
        assert!(reason(&p, "i-1").contains("\"next friday\" is not an RFC 3339 time"));
    }

    #[test]
    fn more_terminations_than_the_limit_refuse_the_whole_run() {
        let expired = ("fleetkeeper:expired-at", "2026-12-01T12:05:00Z");
        let fleet: Vec<Instance> = (0..3)
            .map(|n| inst(&format!("i-{n}"), "stopped", &[expired]))
            .collect();
        let c = config(&[("MAX_TERMINATIONS", "2")]);
        let now = ts("2026-12-20T00:00:00Z");
        let mut a = plan(&fleet[..2], &[], &c, now);
        let mut b = plan(&fleet[2..], &[], &c, now);
        cap_terminations([&mut a, &mut b], c.max_terminations);
        assert!(
            a.refused
                .as_deref()
                .unwrap()
                .contains("3 terminations planned, more than MAX_TERMINATIONS=2")
        );
        assert!(b.runnable().is_empty());
        let mut ok = plan(&fleet[..2], &[], &c, now);
        cap_terminations([&mut ok], c.max_terminations);
        assert!(ok.refused.is_none());
    }

    #[test]
    fn an_expiry_past_max_hours_from_launch_ends_at_max_hours() {
        let c = config(&[("MAX_HOURS", "72")]);
        let launched = |i: Instance| Instance {
            launched_at: Some(ts("2026-11-01T08:00:00Z")),
            ..i
        };
        // An adopted hand-made lease says 2099: it ends 72 hours after its launch.
        let far = launched(inst(
            "i-far",
            "running",
            &[(EXPIRES_TAG, "2099-01-01T00:00:00Z")],
        ));
        let p = plan(
            std::slice::from_ref(&far),
            &[],
            &c,
            ts("2026-11-04T08:00:01Z"),
        );
        assert_eq!(acts(&p), [("i-far".to_owned(), "stop".to_owned())]);
        assert!(
            p.actions[0]
                .reason
                .contains("ended at 2026-11-04T08:00:00Z")
                && p.actions[0].reason.contains("MAX_HOURS=72"),
            "{}",
            p.actions[0].reason
        );
        // Before then it is warned about with the capped time, once.
        let p = plan(
            std::slice::from_ref(&far),
            &[],
            &c,
            ts("2026-11-03T09:00:00Z"),
        );
        assert!(matches!(
            &p.actions[0].action,
            Act::Warn { expires, .. } if *expires == ts("2026-11-04T08:00:00Z")
        ));
        let warned = Instance {
            tags: far
                .tags
                .clone()
                .into_iter()
                .chain([(WARNED_TAG.to_owned(), "2026-11-04T08:00:00Z".to_owned())])
                .collect(),
            ..far.clone()
        };
        assert!(
            plan(&[warned], &[], &c, ts("2026-11-03T10:00:00Z"))
                .actions
                .is_empty()
        );
        // Each extension (sealed with the lease) allows one more period.
        let extended = launched(inst(
            "i-ext",
            "running",
            &[(EXPIRES_TAG, "2026-11-06T08:00:00Z"), (EXTENSIONS_TAG, "1")],
        ));
        let p = plan(&[extended], &[], &c, ts("2026-11-04T08:00:01Z"));
        assert!(p.actions.is_empty(), "{:?}", acts(&p));
        // Within MAX_HOURS the tag decides, as before.
        let near = launched(inst(
            "i-near",
            "running",
            &[(EXPIRES_TAG, "2026-11-03T08:00:00Z")],
        ));
        let p = plan(&[near], &[], &c, ts("2026-11-01T09:00:00Z"));
        assert!(
            p.skipped[0]
                .reason
                .contains("leased until 2026-11-03T08:00:00Z")
        );
        assert!(!p.skipped[0].reason.contains("MAX_HOURS"));
    }
}
