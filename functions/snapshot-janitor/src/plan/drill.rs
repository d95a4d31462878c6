//! Restore drills, pure: which snapshots a region restores this run, and what to make of the
//! drill volumes earlier runs left. A backup is proven only by coming back: each backed-up
//! volume's newest completed snapshot (every member of an instance's newest complete set; in a
//! copy region, the newest copies) is restored to a volume on drill days, measured, and the
//! volume deleted. A drill volume is deleted only when its seal proves it the janitor's own.

use std::collections::BTreeMap;

use fleetkeeper::seal::{KeyRing, Proof, fleetkeeper_claims};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::model::{DrillVolume, RESTORE_DRILL_TAG, Snapshot, State};

/// A snapshot to restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartDrill {
    pub snapshot_id: String,
    /// The volume it was taken of, whose zone the drill restores into when it is here.
    pub near: Option<String>,
}

/// A drill volume an earlier run left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Earlier {
    /// Available: the drill succeeded (measured from its creation); to delete.
    Done {
        volume_id: String,
        snapshot_id: String,
        seconds: u64,
    },
    /// In error, or in another state a drill volume should not be in; to delete.
    Failed {
        volume_id: String,
        snapshot_id: String,
        why: String,
    },
    /// Still creating: looked at again at the next run.
    Creating {
        volume_id: String,
        snapshot_id: String,
    },
    /// The tag without our seal: never touched.
    NotOurs {
        volume_id: String,
        reason: String,
        forged: bool,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrillPlan {
    pub start: Vec<StartDrill>,
    pub earlier: Vec<Earlier>,
}

/// Whether `now` is a drill day: every `days` days, counted from 1970-01-01 in `tz`.
pub fn drill_day(days: u32, now: Timestamp, tz: &TimeZone) -> bool {
    if days == 0 {
        return false;
    }
    let date = now.to_zoned(tz.clone()).date();
    let epoch = jiff::civil::date(1970, 1, 1);
    let n = (date - epoch).get_days();
    n.rem_euclid(days as i32) == 0
}

/// The newest completed snapshots of each backup among `ours` (sealed, of this region): a
/// volume's newest, or every member of an instance's newest complete set.
fn newest(ours: &[Snapshot]) -> Vec<&Snapshot> {
    let mut units: BTreeMap<String, Vec<&Snapshot>> = BTreeMap::new();
    for s in ours.iter().filter(|s| s.managed) {
        let unit = match (&s.instance_id, &s.set_id) {
            (Some(i), Some(_)) => format!("instance {i}"),
            _ => format!("volume {}", s.volume_id),
        };
        units.entry(unit).or_default().push(s);
    }
    let mut out = Vec::new();
    for members in units.values() {
        // By set (a lone snapshot is a set of one); the newest whose members all completed.
        let mut sets: BTreeMap<&str, Vec<&Snapshot>> = BTreeMap::new();
        for s in members {
            sets.entry(s.set_id.as_deref().unwrap_or(&s.id))
                .or_default()
                .push(s);
        }
        let best = sets
            .values()
            .filter(|set| set.iter().all(|s| s.state == State::Completed))
            .max_by_key(|set| set.iter().map(|s| s.started).max());
        out.extend(best.into_iter().flatten());
    }
    out
}

pub fn plan_drills(
    ours: &[Snapshot],
    volumes: &[DrillVolume],
    ring: &KeyRing,
    due: bool,
    now: Timestamp,
) -> DrillPlan {
    let mut plan = DrillPlan::default();
    let mut creating: Vec<&str> = Vec::new();
    for v in volumes {
        let snapshot_id = v.tags.get(RESTORE_DRILL_TAG).cloned().unwrap_or_default();
        let proof = ring.check(&v.id, &v.tags, &fleetkeeper_claims(&v.tags));
        if proof != Proof::Valid {
            plan.earlier.push(Earlier::NotOurs {
                volume_id: v.id.clone(),
                reason: proof.reason().unwrap_or_default(),
                forged: proof == Proof::Forged,
            });
            continue;
        }
        let volume_id = v.id.clone();
        plan.earlier.push(match v.state.as_str() {
            "available" => Earlier::Done {
                volume_id,
                snapshot_id,
                seconds: (now.as_second() - v.created.as_second()).max(0) as u64,
            },
            "creating" => {
                creating.push(v.tags[RESTORE_DRILL_TAG].as_str());
                Earlier::Creating {
                    volume_id,
                    snapshot_id,
                }
            }
            other => Earlier::Failed {
                volume_id,
                snapshot_id,
                why: format!("the drill volume is {other}"),
            },
        });
    }
    if due {
        for s in newest(ours) {
            if !creating.contains(&s.id.as_str()) {
                plan.start.push(StartDrill {
                    snapshot_id: s.id.clone(),
                    near: Some(s.volume_id.clone()).filter(|v| !v.is_empty()),
                });
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetkeeper::seal::{Key, SEAL_TAG};

    fn ring() -> KeyRing {
        KeyRing::new(Key::new("v-1", vec![9; 32]).unwrap())
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn snap(id: &str, volume: &str, set: Option<&str>, started: &str, state: State) -> Snapshot {
        Snapshot {
            id: id.into(),
            volume_id: volume.into(),
            managed: true,
            set_id: set.map(str::to_owned),
            instance_id: set.map(|s| s.split('@').next().unwrap().to_owned()),
            started: t(started),
            state,
            ..Default::default()
        }
    }

    fn drill_volume(id: &str, snapshot: &str, state: &str, sealed: bool) -> DrillVolume {
        let mut tags = BTreeMap::from([(RESTORE_DRILL_TAG.to_owned(), snapshot.to_owned())]);
        if sealed {
            let seal = ring().seal(id, &fleetkeeper_claims(&tags)).unwrap();
            tags.insert(SEAL_TAG.into(), seal);
        }
        DrillVolume {
            id: id.into(),
            state: state.into(),
            created: t("2026-11-21T02:00:00Z"),
            tags,
        }
    }

    #[test]
    fn every_few_days_counted_from_one_day_for_everyone() {
        let utc = TimeZone::UTC;
        assert!(!drill_day(0, t("2026-11-21T02:00:00Z"), &utc), "0 is off");
        assert!(drill_day(1, t("2026-11-21T02:00:00Z"), &utc));
        let days: Vec<bool> = (0..14)
            .map(|d| {
                drill_day(
                    7,
                    t("2026-11-21T02:00:00Z") + jiff::SignedDuration::from_hours(24 * d),
                    &utc,
                )
            })
            .collect();
        assert_eq!(days.iter().filter(|d| **d).count(), 2, "{days:?}");
    }

    #[test]
    fn the_newest_of_each_volume_and_every_member_of_the_newest_complete_set() {
        let ours = vec![
            snap(
                "snap-v-old",
                "vol-a",
                None,
                "2026-11-20T02:00:00Z",
                State::Completed,
            ),
            snap(
                "snap-v-new",
                "vol-a",
                None,
                "2026-11-21T02:00:00Z",
                State::Completed,
            ),
            snap(
                "snap-s1-a",
                "vol-r",
                Some("i-db@1"),
                "2026-11-20T02:00:00Z",
                State::Completed,
            ),
            snap(
                "snap-s1-b",
                "vol-d",
                Some("i-db@1"),
                "2026-11-20T02:00:00Z",
                State::Completed,
            ),
            // The newer set has a member still pending: the older complete one is drilled.
            snap(
                "snap-s2-a",
                "vol-r",
                Some("i-db@2"),
                "2026-11-21T02:00:00Z",
                State::Completed,
            ),
            snap(
                "snap-s2-b",
                "vol-d",
                Some("i-db@2"),
                "2026-11-21T02:00:00Z",
                State::Pending,
            ),
        ];
        let plan = plan_drills(&ours, &[], &ring(), true, t("2026-11-21T03:00:00Z"));
        let mut ids: Vec<&str> = plan.start.iter().map(|s| s.snapshot_id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, ["snap-s1-a", "snap-s1-b", "snap-v-new"]);
        assert!(
            plan_drills(&ours, &[], &ring(), false, t("2026-11-21T03:00:00Z"))
                .start
                .is_empty()
        );
    }

    #[test]
    fn earlier_drill_volumes_are_measured_deleted_waited_for_or_left_alone() {
        let ours = vec![snap(
            "snap-1",
            "vol-a",
            None,
            "2026-11-21T01:00:00Z",
            State::Completed,
        )];
        let volumes = vec![
            drill_volume("vol-done", "snap-0", "available", true),
            drill_volume("vol-slow", "snap-1", "creating", true),
            drill_volume("vol-bad", "snap-2", "error", true),
            drill_volume("vol-theirs", "snap-3", "available", false),
        ];
        let plan = plan_drills(&ours, &volumes, &ring(), true, t("2026-11-21T02:01:40Z"));
        assert_eq!(
            plan.earlier[0],
            Earlier::Done {
                volume_id: "vol-done".into(),
                snapshot_id: "snap-0".into(),
                seconds: 100
            }
        );
        assert!(matches!(plan.earlier[1], Earlier::Creating { .. }));
        assert!(matches!(plan.earlier[2], Earlier::Failed { .. }));
        assert!(matches!(plan.earlier[3], Earlier::NotOurs { .. }));
        assert!(plan.start.is_empty(), "snap-1's drill is still creating");
        // Every tag of a genuine drill volume copied onto another: not ours either.
        let mut forged = drill_volume("vol-copy", "snap-0", "available", false);
        forged.tags = volumes[0].tags.clone();
        let plan = plan_drills(&[], &[forged], &ring(), false, t("2026-11-21T03:00:00Z"));
        assert!(matches!(
            plan.earlier[0],
            Earlier::NotOurs { forged: true, .. }
        ));
    }
}
