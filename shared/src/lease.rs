//! The lease on an instance, as every function that reads or writes one sees it: instance-
//! launcher writes it and extends it, lease-keeper warns, ends and terminates by it, and
//! nightly-stopper never starts an instance whose lease has ended. One reading of the tags,
//! so the three agree by code, not by comments. Pure: no I/O.
//!
//! The tags: `fleetkeeper:expires-at` (RFC 3339), `fleetkeeper:extensions` (how many),
//! lease-keeper's `fleetkeeper:warned-for` (the expiry it warned about) and
//! `fleetkeeper:expired-at` (when it ended the lease). An extension writes a new expiry and
//! removes the last two, so the new lease is warned about and ended like the first.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use crate::tags::{EXPIRED_TAG, EXPIRES_TAG, EXTENSIONS_TAG, WARNED_TAG};

/// The terms a lease runs under (lease-keeper's settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    /// The owner is warned this long before the end.
    pub warn_hours: u32,
    /// An ended instance stays stopped this long before it may be terminated.
    pub grace_days: u32,
    /// The longest lease period: an expiry further from the launch (once more per
    /// extension) ends the lease there.
    pub max_hours: u32,
}

/// Where a lease stands at a time: the one state machine of a lease. `expires` is the expiry
/// in force, `capped` when MAX_HOURS moved it before the tagged one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Runs; the owner is warned from `warn_from`.
    Running {
        expires: Timestamp,
        capped: bool,
        warn_from: Timestamp,
    },
    /// Within the warning window; `warned`: the owner was told about this very expiry.
    Ending {
        expires: Timestamp,
        capped: bool,
        warned: bool,
    },
    /// Past its expiry and not yet ended: stop the instance (when up) and mark the end.
    Over { expires: Timestamp, capped: bool },
    /// Ended, but up again without an extension: stop it again.
    Restarted { expires: Timestamp },
    /// Ended and stopped; once `grace_over` (stopped for the grace days) it may be
    /// terminated, if nothing else protects it.
    Stopped {
        expires: Timestamp,
        grace_over: bool,
    },
}

/// A lease as its tags say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub expires_at: Timestamp,
    /// `expires-at` as tagged.
    pub raw: String,
    pub extensions: u32,
    /// The expiry lease-keeper warned about, as it wrote it.
    pub warned_for: Option<String>,
    /// When lease-keeper ended it: None while it runs. A value that is not a time still
    /// means ended (the tag is there), at no known time.
    pub ended: Option<Option<Timestamp>>,
}

/// What an instance's tags say of a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// No `expires-at`: not leased.
    None,
    /// An `expires-at` that is not a time: never acted on.
    Unreadable(String),
    Lease(Lease),
}

impl Lease {
    pub fn read(tags: &BTreeMap<String, String>) -> Read {
        let Some(raw) = tags.get(EXPIRES_TAG) else {
            return Read::None;
        };
        let Ok(expires_at) = raw.parse::<Timestamp>() else {
            return Read::Unreadable(raw.clone());
        };
        Read::Lease(Lease {
            expires_at,
            raw: raw.clone(),
            extensions: tags
                .get(EXTENSIONS_TAG)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            warned_for: tags.get(WARNED_TAG).cloned(),
            ended: tags.get(EXPIRED_TAG).map(|t| t.parse().ok()),
        })
    }

    /// The lease of `tags` when it is one (a readable expiry).
    pub fn of(tags: &BTreeMap<String, String>) -> Option<Lease> {
        match Lease::read(tags) {
            Read::Lease(l) => Some(l),
            _ => None,
        }
    }

    /// Ended at `at`: marked by lease-keeper, or its expiry has passed.
    pub fn has_ended(&self, at: Timestamp) -> bool {
        self.ended.is_some() || self.expires_at <= at
    }

    /// lease-keeper warned about this very expiry (`expires`, as tagged or as capped).
    pub fn warned_about(&self, expires: Timestamp) -> bool {
        self.warned_for
            .as_deref()
            .is_some_and(|w| w == self.raw || w == expires.to_string())
    }

    /// Ended and stopped for `grace_days` by `now` (a marked lease with no readable time never
    /// is: it waits for a time lease-keeper wrote).
    pub fn grace_over(&self, grace_days: u32, now: Timestamp) -> bool {
        matches!(self.ended, Some(Some(at)) if at + SignedDuration::from_hours(24 * i64::from(grace_days)) <= now)
    }

