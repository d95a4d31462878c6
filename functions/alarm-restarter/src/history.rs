//! The restart history of one instance, kept in one tag on the instance so no store is needed.
//!
//! The value is a space-separated list of `<unix seconds>:<event key>`, oldest first, e.g.
//! `1763658280:9f86d081 1763661880:2c26b46b`. The event key identifies the alarm change that
//! caused the restart, so a second delivery of the same change is recognised. Ten entries fit
//! well inside EC2's 256-character tag values.

use std::fmt;

use jiff::{SignedDuration, Timestamp};

/// Entries kept at most; MAX_RESTARTS cannot be set higher.
pub const MAX_ENTRIES: usize = 10;

/// Entries are kept at least this long, whatever the window, so a late duplicate delivery
/// (Lambda retries asynchronous events for up to six hours) is still recognised.
const KEEP_AT_LEAST: SignedDuration = SignedDuration::from_hours(24);

/// One alarm change: FNV-1a (32 bits) of the alarm name and the time it entered its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventKey(pub u32);

impl EventKey {
    pub fn of(alarm_name: &str, state_timestamp: &str) -> EventKey {
        let mut h: u32 = 0x811c_9dc5;
        for b in alarm_name
            .bytes()
            .chain([0u8])
            .chain(state_timestamp.bytes())
        {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        EventKey(h)
    }
}

impl fmt::Display for EventKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restart {
    pub at: Timestamp,
    pub event: EventKey,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Oldest first.
    entries: Vec<Restart>,
}

impl History {
    /// Reads a tag value. Anything but the format above is an error quoting the bad part: a
    /// hand-edited history must stop restarts until a human fixes it, never be guessed at.
    pub fn parse(value: &str) -> Result<History, String> {
        let mut entries = Vec::new();
        for token in value.split_whitespace() {
            let bad = || format!("{token:?} is not <unix seconds>:<8 hex digits>");
            let (secs, key) = token.split_once(':').ok_or_else(bad)?;
            if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) || key.len() != 8 {
                return Err(bad());
            }
            let secs: i64 = secs.parse().map_err(|_| bad())?;
            let at = Timestamp::from_second(secs).map_err(|_| bad())?;
            let key = u32::from_str_radix(key, 16).map_err(|_| bad())?;
            entries.push(Restart {
                at,
                event: EventKey(key),
            });
        }
        entries.sort_by_key(|r| r.at);
        Ok(History { entries })
    }

    pub fn entries(&self) -> &[Restart] {
        &self.entries
    }

    pub fn contains(&self, event: EventKey) -> bool {
        self.entries.iter().any(|r| r.event == event)
    }

    pub fn last(&self) -> Option<Timestamp> {
        self.entries.last().map(|r| r.at)
    }

    /// Restarts after `now - window`. Entries in the future (a skewed clock, an edit) count:
    /// when unsure, restart less.
    pub fn count_within(&self, now: Timestamp, window: SignedDuration) -> usize {
        let since = now - window;
        self.entries.iter().filter(|r| r.at > since).count()
    }

    /// This history with a restart at `now` added, entries older than both the window and a
    /// day dropped, and at most [`MAX_ENTRIES`] kept.
    pub fn with_restart(&self, now: Timestamp, event: EventKey, window: SignedDuration) -> History {
        let keep = window.max(KEEP_AT_LEAST);
        let since = now - keep;
        let mut entries: Vec<Restart> = self
            .entries
            .iter()
            .copied()
            .filter(|r| r.at > since)
            .collect();
        entries.push(Restart {
            at: Timestamp::from_second(now.as_second()).unwrap_or(now),
            event,
        });
        entries.sort_by_key(|r| r.at);
        let extra = entries.len().saturating_sub(MAX_ENTRIES);
        entries.drain(..extra);
        History { entries }
    }
}

impl fmt::Display for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{}:{}", r.at.as_second(), r.event)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn round_trip_and_order() {
        let h = History::parse("1763661880:2c26b46b  1763658280:9f86d081").unwrap();
        assert_eq!(h.to_string(), "1763658280:9f86d081 1763661880:2c26b46b");
        assert_eq!(h.last(), Some(at(1763661880)));
        assert!(h.contains(EventKey(0x9f86d081)));
        assert!(!h.contains(EventKey(1)));
        assert_eq!(History::parse("").unwrap(), History::default());
        assert_eq!(History::parse("  ").unwrap().to_string(), "");
    }

    #[test]
    fn garbage_is_an_error_quoting_the_bad_part() {
        for bad in [
            "yesterday",
            "1763658280",
            "1763658280:xyz",
            "1763658280:9f86d08",
            "-5:9f86d081",
            "1763658280:9f86d081,1763661880:2c26b46b",
            "99999999999999999999:9f86d081",
            "1763658280:9f86d081 oops",
        ] {
            let err = History::parse(bad).unwrap_err();
            assert!(err.contains("is not <unix seconds>"), "{bad}: {err}");
        }
    }

    #[test]
    fn event_keys_tell_changes_apart() {
        let a = EventKey::of("web-1", "2026-11-20T17:04:40.989+0000");
        assert_eq!(a, EventKey::of("web-1", "2026-11-20T17:04:40.989+0000"));
        assert_ne!(a, EventKey::of("web-1", "2026-11-20T17:04:40.990+0000"));
        assert_ne!(a, EventKey::of("web-2", "2026-11-20T17:04:40.989+0000"));
        // The separator keeps name and timestamp apart.
        assert_ne!(EventKey::of("ab", "c"), EventKey::of("a", "bc"));
        assert_eq!(a.to_string().len(), 8);
    }

    #[test]
    fn window_counts_only_restarts_after_its_start() {
        let h = History::parse("1000:00000001 2000:00000002 3000:00000003").unwrap();
        let w = SignedDuration::from_secs(1000);
        assert_eq!(h.count_within(at(3000), w), 1); // 2000 is exactly on the edge: out
        assert_eq!(h.count_within(at(2999), w), 2);
        assert_eq!(h.count_within(at(500), w), 3); // all in the "future": all count
    }

    #[test]
    fn adding_prunes_old_entries_and_caps_the_length() {
        let day = 86_400;
        let h = History::parse(&format!("100:00000001 {}:00000002", day + 50)).unwrap();
        let next = h.with_restart(at(day + 200), EventKey(3), SignedDuration::from_hours(6));
        // 100 is more than a day before; the second is kept for duplicate detection.
        assert_eq!(
            next.to_string(),
            format!("{}:00000002 {}:00000003", day + 50, day + 200)
        );

        let mut h = History::default();
        for i in 0..25u32 {
            h = h.with_restart(
                at(1_000_000 + i64::from(i)),
                EventKey(i),
                SignedDuration::from_hours(6),
            );
        }
        assert_eq!(h.entries().len(), MAX_ENTRIES);
        assert_eq!(h.entries()[0].event, EventKey(15));
        assert!(h.to_string().len() <= 256);
        assert_eq!(History::parse(&h.to_string()).unwrap(), h);
    }
}
