//! Copy plan, pure: which of a source region's snapshots get a copy in a destination region.
//!
//! A copy is made once per source and destination (found again by its `fleetkeeper:copy-of`
//! tag). Going forward, every completed snapshot newer than the newest one already copied for
//! its volume (or instance) and policy is copied; where nothing was copied yet, only the newest,
//! so turning COPY_TO on does not copy a whole history. A snapshot still pending is copied on a
//! later run; one that retention lets go this run is not copied at all. A set's members are
//! copied together and keep its set id, so the destination keeps or deletes the set whole too.

use fleetkeeper::seal::SEAL_TAG;
use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::Serialize;

use crate::plan::create::{COPY_OF_TAG, SOURCE_REGION_TAG, SOURCE_TIME_TAG};
use crate::plan::retention::{Decision, Snapshot, State};

/// One CopySnapshot into the destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Copy {
    pub source_id: String,
    pub source_region: String,
    pub destination: String,
    pub description: String,
    pub tags: BTreeMap<String, String>,
    pub kms_key: Option<String>,
    pub reason: String,
}

/// A snapshot not copied yet, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    pub source_id: String,
    pub destination: String,
    pub reason: String,
}

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct CopyPlan {
    pub copy: Vec<Copy>,
    pub pending: Vec<Pending>,
}

/// The volume (or, for a set, the instance) and policy a snapshot counts under.
fn owner(s: &Snapshot) -> (String, String) {
    let who = match (&s.set_id, &s.instance_id) {
        (Some(_), Some(i)) => i.clone(),
        _ => s.volume_id.clone(),
    };
    (who, s.policy.clone())
}

