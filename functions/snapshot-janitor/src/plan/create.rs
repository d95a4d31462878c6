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

pub const BACKUP_TAG: &str = "fleetkeeper:backup";
pub const MANAGED_BY_TAG: &str = "fleetkeeper:managed-by";
pub const MANAGED_BY: &str = "snapshot-janitor";
pub const POLICY_TAG: &str = "fleetkeeper:policy";
pub const VOLUME_TAG: &str = "fleetkeeper:volume-id";
/// The snapshots of one CreateSnapshots call (an instance's volumes at one instant) share it.
pub const SET_TAG: &str = "fleetkeeper:set-id";
pub const INSTANCE_TAG: &str = "fleetkeeper:instance-id";

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

/// What the create plan needs to know of a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub id: String,
    pub instance_id: Option<String>,
    pub tags: BTreeMap<String, String>,
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

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct CreatePlan {
    pub create: Vec<Create>,
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

pub fn plan_create(
    volumes: &[Volume],
    ours: &[Snapshot],
    tz: &TimeZone,
    now: Timestamp,
) -> CreatePlan {
    let mut plan = CreatePlan::default();
    for v in volumes {
        let name = v
            .tags
            .get(BACKUP_TAG)
            .map(String::as_str)
            .unwrap_or("daily");
        let name = if name.trim().is_empty() {
            "daily"
        } else {
            name
        };
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
            .filter(|s| policy.period(s.started, tz) == period)
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
        let mut tags: BTreeMap<String, String> = v
            .tags
            .iter()
            // aws: tags are reserved; AWS refuses them on CreateSnapshot.
            .filter(|(k, _)| !k.starts_with("aws:"))
            .map(|(k, val)| (k.clone(), val.clone()))
            .collect();
        tags.extend(managed_tags(&v.id, name));
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
    fn creates_with_copied_tags_and_a_description() {
        let p = plan_create(
            &[vol("vol-1", Some("daily"))],
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
        let rerun = plan_create(&v, &done, &berlin, ts("2026-11-21T20:00:00Z"));
        assert!(
            rerun.create.is_empty(),
            "a rerun the same local day creates none"
        );
        assert!(rerun.skipped[0].reason.contains("already has snap-a"));
        // 23:30 UTC on the 21st is the 22nd in Berlin: a new period.
        assert_eq!(
            plan_create(&v, &done, &berlin, ts("2026-11-21T23:30:00Z"))
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
        let redo = plan_create(&v, &failed, &berlin, ts("2026-11-21T20:00:00Z"));
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
            plan_create(&v, &done, &TimeZone::UTC, ts("2026-11-22T03:00:00Z"))
                .create
                .is_empty()
        );
        assert_eq!(
            plan_create(&v, &done, &TimeZone::UTC, ts("2026-11-23T03:00:00Z"))
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
}