    /// The latest expiry the lease may have: `max_hours` from the instance's launch (EC2's
    /// LaunchTime, which a start after a stop moves), once more for each extension. None
    /// when the launch time is unknown.
    pub fn latest_expiry(
        &self,
        launched_at: Option<Timestamp>,
        max_hours: u32,
    ) -> Option<Timestamp> {
        let periods = 1 + i64::from(self.extensions.min(1000));
        launched_at.map(|t| t + SignedDuration::from_hours(i64::from(max_hours) * periods))
    }
}

impl Lease {
    /// The expiry in force: the tagged one, or the latest the lease may have when that is
    /// earlier (and then `true`).
    pub fn expiry(&self, launched_at: Option<Timestamp>, max_hours: u32) -> (Timestamp, bool) {
        match self.latest_expiry(launched_at, max_hours) {
            Some(latest) if self.expires_at > latest => (latest, true),
            _ => (self.expires_at, false),
        }
    }

    /// Where the lease stands at `now`, for an instance that is `up` (pending or running)
    /// or not, launched at `launched_at`.
    pub fn stage(
        &self,
        up: bool,
        launched_at: Option<Timestamp>,
        terms: &Terms,
        now: Timestamp,
    ) -> Stage {
        let (expires, capped) = self.expiry(launched_at, terms.max_hours);
        if now < expires {
            let warn_from = expires - SignedDuration::from_hours(i64::from(terms.warn_hours));
            return if now < warn_from {
                Stage::Running {
                    expires,
                    capped,
                    warn_from,
                }
            } else {
                Stage::Ending {
                    expires,
                    capped,
                    warned: self.warned_about(expires),
                }
            };
        }
        match (self.ended.is_some(), up) {
            (false, _) => Stage::Over { expires, capped },
            (true, true) => Stage::Restarted { expires },
            (true, false) => Stage::Stopped {
                expires,
                grace_over: self.grace_over(terms.grace_days, now),
            },
        }
    }
}

