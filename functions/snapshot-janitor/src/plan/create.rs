//! Create plan: which tagged volumes get a snapshot this run, with the tags and description
//! it will carry. Pure: no I/O; `now` and the time zone come in as arguments.
//!
//! At most one snapshot per volume per policy period (a rerun the same day creates none); a
//! volume whose snapshot of this period failed (state `error`) is snapshotted again.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::plan::retention::{Snapshot, State};

pub use fleetkeeper::ec2::Instance;

pub use crate::model::{
    BACKUP_BOOT_TAG, BACKUP_TAG, CONSISTENCY_REQUEST_TAG, CONSISTENCY_TAG, COPY_OF_TAG,
    Consistency, INSTANCE_TAG, MANAGED_BY, MANAGED_BY_TAG, PERIOD_TAG, POLICY_TAG, SET_TAG,
    SOURCE_REGION_TAG, SOURCE_TIME_TAG, VOLUME_TAG, Volume,
};

/// A policy's period: one snapshot per day, ISO week or month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    Daily,
    Weekly,
    Monthly,
}

impl Policy {
    pub fn parse(name: &str) -> Result<Policy, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "daily" => Ok(Policy::Daily),
            "weekly" => Ok(Policy::Weekly),
            "monthly" => Ok(Policy::Monthly),
            _ => Err(format!(
                "unknown policy {name:?}: expected daily, weekly or monthly"
            )),
        }
    }

    /// The period `t` falls in, in the zone, as a label (e.g. `2026-11-21`, `2026-W47`, `2026-11`).
    pub fn period(self, t: Timestamp, tz: &TimeZone) -> String {
        let z = t.to_zoned(tz.clone());
        match self {
            Policy::Daily => z.date().to_string(),
            Policy::Weekly => {
                let w = z.date().iso_week_date();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Policy::Monthly => format!("{}-{:02}", z.year(), z.month()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Create {
    pub volume_id: String,
    pub policy: String,
    pub reason: String,
    pub description: String,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    pub volume_id: String,
    pub reason: String,
}

/// One CreateSnapshots call: an instance's volumes at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateSet {
    pub instance_id: String,
    pub exclude_boot: bool,
    /// The volumes the set takes (as last described).
    pub volume_ids: Vec<String>,
    pub set_id: String,
    pub policy: String,
    pub reason: String,
    pub description: String,
    pub tags: BTreeMap<String, String>,
    /// As the instance asks (`fleetkeeper:backup-consistency`); the tags say `crash` until a
    /// freeze succeeds.
    pub consistency: Consistency,
}

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct CreatePlan {
    pub create: Vec<Create>,
    pub sets: Vec<CreateSet>,
    /// Volumes (or, for sets, instances) not snapshotted, with the reason.
    pub skipped: Vec<Skip>,
}

/// The tags that mark a snapshot as snapshot-janitor's own, for `policy` of `volume_id`.
pub fn managed_tags(volume_id: &str, policy: &str) -> BTreeMap<String, String> {
    [
        (MANAGED_BY_TAG, MANAGED_BY),
        (POLICY_TAG, policy),
        (VOLUME_TAG, volume_id),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The period a snapshot of ours covers: its period tag, else the period of its start time.
fn period_of(s: &Snapshot, policy: Policy, tz: &TimeZone) -> String {
    s.tags
        .get(PERIOD_TAG)
        .cloned()
        .unwrap_or_else(|| policy.period(s.started, tz))
}

/// The policy name a backup tag gives (no value, or an empty one: daily).
fn policy_name(tags: &BTreeMap<String, String>) -> &str {
    match tags.get(BACKUP_TAG).map(String::as_str) {
        None => "daily",
        Some(v) if v.trim().is_empty() => "daily",
        Some(v) => v,
    }
}

/// Copies of a resource's tags that a snapshot may carry: never `aws:` (reserved; AWS refuses
/// them on CreateSnapshot) and never `fleetkeeper:` (a volume's or instance's fleetkeeper tags
/// are its opt-ins and leases, not the snapshot's: copied, they would make the snapshot look
/// like something fleetkeeper manages, such as a lease or another function's snapshot).
fn copied_tags(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    tags.iter()
        .filter(|(k, _)| !k.starts_with("aws:") && !k.starts_with("fleetkeeper:"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl CreatePlan {
    /// Leaves out of every snapshot's copied tags the keys in `exclude` (COPY_TAGS_EXCLUDE:
    /// access-control tags, say, that must not travel with a copy of the data). fleetkeeper's
    /// own tags are set by the plan itself and are never in `exclude` (the config refuses it).
    pub fn without_tags(mut self, exclude: &[String]) -> CreatePlan {
        for tags in self
            .create
            .iter_mut()
            .map(|c| &mut c.tags)
            .chain(self.sets.iter_mut().map(|s| &mut s.tags))
        {
            tags.retain(|k, _| !exclude.contains(k));
        }
        self
    }
}

/// Instances tagged for backup get one CreateSnapshots call per period: every attached EBS
/// volume at the same instant (the boot volume left out with `fleetkeeper:backup-boot=false`).
/// A tagged volume that such a set takes is not snapshotted on its own.
pub fn plan_create(
    volumes: &[Volume],
    instances: &[Instance],
    ours: &[Snapshot],
    tz: &TimeZone,
    now: Timestamp,
) -> CreatePlan {
    let mut plan = CreatePlan::default();
    let mut in_sets: BTreeMap<&str, &str> = BTreeMap::new();
    for i in instances {
        let name = policy_name(&i.tags);
        let policy = match Policy::parse(name) {
            Ok(p) => p,
            Err(why) => {
                plan.skipped.push(Skip {
                    volume_id: i.id.clone(),
                    reason: format!("{BACKUP_TAG}: {why}"),
                });
                continue;
            }
        };
        let consistency = match Consistency::parse(
            i.tags
                .get(CONSISTENCY_REQUEST_TAG)
                .map(String::as_str)
                .unwrap_or(""),
        ) {
            Ok(c) => c,
            Err(why) => {
                plan.skipped.push(Skip {
                    volume_id: i.id.clone(),
                    reason: why,
                });
                continue;
            }
        };
        let exclude_boot = i.tags.get(BACKUP_BOOT_TAG).map(String::as_str) == Some("false");
        let taken: Vec<&str> = i
            .volumes
            .iter()
            .filter(|v| !(exclude_boot && v.boot))
            .map(|v| v.volume_id.as_str())
            .collect();
        if taken.is_empty() {
            plan.skipped.push(Skip {
                volume_id: i.id.clone(),
                reason: "no EBS volume to snapshot (the boot volume is left out)".into(),
            });
            continue;
        }
        for v in &taken {
            in_sets.insert(v, &i.id);
        }
        let period = policy.period(now, tz);
        let mut this_period: BTreeMap<&str, bool> = BTreeMap::new();
        for s in ours.iter().filter(|s| {
            s.managed
                && s.instance_id.as_deref() == Some(i.id.as_str())
                && Policy::parse(&s.policy).ok() == Some(policy)
                && period_of(s, policy, tz) == period
        }) {
            let ok = this_period
                .entry(s.set_id.as_deref().unwrap_or(&s.id))
                .or_insert(true);
            *ok &= s.state != State::Error;
        }
        let reason = if let Some((set, _)) = this_period.iter().find(|(_, ok)| **ok) {
            plan.skipped.push(Skip {
                volume_id: i.id.clone(),
                reason: format!("{} already has set {set} from period {period}", i.id),
            });
            continue;
        } else if let Some((set, _)) = this_period.iter().next() {
            format!("set {set} of period {period} failed; taking a new one")
        } else {
            format!("no set yet in period {period}")
        };
        let set_id = format!("{}@{}", i.id, now);
        let mut tags = copied_tags(&i.tags);
        tags.extend(
            [
                (MANAGED_BY_TAG, MANAGED_BY),
                (POLICY_TAG, name),
                (SET_TAG, &set_id),
                (INSTANCE_TAG, &i.id),
                (PERIOD_TAG, &period),
                (CONSISTENCY_TAG, Consistency::Crash.as_str()),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        plan.sets.push(CreateSet {
            instance_id: i.id.clone(),
            exclude_boot,
            volume_ids: taken.iter().map(|v| (*v).to_owned()).collect(),
            policy: name.to_owned(),
            reason,
            description: format!(
                "fleetkeeper snapshot-janitor: {} ({} volumes at one instant), policy {name}, period {period}",
                i.id,
                taken.len()
            ),
            set_id,
            tags,
            consistency,
        });
    }
    for v in volumes {
        if let Some(instance) = in_sets.get(v.id.as_str()) {
            plan.skipped.push(Skip {
                volume_id: v.id.clone(),
                reason: format!(
                    "backed up once, through instance {instance} (its volumes as one set)"
                ),
            });
            continue;
        }
        let name = policy_name(&v.tags);
        let policy = match Policy::parse(name) {
            Ok(p) => p,
            Err(why) => {
                plan.skipped.push(Skip {
                    volume_id: v.id.clone(),
                    reason: format!("{BACKUP_TAG}: {why}"),
                });
                continue;
            }
        };
        let period = policy.period(now, tz);
        let this_period: Vec<&Snapshot> = ours
            .iter()
            .filter(|s| {
                s.managed && s.volume_id == v.id && Policy::parse(&s.policy).ok() == Some(policy)
            })
            .filter(|s| period_of(s, policy, tz) == period)
            .collect();
        let reason = if let Some(ok) = this_period.iter().find(|s| s.state != State::Error) {
            plan.skipped.push(Skip {
                volume_id: v.id.clone(),
                reason: format!("{} already has {} from period {period}", v.id, ok.id),
            });
            continue;
        } else if let Some(failed) = this_period.first() {
            format!("{} of period {period} failed; taking a new one", failed.id)
        } else {
            format!("no snapshot yet in period {period}")
        };
        let mut tags = copied_tags(&v.tags);
        tags.extend(managed_tags(&v.id, name));
        tags.insert(PERIOD_TAG.to_owned(), period.clone());
        tags.insert(
            CONSISTENCY_TAG.to_owned(),
            Consistency::Crash.as_str().to_owned(),
        );
        let attached = v
            .instance_id
            .as_deref()
            .map(|i| format!("attached to {i}"))
            .unwrap_or_else(|| "not attached".into());
        plan.create.push(Create {
            volume_id: v.id.clone(),
            policy: name.to_owned(),
            reason,
            description: format!(
                "fleetkeeper snapshot-janitor: {} ({attached}), policy {name}, period {period}",
                v.id
            ),
            tags,
        });
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn vol(id: &str, policy: Option<&str>) -> Volume {
        let mut tags: BTreeMap<String, String> =
            [("Name".to_string(), "db-data".to_string())].into();
        tags.insert("aws:cloudformation:stack-name".into(), "db".into());
        if let Some(p) = policy {
            tags.insert(BACKUP_TAG.into(), p.into());
        }
        Volume {
            id: id.into(),
            instance_id: Some("i-0abc".into()),
            tags,
        }
    }

    fn ours(id: &str, vol: &str, policy: &str, started: &str, state: State) -> Snapshot {
        Snapshot {
            id: id.into(),
            volume_id: vol.into(),
            policy: policy.into(),
            state,
            started: ts(started),
            managed: true,
            ..Default::default()
        }
    }

    #[test]
    fn the_period_tag_not_the_start_time_says_which_period_a_snapshot_covers() {
        // The run for the 21st (scheduled 23:59:59) started its snapshot a second into the
        // 22nd: the snapshot covers the 21st, so the 22nd's run still takes its own.
        let p = plan_create(
            &[vol("vol-1", Some("daily"))],
            &[],
            &[],
            &TimeZone::UTC,
            ts("2026-11-21T23:59:59Z"),
        );
        assert_eq!(p.create[0].tags[PERIOD_TAG], "2026-11-21");
        let mut late = ours(
            "snap-1",
            "vol-1",
            "daily",
            "2026-11-22T00:00:01Z",
            State::Completed,
        );
        late.tags = p.create[0].tags.clone();
        let next = plan_create(
            &[vol("vol-1", Some("daily"))],
            &[],
            std::slice::from_ref(&late),
            &TimeZone::UTC,
            ts("2026-11-22T02:00:00Z"),
        );
        assert_eq!(next.create.len(), 1, "{:?}", next.skipped);
        // The 21st's run again (a replay) sees its period covered.
        let again = plan_create(
            &[vol("vol-1", Some("daily"))],
            &[],
            &[late],
            &TimeZone::UTC,
            ts("2026-11-21T23:59:59Z"),
        );
        assert!(again.create.is_empty());
        assert!(again.skipped[0].reason.contains("from period 2026-11-21"));
    }

    #[test]
    fn fleetkeeper_tags_are_never_copied_and_excluded_keys_are_left_out() {
        let mut v = vol("vol-1", Some("daily"));
        v.tags.insert(
            "fleetkeeper:expires-at".into(),
            "2026-12-01T12:00:00Z".into(),
        );
        v.tags
            .insert("fleetkeeper:managed-by".into(), "lease-keeper".into());
        v.tags.insert("access-team".into(), "payments".into());
        let p = plan_create(&[v], &[], &[], &TimeZone::UTC, ts("2026-11-21T02:00:00Z"))
            .without_tags(&["access-team".to_owned()]);
        let tags = &p.create[0].tags;
        assert!(!tags.contains_key("fleetkeeper:expires-at"), "{tags:?}");
        assert_eq!(
            tags[MANAGED_BY_TAG], MANAGED_BY,
            "its own, not the volume's"
        );
        assert!(!tags.contains_key("access-team"));
        assert_eq!(tags["Name"], "db-data", "other tags still travel");
    }

    #[test]
    fn creates_with_copied_tags_and_a_description() {
        let p = plan_create(
            &[vol("vol-1", Some("daily"))],
            &[],
            &[],
            &TimeZone::UTC,
            ts("2026-11-21T02:00:00Z"),
        );
        let c = &p.create[0];
        assert_eq!(c.tags["Name"], "db-data");
        assert_eq!(c.tags[MANAGED_BY_TAG], "snapshot-janitor");
        assert_eq!(c.tags[POLICY_TAG], "daily");
        assert_eq!(c.tags[VOLUME_TAG], "vol-1");
        assert!(
            !c.tags.contains_key("aws:cloudformation:stack-name"),
            "reserved tags are not copied"
        );
        assert!(
            c.description.contains("vol-1") && c.description.contains("i-0abc"),
            "{}",
            c.description
        );
        assert_eq!(c.reason, "no snapshot yet in period 2026-11-21");
    }

    #[test]
    fn one_per_period_in_the_zone_and_failed_ones_are_redone() {
        let v = [vol("vol-1", None)]; // no value: the default policy, daily
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let done = [ours(
            "snap-a",
            "vol-1",
            "daily",
            "2026-11-21T01:00:00Z",
            State::Completed,
        )];
        let rerun = plan_create(&v, &[], &done, &berlin, ts("2026-11-21T20:00:00Z"));
        assert!(
            rerun.create.is_empty(),
            "a rerun the same local day creates none"
        );
        assert!(rerun.skipped[0].reason.contains("already has snap-a"));
        // 23:30 UTC on the 21st is the 22nd in Berlin: a new period.
        assert_eq!(
            plan_create(&v, &[], &done, &berlin, ts("2026-11-21T23:30:00Z"))
                .create
                .len(),
            1
        );

        let failed = [ours(
            "snap-bad",
            "vol-1",
            "daily",
            "2026-11-21T01:00:00Z",
            State::Error,
        )];
        let redo = plan_create(&v, &[], &failed, &berlin, ts("2026-11-21T20:00:00Z"));
        assert!(
            redo.create[0]
                .reason
                .contains("snap-bad of period 2026-11-21 failed")
        );
    }

    #[test]
    fn weekly_and_monthly_periods() {
        let v = [vol("vol-1", Some("weekly"))];
        // Monday 2026-11-16 and Sunday 2026-11-22 share ISO week 47.
        let done = [ours(
            "snap-w",
            "vol-1",
            "weekly",
            "2026-11-16T03:00:00Z",
            State::Completed,
        )];
        assert!(
            plan_create(&v, &[], &done, &TimeZone::UTC, ts("2026-11-22T03:00:00Z"))
                .create
                .is_empty()
        );
        assert_eq!(
            plan_create(&v, &[], &done, &TimeZone::UTC, ts("2026-11-23T03:00:00Z"))
                .create
                .len(),
            1
        );
        assert_eq!(
            Policy::Monthly.period(ts("2026-11-30T23:00:00Z"), &TimeZone::UTC),
            "2026-11"
        );
    }

    #[test]
    fn unknown_policy_is_skipped_with_the_reason() {
        let p = plan_create(
            &[vol("vol-1", Some("hourly"))],
            &[],
            &[],
            &TimeZone::UTC,
            ts("2026-11-21T02:00:00Z"),
        );
        assert!(p.create.is_empty());
        assert!(
            p.skipped[0].reason.contains("unknown policy \"hourly\""),
            "{}",
            p.skipped[0].reason
        );
        assert!(Policy::parse("Weekly").is_ok());
    }

    fn instance(id: &str, tags: &[(&str, &str)], volumes: &[(&str, bool)]) -> Instance {
        Instance {
            id: id.into(),
            state: "running".into(),
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            volumes: volumes
                .iter()
                .map(|(v, boot)| fleetkeeper::ec2::AttachedVolume {
                    volume_id: (*v).into(),
                    device: if *boot {
                        "/dev/xvda".into()
                    } else {
                        format!("/dev/sd{v}")
                    },
                    boot: *boot,
                    delete_on_termination: *boot,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn an_instance_asks_how_consistent_its_set_is_and_a_typo_is_said() {
        let asks = |value: &str| {
            instance(
                "i-db",
                &[(BACKUP_TAG, "daily"), (CONSISTENCY_REQUEST_TAG, value)],
                &[("vol-root", true)],
            )
        };
        let now = ts("2026-11-21T02:00:00Z");
        let p = plan_create(&[], &[asks("application")], &[], &TimeZone::UTC, now);
        assert_eq!(p.sets[0].consistency, Consistency::Application);
        // The tags say crash until the freeze succeeds.
        assert_eq!(p.sets[0].tags[CONSISTENCY_TAG], "crash");
        let p = plan_create(&[], &[asks("Application ")], &[], &TimeZone::UTC, now);
        assert_eq!(p.sets[0].consistency, Consistency::Application);
        let p = plan_create(&[], &[asks("frozen")], &[], &TimeZone::UTC, now);
        assert!(p.sets.is_empty());
        assert!(
            p.skipped[0]
                .reason
                .contains("is not application, crash or vss"),
            "{:?}",
            p.skipped
        );
    }

    #[test]
    fn an_instance_gets_one_set_and_its_tagged_volume_is_not_taken_twice() {
        let db = instance(
            "i-db",
            &[(BACKUP_TAG, "daily"), ("Name", "db")],
            &[("vol-root", true), ("vol-data", false), ("vol-logs", false)],
        );
        let no_boot = instance(
            "i-web",
            &[(BACKUP_TAG, ""), (BACKUP_BOOT_TAG, "false")],
            &[("vol-web-root", true), ("vol-web-data", false)],
        );
        let volumes = [
            vol("vol-data", Some("daily")),
            vol("vol-web-root", Some("daily")),
        ];
        let now = ts("2026-11-21T02:00:00Z");
        let p = plan_create(&volumes, &[db, no_boot], &[], &TimeZone::UTC, now);
        assert_eq!(p.sets.len(), 2);
        let set = &p.sets[0];
        assert_eq!(set.volume_ids, ["vol-root", "vol-data", "vol-logs"]);
        assert_eq!(set.set_id, "i-db@2026-11-21T02:00:00Z");
        assert_eq!(set.tags[SET_TAG], set.set_id);
        assert_eq!(set.tags[INSTANCE_TAG], "i-db");
        assert_eq!(set.tags["Name"], "db");
        assert_eq!(set.reason, "no set yet in period 2026-11-21");
        assert!(p.sets[1].exclude_boot);
        assert_eq!(p.sets[1].volume_ids, ["vol-web-data"]);
        // vol-data is in i-db's set; vol-web-root is left out of i-web's, so taken alone.
        assert_eq!(p.create.len(), 1);
        assert_eq!(p.create[0].volume_id, "vol-web-root");
        let skip = p
            .skipped
            .iter()
            .find(|s| s.volume_id == "vol-data")
            .unwrap();
        assert_eq!(
            skip.reason,
            "backed up once, through instance i-db (its volumes as one set)"
        );
    }

    #[test]
    fn one_set_per_period_and_a_failed_set_is_taken_again() {
        let db = instance(
            "i-db",
            &[(BACKUP_TAG, "daily")],
            &[("vol-a", true), ("vol-b", false)],
        );
        let member = |id: &str, vol: &str, state: State| Snapshot {
            set_id: Some("i-db@2026-11-21T02:00:00Z".into()),
            instance_id: Some("i-db".into()),
            ..ours(id, vol, "daily", "2026-11-21T02:00:00Z", state)
        };
        let done = [
            member("s-a", "vol-a", State::Completed),
            member("s-b", "vol-b", State::Completed),
        ];
        let now = ts("2026-11-21T20:00:00Z");
        let p = plan_create(&[], std::slice::from_ref(&db), &done, &TimeZone::UTC, now);
        assert!(p.sets.is_empty());
        assert!(
            p.skipped[0]
                .reason
                .contains("already has set i-db@2026-11-21T02:00:00Z")
        );
        let half_failed = [
            member("s-a", "vol-a", State::Completed),
            member("s-b", "vol-b", State::Error),
        ];
        let p = plan_create(&[], &[db], &half_failed, &TimeZone::UTC, now);
        assert_eq!(p.sets.len(), 1);
        assert!(
            p.sets[0].reason.contains("failed; taking a new one"),
            "{}",
            p.sets[0].reason
        );
    }
}
