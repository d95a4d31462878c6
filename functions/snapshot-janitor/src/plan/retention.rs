//! Retention: which of fleetkeeper's snapshots to keep and which to delete, and the rule that
//! decided each. Pure: no I/O; `now` and the time zone come in as arguments.
//!
//! Rules, per volume and policy, over completed snapshots (a snapshot stays if any rule keeps it):
//! - `keep_last`: the newest N.
//! - `daily`, `weekly`, `monthly`, `yearly`: for each of the N most recent days (ISO weeks,
//!   months, years) that have a snapshot, the newest one of that period (grandfather-father-son).
//! - The newest completed snapshot of a volume always stays, even after the volume is gone,
//!   unless `orphan_grace_days` is set and that long has passed since it was taken.
//!
//! Never candidates: snapshots without the managed-by tag (not ours) and pending ones.
//! Snapshots in state `error` are deleted (the create step takes a new one).

use std::collections::{BTreeMap, BTreeSet};

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Serialize;

pub use crate::model::{Rules, Snapshot, State};

/// The calendar period (day, ISO week, month or year) a local time falls in.
type PeriodOf = fn(&jiff::Zoned) -> (i32, i32, i32);

/// The verdict on one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub id: String,
    pub volume_id: String,
    /// The set it belongs to: every snapshot of a set gets the same verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_id: Option<String>,
    pub delete: bool,
    /// The rules that keep it, or why it goes.
    pub rule: String,
    /// Kept only by the monthly or yearly rules: a candidate for the archive tier.
    #[serde(skip)]
    pub only_long_term: bool,
}

/// What retention decides on: one snapshot, or a whole set.
struct Unit<'a> {
    /// The set id, or the snapshot id: ties between equal start times break on it.
    id: &'a str,
    /// The volume, or for a set the instance.
    owner: &'a str,
    policy: &'a str,
    members: Vec<&'a Snapshot>,
    /// The earliest start of its members.
    started: Timestamp,
    /// Pending if any member is, else error if any member is, else completed.
    state: State,
}

fn units(snapshots: &[Snapshot]) -> Vec<Unit<'_>> {
    let mut by_id: BTreeMap<&str, Unit<'_>> = BTreeMap::new();
    for s in snapshots.iter().filter(|s| s.managed) {
        let (id, owner) = match &s.set_id {
            Some(set) => (set.as_str(), s.instance_id.as_deref().unwrap_or(set)),
            None => (s.id.as_str(), s.volume_id.as_str()),
        };
        let u = by_id.entry(id).or_insert_with(|| Unit {
            id,
            owner,
            policy: &s.policy,
            members: Vec::new(),
            started: s.started,
            state: State::Completed,
        });
        u.members.push(s);
        u.started = u.started.min(s.started);
        u.state = match (u.state, s.state) {
            (State::Pending, _) | (_, State::Pending) => State::Pending,
            (State::Error, _) | (_, State::Error) => State::Error,
            _ => State::Completed,
        };
    }
    by_id.into_values().collect()
}

/// MAX_DELETES is one budget for the whole run, over every region and account: each region
/// in turn (the order of REGIONS) takes what it needs of what is left. `doomed[i]` is how many
/// snapshots region i would delete; the result is how many it may.
pub fn share_deletes(doomed: &[usize], max_deletes: usize) -> Vec<usize> {
    let mut left = max_deletes;
    doomed
        .iter()
        .map(|&n| {
            let take = n.min(left);
            left -= take;
            take
        })
        .collect()
}

