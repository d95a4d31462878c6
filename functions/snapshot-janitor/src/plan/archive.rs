//! Archive plan, pure: which kept snapshots move to the archive tier (ARCHIVE_AFTER_DAYS).
//!
//! Only a completed snapshot that retention keeps for the monthly or yearly rules alone (never
//! the newest of a volume or instance, never one kept by keep-last, daily or weekly), older than
//! ARCHIVE_AFTER_DAYS and than 90 days (AWS bills an archived snapshot for 90 days at least),
//! and not archived already. A set's members share their verdict, so a set moves whole.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::plan::retention::{Decision, Snapshot, State};

pub use crate::model::MIN_ARCHIVE_DAYS;

/// One ModifySnapshotTier to `archive`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Archive {
    pub snapshot_id: String,
    pub size_gib: u64,
    pub reason: String,
}

pub fn plan_archive(
    snapshots: &[Snapshot],
    decisions: &[Decision],
    after_days: Option<u32>,
    now: Timestamp,
) -> Vec<Archive> {
    let Some(days) = after_days else {
        return Vec::new();
    };
    let days = u64::from(days).max(MIN_ARCHIVE_DAYS);
    let cutoff = now - SignedDuration::from_hours(24 * days as i64);
    decisions
        .iter()
        .filter(|d| d.only_long_term)
        .filter_map(|d| snapshots.iter().find(|s| s.id == d.id).map(|s| (d, s)))
        .filter(|(_, s)| s.state == State::Completed && !s.archived && s.started <= cutoff)
        .map(|(d, s)| Archive {
            snapshot_id: s.id.clone(),
            size_gib: s.size_gib,
            reason: format!("{} and older than {days} days: to the archive tier", d.rule),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn snap(id: &str, started: &str) -> Snapshot {
        Snapshot {
            id: id.into(),
            volume_id: "vol-1".into(),
            policy: "daily".into(),
            started: ts(started),
            managed: true,
            size_gib: 100,
            ..Default::default()
        }
    }

    fn kept(id: &str, rule: &str, only_long_term: bool) -> Decision {
        Decision {
            id: id.into(),
            volume_id: "vol-1".into(),
            set_id: None,
            delete: false,
            rule: rule.into(),
            only_long_term,
        }
    }

    #[test]
    fn only_long_term_old_enough_and_not_yet_archived() {
        let now = ts("2026-12-01T00:00:00Z");
        let mut archived = snap("snap-done", "2026-01-01T00:00:00Z");
        archived.archived = true;
        let snaps = [
            snap("snap-old", "2026-08-01T00:00:00Z"),   // 122 days
            snap("snap-young", "2026-09-15T00:00:00Z"), // 77 days
            snap("snap-last", "2026-06-01T00:00:00Z"),  // kept by last too
            archived,
        ];
        let decisions = [
            kept("snap-old", "kept by monthly", true),
            kept("snap-young", "kept by monthly", true),
            kept("snap-last", "kept by last, monthly", false),
            kept("snap-done", "kept by yearly", true),
        ];
        let plan = plan_archive(&snaps, &decisions, Some(90), now);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].snapshot_id, "snap-old");
        assert_eq!(plan[0].size_gib, 100);
        assert!(
            plan[0]
                .reason
                .starts_with("kept by monthly and older than 90 days")
        );
        assert!(plan_archive(&snaps, &decisions, None, now).is_empty());
        // A later threshold: not yet.
        assert!(plan_archive(&snaps, &decisions, Some(180), now).is_empty());
        // Exactly at the boundary it moves; a second before, it does not.
        let edge = [snap("snap-edge", "2026-09-02T00:00:00Z")];
        let d = [kept("snap-edge", "kept by yearly", true)];
        assert_eq!(plan_archive(&edge, &d, Some(90), now).len(), 1);
        let before = ts("2026-11-30T23:59:59Z");
        assert!(plan_archive(&edge, &d, Some(90), before).is_empty());
    }
}