/// `sources`: the source region's snapshots of ours (copies excluded); `decisions`: this run's
/// retention verdicts on them; `copies`: the copies of ours already in `destination`.
pub fn plan_copies(
    source_region: &str,
    sources: &[Snapshot],
    decisions: &[Decision],
    destination: &str,
    copies: &[Snapshot],
    kms_key: Option<&str>,
) -> CopyPlan {
    let mut plan = CopyPlan::default();
    let copied: BTreeSet<&str> = copies.iter().filter_map(|c| c.copy_of.as_deref()).collect();
    let going: BTreeSet<&str> = decisions
        .iter()
        .filter(|d| d.delete)
        .map(|d| d.id.as_str())
        .collect();
    // The newest source time already copied, per owner and policy.
    let mut newest_copied: BTreeMap<(String, String), Timestamp> = BTreeMap::new();
    for c in copies.iter().filter(|c| c.copy_of.is_some()) {
        let at = c.source_started.unwrap_or(c.started);
        let e = newest_copied.entry(owner(c)).or_insert(at);
        *e = (*e).max(at);
    }
    let mut by_owner: BTreeMap<(String, String), Vec<&Snapshot>> = BTreeMap::new();
    for s in sources.iter().filter(|s| s.managed && s.copy_of.is_none()) {
        by_owner.entry(owner(s)).or_default().push(s);
    }
    for (key, mut snaps) in by_owner {
        snaps.sort_by(|a, b| (b.started, &b.id).cmp(&(a.started, &a.id)));
        let mut wanted: Vec<&Snapshot> = match newest_copied.get(&key) {
            // Everything not older than what was copied (times are to the second; what was
            // copied already is left out below), oldest first.
            Some(last) => snaps
                .iter()
                .rev()
                .copied()
                .filter(|s| s.started >= *last)
                .collect(),
            // Nothing copied yet: the newest unit only (a set's members share its instant).
            None => match snaps.first() {
                Some(newest) => {
                    let unit = newest.set_id.as_deref();
                    snaps
                        .iter()
                        .copied()
                        .filter(|s| match unit {
                            Some(set) => s.set_id.as_deref() == Some(set),
                            None => s.id == newest.id,
                        })
                        .collect()
                }
                None => Vec::new(),
            },
        };
        // A set copied in part (a refusal stopped it): the rest of it, whatever its times.
        let partial: BTreeSet<&str> = snaps
            .iter()
            .filter(|s| copied.contains(s.id.as_str()))
            .filter_map(|s| s.set_id.as_deref())
            .collect();
        for s in &snaps {
            if s.set_id.as_deref().is_some_and(|set| partial.contains(set))
                && !wanted.iter().any(|w| w.id == s.id)
            {
                wanted.push(s);
            }
        }
        for s in wanted {
            if copied.contains(s.id.as_str()) || going.contains(s.id.as_str()) {
                continue;
            }
            match s.state {
                State::Error => continue,
                State::Pending => {
                    plan.pending.push(Pending {
                        source_id: s.id.clone(),
                        destination: destination.to_owned(),
                        reason: "still pending: copied on a later run".into(),
                    });
                    continue;
                }
                State::Completed => {}
            }
            let mut tags: BTreeMap<String, String> = s
                .tags
                .iter()
                // The source's seal is bound to the source's id: the copy gets its own.
                .filter(|(k, _)| !k.starts_with("aws:") && k.as_str() != SEAL_TAG)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            tags.insert(COPY_OF_TAG.into(), s.id.clone());
            tags.insert(SOURCE_REGION_TAG.into(), source_region.to_owned());
            tags.insert(SOURCE_TIME_TAG.into(), s.started.to_string());
            plan.copy.push(Copy {
                source_id: s.id.clone(),
                source_region: source_region.to_owned(),
                destination: destination.to_owned(),
                description: format!(
                    "fleetkeeper snapshot-janitor: copy of {} from {source_region} ({}, policy {})",
                    s.id, key.0, s.policy
                ),
                tags,
                kms_key: kms_key.map(str::to_owned),
                reason: format!("no copy in {destination} yet"),
            });
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::create::{MANAGED_BY, MANAGED_BY_TAG};

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
            tags: [
                (MANAGED_BY_TAG.to_owned(), MANAGED_BY.to_owned()),
                ("Name".to_owned(), "db".to_owned()),
            ]
            .into(),
            ..Default::default()
        }
    }

    fn copy_of(id: &str, source: &Snapshot) -> Snapshot {
        Snapshot {
            id: id.into(),
            copy_of: Some(source.id.clone()),
            source_started: Some(source.started),
            started: ts("2026-12-01T00:00:00Z"),
            ..source.clone()
        }
    }

    #[test]
    fn first_the_newest_then_every_newer_one_once() {
        let old = snap(
            "snap-old",
            "vol-1",
            "2026-11-20T02:00:00Z",
            State::Completed,
        );
        let new = snap(
            "snap-new",
            "vol-1",
            "2026-11-21T02:00:00Z",
            State::Completed,
        );
        let sources = [old.clone(), new.clone()];
        let p = plan_copies("us-east-1", &sources, &[], "eu-west-1", &[], None);
        assert_eq!(p.copy.len(), 1, "not the whole history");
        let c = &p.copy[0];
        assert_eq!(c.source_id, "snap-new");
        assert_eq!(c.tags[COPY_OF_TAG], "snap-new");
        assert_eq!(c.tags[SOURCE_REGION_TAG], "us-east-1");
        assert_eq!(c.tags[SOURCE_TIME_TAG], "2026-11-21T02:00:00Z");
        assert_eq!(c.tags["Name"], "db");

        // Copied already: nothing again, even after the destination pruned older copies.
        let copies = [copy_of("snap-c1", &new)];
        assert!(
            plan_copies("us-east-1", &sources, &[], "eu-west-1", &copies, None)
                .copy
                .is_empty()
        );
        // A newer one comes, and one still pending.
        let newer = snap(
            "snap-newer",
            "vol-1",
            "2026-11-22T02:00:00Z",
            State::Completed,
        );
        let pending = snap(
            "snap-pending",
            "vol-1",
            "2026-11-23T02:00:00Z",
            State::Pending,
        );
        let sources = [old, new, newer, pending];
        let key = "arn:aws:kms:eu-west-1:123456789012:key/k";
        let p = plan_copies("us-east-1", &sources, &[], "eu-west-1", &copies, Some(key));
        assert_eq!(p.copy.len(), 1);
        assert_eq!(p.copy[0].source_id, "snap-newer");
        assert_eq!(p.copy[0].kms_key.as_deref(), Some(key));
        assert_eq!(p.pending[0].source_id, "snap-pending");
    }

    #[test]
    fn the_rest_of_a_set_copied_in_part_follows() {
        let a = Snapshot {
            set_id: Some("i-db@1".into()),
            instance_id: Some("i-db".into()),
            ..snap("s-a", "vol-a", "2026-11-21T02:00:01Z", State::Completed)
        };
        let b = Snapshot {
            id: "s-b".into(),
            volume_id: "vol-b".into(),
            started: ts("2026-11-21T02:00:00Z"),
            ..a.clone()
        };
        let copies = [copy_of("c-a", &a)];
        let p = plan_copies("us-east-1", &[a, b], &[], "eu-west-1", &copies, None);
        let ids: Vec<&str> = p.copy.iter().map(|c| c.source_id.as_str()).collect();
        assert_eq!(ids, ["s-b"]);
    }

    #[test]
    fn a_set_is_copied_whole_and_what_retention_drops_is_not_copied() {
        let member = |id: &str, vol: &str| Snapshot {
            set_id: Some("i-db@1".into()),
            instance_id: Some("i-db".into()),
            ..snap(id, vol, "2026-11-21T02:00:00Z", State::Completed)
        };
        let sources = [member("s-a", "vol-a"), member("s-b", "vol-b")];
        let p = plan_copies("us-east-1", &sources, &[], "eu-west-1", &[], None);
        let mut ids: Vec<&str> = p.copy.iter().map(|c| c.source_id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, ["s-a", "s-b"]);
        let going = [Decision {
            id: "snap-1".into(),
            volume_id: "vol-1".into(),
            set_id: None,
            delete: true,
            rule: "no retention rule keeps it".into(),
            only_long_term: false,
        }];
        let lone = [snap(
            "snap-1",
            "vol-1",
            "2026-11-21T02:00:00Z",
            State::Completed,
        )];
        assert!(
            plan_copies("us-east-1", &lone, &going, "eu-west-1", &[], None)
                .copy
                .is_empty()
        );
    }
}