/// The tags an extension to `expires_at` writes (the expiry, the count) and the ones it
/// removes (lease-keeper's warning and end), so the new lease starts over.
pub fn extension_tags(
    expires_at: Timestamp,
    extensions: u32,
) -> ([(String, String); 2], [&'static str; 2]) {
    (
        [
            (EXPIRES_TAG.to_owned(), expires_at.to_string()),
            (EXTENSIONS_TAG.to_owned(), extensions.to_string()),
        ],
        [WARNED_TAG, EXPIRED_TAG],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn reading_a_lease() {
        assert_eq!(Lease::read(&tags(&[("Name", "x")])), Read::None);
        assert_eq!(
            Lease::read(&tags(&[(EXPIRES_TAG, "tomorrow")])),
            Read::Unreadable("tomorrow".into())
        );
        let l = Lease::of(&tags(&[
            (EXPIRES_TAG, "2026-12-01T12:00:00Z"),
            (EXTENSIONS_TAG, "2"),
            (WARNED_TAG, "2026-12-01T12:00:00Z"),
        ]))
        .unwrap();
        assert_eq!((l.extensions, l.ended.is_none()), (2, true));
        assert!(l.warned_about(at("2026-12-01T12:00:00Z")));
        assert!(!l.has_ended(at("2026-12-01T11:59:59Z")));
        assert!(l.has_ended(at("2026-12-01T12:00:00Z")));
    }

    #[test]
    fn the_lifecycle_warn_end_grace_extend() {
        let running = tags(&[(EXPIRES_TAG, "2026-12-01T12:00:00Z")]);
        let l = Lease::of(&running).unwrap();
        assert!(!l.warned_about(l.expires_at));
        // lease-keeper ends it at 12:00 and marks when.
        let mut ended = running.clone();
        ended.insert(EXPIRED_TAG.into(), "2026-12-01T12:00:00Z".into());
        let e = Lease::of(&ended).unwrap();
        assert!(
            e.has_ended(at("2026-11-01T00:00:00Z")),
            "marked: ended whatever the time"
        );
        assert!(!e.grace_over(7, at("2026-12-08T11:59:59Z")));
        assert!(e.grace_over(7, at("2026-12-08T12:00:00Z")));
        // A mark that is not a time ends the lease but never starts the grace.
        let mut garbled = running.clone();
        garbled.insert(EXPIRED_TAG.into(), "yes".into());
        let g = Lease::of(&garbled).unwrap();
        assert!(
            g.has_ended(at("2026-11-01T00:00:00Z")) && !g.grace_over(0, at("2030-01-01T00:00:00Z"))
        );
        // An extension writes the new expiry and count and removes the warning and the end.
        let (set, remove) = extension_tags(at("2026-12-03T12:00:00Z"), 1);
        let mut extended = ended.clone();
        for k in remove {
            extended.remove(k);
        }
        extended.extend(set);
        let x = Lease::of(&extended).unwrap();
        assert_eq!(
            (x.extensions, x.ended, x.warned_for.clone()),
            (1, None, None)
        );
        assert!(!x.has_ended(at("2026-12-02T00:00:00Z")));
    }

    #[test]
    fn no_lease_outlives_max_hours_per_period() {
        let l = Lease::of(&tags(&[
            (EXPIRES_TAG, "2099-01-01T00:00:00Z"),
            (EXTENSIONS_TAG, "1"),
        ]))
        .unwrap();
        let launched = Some(at("2026-11-01T08:00:00Z"));
        assert_eq!(
            l.latest_expiry(launched, 72),
            Some(at("2026-11-07T08:00:00Z"))
        );
        assert_eq!(l.latest_expiry(None, 72), None);
    }

    #[test]
    fn a_lease_goes_through_every_stage_and_an_extension_starts_it_over() {
        let terms = Terms {
            warn_hours: 24,
            grace_days: 7,
            max_hours: 72,
        };
        let launched = Some(at("2026-11-30T12:00:00Z"));
        let mut t = tags(&[(EXPIRES_TAG, "2026-12-01T12:00:00Z")]);
        let stage = |t: &BTreeMap<String, String>, up: bool, now: &str| {
            Lease::of(t).unwrap().stage(up, launched, &terms, at(now))
        };
        let expires = at("2026-12-01T12:00:00Z");
        assert!(matches!(
            stage(&t, true, "2026-11-30T11:59:59Z"),
            Stage::Running { warn_from, capped: false, .. } if warn_from == at("2026-11-30T12:00:00Z")
        ));
        assert_eq!(
            stage(&t, true, "2026-11-30T12:00:00Z"),
            Stage::Ending {
                expires,
                capped: false,
                warned: false
            }
        );
        t.insert(WARNED_TAG.into(), "2026-12-01T12:00:00Z".into());
        assert_eq!(
            stage(&t, true, "2026-12-01T00:00:00Z"),
            Stage::Ending {
                expires,
                capped: false,
                warned: true
            }
        );
        assert_eq!(
            stage(&t, true, "2026-12-01T12:00:00Z"),
            Stage::Over {
                expires,
                capped: false
            }
        );
        t.insert(EXPIRED_TAG.into(), "2026-12-01T12:00:00Z".into());
        assert_eq!(
            stage(&t, true, "2026-12-02T00:00:00Z"),
            Stage::Restarted { expires }
        );
        assert_eq!(
            stage(&t, false, "2026-12-08T11:59:59Z"),
            Stage::Stopped {
                expires,
                grace_over: false
            }
        );
        assert_eq!(
            stage(&t, false, "2026-12-08T12:00:00Z"),
            Stage::Stopped {
                expires,
                grace_over: true
            }
        );
        // Extended: warned again about the new expiry, never terminated on the old end.
        let (set, remove) = extension_tags(at("2026-12-05T12:00:00Z"), 1);
        for k in remove {
            t.remove(k);
        }
        t.extend(set);
        assert!(matches!(
            stage(&t, false, "2026-12-05T00:00:00Z"),
            Stage::Ending {
                warned: false,
                capped: false,
                ..
            }
        ));
    }

    #[test]
    fn an_expiry_past_max_hours_ends_at_the_cap() {
        let terms = Terms {
            warn_hours: 1,
            grace_days: 7,
            max_hours: 72,
        };
        let far = Lease::of(&tags(&[(EXPIRES_TAG, "2099-01-01T00:00:00Z")])).unwrap();
        let launched = Some(at("2026-11-01T08:00:00Z"));
        assert_eq!(
            far.stage(true, launched, &terms, at("2026-11-04T08:00:00Z")),
            Stage::Over {
                expires: at("2026-11-04T08:00:00Z"),
                capped: true
            }
        );
        assert!(matches!(
            far.stage(true, None, &terms, at("2026-11-04T08:00:00Z")),
            Stage::Running { capped: false, .. }
        ));
    }
}