/// Decides every managed snapshot, a set as one unit. `live` holds the volumes and the
/// instances that still exist (and are still tagged for backup).
pub fn decide(
    snapshots: &[Snapshot],
    live: &BTreeSet<String>,
    rules: &Rules,
    tz: &TimeZone,
    now: Timestamp,
) -> Vec<Decision> {
    let all = units(snapshots);
    let mut groups: BTreeMap<(&str, &str), Vec<&Unit>> = BTreeMap::new();
    for u in &all {
        groups.entry((u.owner, u.policy)).or_default().push(u);
    }
    // The newest completed unit of each volume (or instance), over all its policies.
    let mut newest_of_owner: BTreeMap<&str, &Unit> = BTreeMap::new();
    for u in all.iter().filter(|u| u.state == State::Completed) {
        let e = newest_of_owner.entry(u.owner).or_insert(u);
        if (u.started, u.id) > (e.started, e.id) {
            *e = u;
        }
    }

    let mut out = Vec::new();
    for ((owner, _policy), mut group) in groups {
        // Newest first; the id breaks ties so the order never depends on input order.
        group.sort_by(|a, b| (b.started, b.id).cmp(&(a.started, a.id)));
        let completed: Vec<&Unit> = group
            .iter()
            .copied()
            .filter(|u| u.state == State::Completed)
            .collect();
        let mut keep: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for u in completed.iter().take(rules.keep_last as usize) {
            keep.entry(u.id).or_default().push("last".into());
        }
        let periods: [(&str, u32, PeriodOf); 4] = [
            ("daily", rules.daily, |z| {
                (z.year() as i32, z.month() as i32, z.day() as i32)
            }),
            ("weekly", rules.weekly, |z| {
                let w = z.date().iso_week_date();
                (w.year() as i32, w.week() as i32, 0)
            }),
            ("monthly", rules.monthly, |z| {
                (z.year() as i32, z.month() as i32, 0)
            }),
            ("yearly", rules.yearly, |z| (z.year() as i32, 0, 0)),
        ];
        for (name, count, period_of) in periods {
            let mut seen = BTreeSet::new();
            for u in &completed {
                if seen.len() as u32 >= count {
                    break;
                }
                // Newest first, so the first unit met in a period is that period's newest.
                if seen.insert(period_of(&u.started.to_zoned(tz.clone()))) {
                    keep.entry(u.id).or_default().push(name.into());
                }
            }
        }
        if let Some(newest) = newest_of_owner.get(owner) {
            let gone = !live.contains(owner);
            let grace_over = rules.orphan_grace_days.is_some_and(|days| {
                newest
                    .started
                    .checked_add((days as i64 * 24).hours())
                    .is_ok_and(|until| until <= now)
            });
            if group.iter().any(|u| u.id == newest.id) && !(gone && grace_over) {
                let of = if newest.members[0].set_id.is_some() {
                    "newest of its instance"
                } else {
                    "newest of its volume"
                };
                keep.entry(newest.id).or_default().push(of.into());
            }
        }
        for u in group {
            let (delete, rule) = match (u.state, keep.get(u.id)) {
                (State::Pending, _) => (false, "pending: never deleted".to_owned()),
                (State::Error, _) => (true, "failed snapshot (state error)".to_owned()),
                (State::Completed, Some(rules)) => (false, format!("kept by {}", rules.join(", "))),
                (State::Completed, None) => (true, "no retention rule keeps it".to_owned()),
            };
            let only_long_term = keep
                .get(u.id)
                .is_some_and(|rules| rules.iter().all(|r| r == "monthly" || r == "yearly"));
            for s in &u.members {
                out.push(Decision {
                    id: s.id.clone(),
                    volume_id: s.volume_id.clone(),
                    set_id: s.set_id.clone(),
                    delete,
                    rule: rule.clone(),
                    only_long_term: !delete && only_long_term,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetkeeper::Env;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn snap(id: &str, vol: &str, started: &str, state: State) -> Snapshot {
        Snapshot {
            id: id.into(),
            volume_id: vol.into(),
            policy: "daily".into(),
            state,
            started: ts(started),
            managed: true,
            ..Default::default()
        }
    }

    fn rules(keep_last: u32) -> Rules {
        Rules {
            keep_last,
            daily: 0,
            weekly: 0,
            monthly: 0,
            yearly: 0,
            orphan_grace_days: None,
        }
    }

    fn deleted(d: &[Decision]) -> Vec<&str> {
        d.iter()
            .filter(|d| d.delete)
            .map(|d| d.id.as_str())
            .collect()
    }

    fn live(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn max_deletes_is_one_budget_over_all_regions() {
        assert_eq!(share_deletes(&[3, 3], 2), vec![2, 0]);
        assert_eq!(share_deletes(&[1, 3, 2], 3), vec![1, 2, 0]);
        assert_eq!(share_deletes(&[0, 5], 10), vec![0, 5]);
        assert_eq!(share_deletes(&[4, 4], 0), vec![0, 0]);
        assert_eq!(share_deletes(&[], 5), Vec::<usize>::new());
        let quotas = share_deletes(&[7, 9, 2, 11], 15);
        assert_eq!(quotas.iter().sum::<usize>(), 15);
    }

    #[test]
    fn keep_last_keeps_the_newest_n() {
        let snaps: Vec<Snapshot> = (1..=5)
            .map(|d| {
                snap(
                    &format!("snap-{d}"),
                    "vol-1",
                    &format!("2026-11-0{d}T03:00:00Z"),
                    State::Completed,
                )
            })
            .collect();
        let d = decide(
            &snaps,
            &live(&["vol-1"]),
            &rules(2),
            &TimeZone::UTC,
            ts("2026-11-06T00:00:00Z"),
        );
        assert_eq!(deleted(&d), vec!["snap-3", "snap-2", "snap-1"]);
        assert!(
            d.iter()
                .find(|x| x.id == "snap-5")
                .unwrap()
                .rule
                .contains("last")
        );
    }

    #[test]
    fn gfs_keeps_the_newest_of_each_period() {
        // Two snapshots a day for 60 days: daily 3, weekly 2, monthly 2.
        let mut snaps = Vec::new();
        let start = ts("2026-09-01T00:00:00Z");
        for i in 0..120 {
            let t = start.checked_add((i * 12).hours()).unwrap();
            snaps.push(Snapshot {
                id: format!("snap-{i:03}"),
                volume_id: "vol-1".into(),
                policy: "daily".into(),
                state: State::Completed,
                started: t,
                managed: true,
                ..Default::default()
            });
        }
        let r = Rules {
            keep_last: 0,
            daily: 3,
            weekly: 2,
            monthly: 2,
            yearly: 0,
            orphan_grace_days: None,
        };
        let d = decide(
            &snaps,
            &live(&["vol-1"]),
            &r,
            &TimeZone::UTC,
            ts("2026-11-01T00:00:00Z"),
        );
        let kept: Vec<&Decision> = d.iter().filter(|x| !x.delete).collect();
        // Newest three days' newest (119, 117, 115), weekly adds the end of the previous ISO
        // week, monthly the end of September: at most 3 + 2 + 2 distinct.
        assert!(kept.len() <= 7 && kept.len() >= 4, "{kept:?}");
        assert!(
            kept.iter()
                .any(|k| k.id == "snap-119" && k.rule.contains("daily"))
        );
        let sept_end = d.iter().find(|x| x.id == "snap-059").unwrap();
        assert!(
            !sept_end.delete && sept_end.rule.contains("monthly"),
            "{sept_end:?}"
        );
    }

    #[test]
    fn daily_periods_follow_the_time_zone() {
        // 23:30 UTC and 00:30 UTC next day are the same day in New York.
        let snaps = vec![
            snap("a", "vol-1", "2026-11-02T23:30:00Z", State::Completed),
            snap("b", "vol-1", "2026-11-03T00:30:00Z", State::Completed),
        ];
        let mut r = rules(0);
        r.daily = 2;
        let ny = TimeZone::get("America/New_York").unwrap();
        let d = decide(
            &snaps,
            &live(&["vol-1"]),
            &r,
            &ny,
            ts("2026-11-04T00:00:00Z"),
        );
        assert_eq!(deleted(&d), vec!["a"], "one local day, its newest kept");
        let d = decide(
            &snaps,
            &live(&["vol-1"]),
            &r,
            &TimeZone::UTC,
            ts("2026-11-04T00:00:00Z"),
        );
        assert!(deleted(&d).is_empty(), "two UTC days");
    }

    #[test]
    fn newest_of_a_gone_volume_stays_until_the_grace_passes() {
        let snaps = vec![
            snap("old", "vol-gone", "2026-01-01T00:00:00Z", State::Completed),
            snap(
                "newest",
                "vol-gone",
                "2026-02-01T00:00:00Z",
                State::Completed,
            ),
        ];
        let now = ts("2026-11-01T00:00:00Z");
        let d = decide(&snaps, &live(&[]), &rules(0), &TimeZone::UTC, now);
        assert_eq!(deleted(&d), vec!["old"]);
        let mut r = rules(0);
        r.orphan_grace_days = Some(400);
        assert_eq!(
            deleted(&decide(&snaps, &live(&[]), &r, &TimeZone::UTC, now)),
            vec!["old"]
        );
        r.orphan_grace_days = Some(30);
        assert_eq!(
            deleted(&decide(&snaps, &live(&[]), &r, &TimeZone::UTC, now)),
            vec!["newest", "old"]
        );
        // A live volume's newest stays whatever the grace.
        assert_eq!(
            deleted(&decide(
                &snaps,
                &live(&["vol-gone"]),
                &r,
                &TimeZone::UTC,
                now
            )),
            vec!["old"]
        );
    }

    #[test]
    fn pending_and_foreign_are_never_deleted_error_is() {
        let mut foreign = snap("foreign", "vol-1", "2026-01-01T00:00:00Z", State::Completed);
        foreign.managed = false;
        let snaps = vec![
            foreign,
            snap("pending", "vol-1", "2026-01-02T00:00:00Z", State::Pending),
            snap("broken", "vol-1", "2026-01-03T00:00:00Z", State::Error),
            snap("good", "vol-1", "2026-01-01T12:00:00Z", State::Completed),
        ];
        let d = decide(
            &snaps,
            &live(&["vol-1"]),
            &rules(0),
            &TimeZone::UTC,
            ts("2026-11-01T00:00:00Z"),
        );
        assert!(
            d.iter().all(|x| x.id != "foreign"),
            "not ours: not even considered"
        );
        assert_eq!(deleted(&d), vec!["broken"]);
        assert!(
            d.iter()
                .find(|x| x.id == "pending")
                .unwrap()
                .rule
                .starts_with("pending")
        );
        assert!(
            d.iter()
                .find(|x| x.id == "good")
                .unwrap()
                .rule
                .contains("newest of its volume")
        );
    }

    #[test]
    fn a_set_is_kept_or_deleted_whole() {
        let member = |id: &str, vol: &str, set: &str, started: &str, state: State| Snapshot {
            set_id: Some(set.into()),
            instance_id: Some("i-db".into()),
            ..snap(id, vol, started, state)
        };
        let snaps = vec![
            member(
                "s1a",
                "vol-a",
                "set-1",
                "2026-11-01T02:00:00Z",
                State::Completed,
            ),
            member(
                "s1b",
                "vol-b",
                "set-1",
                "2026-11-01T02:00:01Z",
                State::Completed,
            ),
            member(
                "s2a",
                "vol-a",
                "set-2",
                "2026-11-02T02:00:00Z",
                State::Completed,
            ),
            member(
                "s2b",
                "vol-b",
                "set-2",
                "2026-11-02T02:00:01Z",
                State::Completed,
            ),
            // The newest set is half pending: it is kept, whole, and is not yet the newest.
            member(
                "s3a",
                "vol-a",
                "set-3",
                "2026-11-03T02:00:00Z",
                State::Completed,
            ),
            member(
                "s3b",
                "vol-b",
                "set-3",
                "2026-11-03T02:00:01Z",
                State::Pending,
            ),
            // A set with a failed member goes, whole.
            member(
                "s0a",
                "vol-a",
                "set-0",
                "2026-10-31T02:00:00Z",
                State::Error,
            ),
            member(
                "s0b",
                "vol-b",
                "set-0",
                "2026-10-31T02:00:01Z",
                State::Completed,
            ),
        ];
        let live = BTreeSet::from(["i-db".to_owned()]);
        let tz = TimeZone::UTC;
        let d = decide(&snaps, &live, &rules(1), &tz, ts("2026-11-04T00:00:00Z"));
        let mut gone = deleted(&d);
        gone.sort();
        assert_eq!(gone, ["s0a", "s0b", "s1a", "s1b"]);
        let kept = d.iter().find(|x| x.id == "s2b").unwrap();
        assert_eq!(kept.rule, "kept by last, newest of its instance");
        assert_eq!(kept.set_id.as_deref(), Some("set-2"));
    }

    #[test]
    fn bad_rule_values_are_named() {
        for (var, value) in [
            ("KEEP_LAST", "-1"),
            ("KEEP_DAILY", "many"),
            ("ORPHAN_GRACE_DAYS", "0"),
        ] {
            let err = Rules::from_env(&Env::from_pairs([(var, value)])).unwrap_err();
            assert!(err.to_string().contains(var), "{err}");
        }
        let r = Rules::from_env(&Env::from_pairs::<&str, &str>([])).unwrap();
        assert_eq!((r.keep_last, r.orphan_grace_days), (7, None));
    }

    /// A deterministic generator for the property tests (no extra dependency).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    fn random_history(rng: &mut Rng) -> (Vec<Snapshot>, BTreeSet<String>, Rules) {
        let volumes = 1 + rng.below(4);
        let base = ts("2025-01-01T00:00:00Z");
        let mut snaps = Vec::new();
        let mut live = BTreeSet::new();
        for v in 0..volumes {
            let vol = format!("vol-{v}");
            if rng.below(4) != 0 {
                live.insert(vol.clone());
            }
            for i in 0..rng.below(80) {
                let state = match rng.below(20) {
                    0 => State::Pending,
                    1 => State::Error,
                    _ => State::Completed,
                };
                snaps.push(Snapshot {
                    id: format!("snap-{v}-{i}"),
                    volume_id: vol.clone(),
                    policy: if rng.below(5) == 0 {
                        "weekly".into()
                    } else {
                        "daily".into()
                    },
                    state,
                    started: base
                        .checked_add((rng.below(700 * 24) as i64).hours())
                        .unwrap(),
                    managed: rng.below(10) != 0,
                    ..Default::default()
                });
            }
        }
        // Sets: an instance's volumes taken together, a few seconds apart.
        for n in 0..rng.below(3) {
            let instance = format!("i-{n}");
            if rng.below(4) != 0 {
                live.insert(instance.clone());
            }
            let volumes = 1 + rng.below(3);
            for k in 0..rng.below(40) {
                let at = base
                    .checked_add((rng.below(700 * 24) as i64).hours())
                    .unwrap();
                let set = format!("{instance}@{k}");
                let policy = if rng.below(5) == 0 { "weekly" } else { "daily" };
                for v in 0..volumes {
                    snaps.push(Snapshot {
                        id: format!("snap-{set}-{v}"),
                        volume_id: format!("vol-{instance}-{v}"),
                        policy: policy.into(),
                        state: match rng.below(30) {
                            0 => State::Pending,
                            1 => State::Error,
                            _ => State::Completed,
                        },
                        started: at.checked_add((v as i64).seconds()).unwrap(),
                        managed: true,
                        set_id: Some(set.clone()),
                        instance_id: Some(instance.clone()),
                        ..Default::default()
                    });
                }
            }
        }
        let rules = Rules {
            keep_last: rng.below(6) as u32,
            daily: rng.below(8) as u32,
            weekly: rng.below(5) as u32,
            monthly: rng.below(4) as u32,
            yearly: rng.below(3) as u32,
            orphan_grace_days: if rng.below(2) == 0 {
                None
            } else {
                Some(1 + rng.below(400) as u32)
            },
        };
        (snaps, live, rules)
    }

    #[test]
    fn properties_over_random_histories() {
        let mut rng = Rng(0x5EED_1234_ABCD_0001);
        let now = ts("2026-12-01T00:00:00Z");
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        for case in 0..500 {
            let (snaps, live, rules) = random_history(&mut rng);
            let d = decide(&snaps, &live, &rules, &tz, now);
            let gone: BTreeSet<&str> = d
                .iter()
                .filter(|x| x.delete)
                .map(|x| x.id.as_str())
                .collect();
            let by_id: BTreeMap<&str, &Snapshot> =
                snaps.iter().map(|s| (s.id.as_str(), s)).collect();
            for id in &gone {
                let s = by_id[id];
                assert!(s.managed, "case {case}: deleted a foreign snapshot {id}");
                assert_ne!(
                    s.state,
                    State::Pending,
                    "case {case}: deleted a pending snapshot {id}"
                );
            }
            // A set is kept or deleted whole, never half.
            let mut verdicts: BTreeMap<&str, BTreeSet<bool>> = BTreeMap::new();
            for x in &d {
                if let Some(set) = &x.set_id {
                    verdicts.entry(set).or_default().insert(x.delete);
                }
            }
            for (set, v) in &verdicts {
                assert_eq!(v.len(), 1, "case {case}: set {set} split: {d:?}");
            }
            // The newest whole completed set of each instance survives unless orphaned past grace.
            let mut sets: BTreeMap<&str, (Timestamp, &str, bool, &str)> = BTreeMap::new();
            for s in snaps.iter().filter(|s| s.set_id.is_some()) {
                let set = s.set_id.as_deref().unwrap();
                let e = sets.entry(set).or_insert((
                    s.started,
                    set,
                    true,
                    s.instance_id.as_deref().unwrap(),
                ));
                e.0 = e.0.min(s.started);
                e.2 &= s.state == State::Completed;
            }
            let mut newest_set: BTreeMap<&str, (Timestamp, &str)> = BTreeMap::new();
            for (started, set, complete, instance) in sets.values() {
                if *complete {
                    let e = newest_set.entry(instance).or_insert((*started, set));
                    if (*started, *set) > *e {
                        *e = (*started, set);
                    }
                }
            }
            for (instance, (started, set)) in &newest_set {
                let expired = !live.contains(*instance)
                    && rules.orphan_grace_days.is_some_and(|g| {
                        started.checked_add((g as i64 * 24).hours()).unwrap() <= now
                    });
                let deleted = d
                    .iter()
                    .any(|x| x.set_id.as_deref() == Some(set) && x.delete);
                assert!(
                    expired || !deleted,
                    "case {case}: deleted the newest set of {instance}"
                );
            }
            // The newest completed snapshot of each volume survives unless orphaned past grace.
            let mut newest: BTreeMap<&str, &Snapshot> = BTreeMap::new();
            for s in snaps
                .iter()
                .filter(|s| s.managed && s.state == State::Completed && s.set_id.is_none())
            {
                let e = newest.entry(&s.volume_id).or_insert(s);
                if (s.started, &s.id) > (e.started, &e.id) {
                    *e = s;
                }
            }
            for (vol, s) in &newest {
                let orphan_expired = !live.contains(*vol)
                    && rules.orphan_grace_days.is_some_and(|g| {
                        s.started.checked_add((g as i64 * 24).hours()).unwrap() <= now
                    });
                if !orphan_expired {
                    assert!(
                        !gone.contains(s.id.as_str()),
                        "case {case}: deleted the newest of {vol}"
                    );
                }
            }
            // Planning again on what is left deletes nothing more.
            let left: Vec<Snapshot> = snaps
                .iter()
                .filter(|s| !gone.contains(s.id.as_str()))
                .cloned()
                .collect();
            let again = decide(&left, &live, &rules, &tz, now);
            let more: Vec<&str> = again
                .iter()
                .filter(|x| x.delete)
                .map(|x| x.id.as_str())
                .collect();
            assert!(
                more.is_empty(),
                "case {case}: second plan deletes {more:?} with {rules:?}"
            );
        }
    }
}
