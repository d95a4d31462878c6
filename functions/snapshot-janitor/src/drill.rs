//! Restore drills carried out, after the period's backups and with the time they left: drill
//! volumes from earlier runs measured and deleted, then each planned snapshot restored to a
//! volume (tagged and sealed as the janitor's), waited for within the invocation's deadline,
//! measured and deleted. A drill volume is always deleted, after a failure too; one still
//! creating when time runs out is looked at again by the next run. Every call is paced by the
//! region's EC2 limiter.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fleetkeeper::exec::Budget;
use fleetkeeper::seal::{KeyRing, fleetkeeper_claims};
use fleetkeeper::{AwsError, Mode};
use futures_util::future::join_all;
use jiff::Timestamp;
use serde::Serialize;

use crate::apply::Limits;
use crate::config::Config;
use crate::model::{MANAGED_BY, MANAGED_BY_TAG, RESTORE_DRILL_TAG};
use crate::plan::{DrillPlan, Earlier, StartDrill, drill_day, plan_drills, sort_by_seal};
use crate::ports::{App, Drills, Ebs};

/// How one drill ended, as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrillResult {
    pub region: String,
    pub snapshot_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_id: Option<String>,
    /// `ok`, `failed`, `creating` (looked at again next run), `not-ours` (left alone),
    /// `would-drill` (a dry run), `not-started` (no time left: the next drill day).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_to_available: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A not-ours volume carries a seal that does not verify here: someone copied the tags.
    #[serde(skip)]
    pub forged: bool,
}

impl DrillResult {
    fn new(region: &str, snapshot_id: &str, volume_id: Option<&str>, status: &'static str) -> Self {
        DrillResult {
            region: region.to_owned(),
            snapshot_id: snapshot_id.to_owned(),
            volume_id: volume_id.map(str::to_owned),
            status,
            seconds_to_available: None,
            reason: None,
            forged: false,
        }
    }

    fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    fn took(mut self, seconds: u64) -> Self {
        self.seconds_to_available = Some(seconds);
        self
    }
}

/// Deletes a drill volume; the result says so if it could not.
async fn remove<E: Drills + Sync>(port: &E, limits: &Limits<'_>, r: DrillResult) -> DrillResult {
    let Some(volume) = r.volume_id.clone() else {
        return r;
    };
    limits.snapshots.acquire().await;
    match port.delete_volume(&volume).await {
        Ok(()) => r,
        Err(e) => DrillResult {
            status: "failed",
            reason: Some(format!(
                "{}the drill volume {volume} was not deleted ({e}); the next run tries again",
                r.reason.map(|w| format!("{w}; ")).unwrap_or_default()
            )),
            ..r
        },
    }
}

/// One new drill: restore, seal, wait, measure, delete.
async fn start<E: Ebs + Drills + Sync>(
    port: &E,
    drill: &StartDrill,
    ring: &KeyRing,
    limits: &Limits<'_>,
    poll: Duration,
) -> DrillResult {
    let region = port.region();
    let tags = BTreeMap::from([
        (RESTORE_DRILL_TAG.to_owned(), drill.snapshot_id.clone()),
        (MANAGED_BY_TAG.to_owned(), MANAGED_BY.to_owned()),
    ]);
    limits.snapshots.acquire().await;
    let started = Instant::now();
    let volume = match port
        .restore(&drill.snapshot_id, drill.near.as_deref(), &tags)
        .await
    {
        Ok(v) => v,
        Err(e) => {
            return DrillResult::new(region, &drill.snapshot_id, None, "failed")
                .because(format!("the snapshot could not be restored: {e}"));
        }
    };
    let r = DrillResult::new(region, &drill.snapshot_id, Some(&volume), "ok");
    // Sealed like a snapshot, so that a later run knows it its own and may delete it.
    let sealed = match ring.seal(&volume, &fleetkeeper_claims(&tags)) {
        Ok(seal) => port.seal(&volume, &seal, &BTreeMap::new()).await,
        Err(e) => Err(e),
    };
    if let Err(e) = sealed {
        let r = DrillResult {
            status: "failed",
            ..r
        }
        .because(format!("the drill volume could not be sealed ({e})"));
        return remove(port, limits, r).await;
    }
    loop {
        match port.volume_state(&volume).await {
            Ok(Some(s)) if s == "available" => {
                let r = r.took(started.elapsed().as_secs());
                return remove(port, limits, r).await;
            }
            Ok(Some(s)) if s == "creating" => {}
            Ok(state) => {
                let r = DrillResult {
                    status: "failed",
                    ..r
                }
                .because(format!(
                    "the restored volume is {}",
                    state.as_deref().unwrap_or("gone")
                ));
                return remove(port, limits, r).await;
            }
            // Read again; the deadline decides.
            Err(e) => tracing::warn!(volume = %volume, error = %e, "drill volume not read"),
        }
        if limits
            .budget
            .remaining()
            .is_some_and(|left| left < poll * 2)
        {
            return DrillResult {
                status: "creating",
                ..r
            }
            .because(
                "still creating when the run's time ran out: looked at again by the next run",
            );
        }
        tokio::time::sleep(poll).await;
    }
}

/// A region's drills: the earlier ones settled first, then the new ones, one after another
/// (each is a volume being created: few at a time is kinder to the account's EBS limits).
pub async fn drill<E: Ebs + Drills + Sync>(
    port: &E,
    plan: &DrillPlan,
    ring: &KeyRing,
    mode: Mode,
    limits: &Limits<'_>,
    poll: Duration,
) -> Vec<DrillResult> {
    let region = port.region();
    let live = mode == Mode::Live;
    let mut out = Vec::new();
    for e in &plan.earlier {
        let r = match e {
            Earlier::NotOurs {
                volume_id,
                reason,
                forged,
            } => {
                let mut r = DrillResult::new(region, "", Some(volume_id), "not-ours")
                    .because(format!("left alone: {reason}"));
                r.forged = *forged;
                out.push(r);
                continue;
            }
            Earlier::Creating {
                volume_id,
                snapshot_id,
            } => {
                out.push(
                    DrillResult::new(region, snapshot_id, Some(volume_id), "creating")
                        .because("still creating: looked at again by the next run"),
                );
                continue;
            }
            Earlier::Done {
                volume_id,
                snapshot_id,
                seconds,
            } => DrillResult::new(region, snapshot_id, Some(volume_id), "ok")
                .took(*seconds)
                .because("restored by an earlier run (measured from its creation)"),
            Earlier::Failed {
                volume_id,
                snapshot_id,
                why,
            } => DrillResult::new(region, snapshot_id, Some(volume_id), "failed").because(why),
        };
        out.push(match live {
            true => remove(port, limits, r).await,
            false => r,
        });
    }
    for d in &plan.start {
        if !live {
            out.push(DrillResult::new(
                region,
                &d.snapshot_id,
                None,
                "would-drill",
            ));
            continue;
        }
        if limits.budget.is_spent() {
            out.push(
                DrillResult::new(region, &d.snapshot_id, None, "not-started")
                    .because("no time left in this run: the next drill day"),
            );
            continue;
        }
        out.push(start(port, d, ring, limits, poll).await);
    }
    out
}

/// Every region's drills (sources and copy regions): on a drill day (`RESTORE_DRILL_DAYS`)
/// each backup's newest snapshots are restored; on every run, drills turned off or not, drill
/// volumes left by earlier runs are settled. Run after the backups, with the budget they left.
pub async fn run_all<E: Ebs + Drills + Sync>(
    app: &App<E>,
    config: &Config,
    ring: &KeyRing,
    now: Timestamp,
    budget: Budget,
) -> Vec<DrillResult> {
    let due = drill_day(config.drill_days, now, &config.time_zone);
    let regions = app.regions().into_iter().map(|place| async move {
        let region = place.port.region();
        let unread = |what: &str, e: AwsError| {
            vec![
                DrillResult::new(region, "", None, "failed")
                    .because(format!("{what} could not be read: {e}")),
            ]
        };
        let volumes = match place.port.drill_volumes().await {
            Ok(v) => v,
            Err(e) => return unread("the drill volumes", e),
        };
        let ours = match due {
            true => match place.port.our_snapshots().await {
                Ok(s) => sort_by_seal(s, ring).ours,
                Err(e) => return unread("the snapshots", e),
            },
            false => Vec::new(),
        };
        let plan = plan_drills(&ours, &volumes, ring, due, now);
        let limits = Limits {
            snapshots: &place.limits,
            budget,
            max_deletes: 0,
        };
        drill(
            &place.port,
            &plan,
            ring,
            config.mode,
            &limits,
            config.drill_poll,
        )
        .await
    });
    join_all(regions).await.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::fake::FakeEbs;
    use fleetkeeper::exec::RateLimiter;
    use fleetkeeper::seal::Key;

    fn ring() -> KeyRing {
        KeyRing::new(Key::new("v-1", vec![9; 32]).unwrap())
    }

    fn one() -> DrillPlan {
        DrillPlan {
            start: vec![StartDrill {
                snapshot_id: "snap-1".into(),
                near: Some("vol-a".into()),
            }],
            earlier: vec![],
        }
    }

    async fn go(port: &FakeEbs, plan: &DrillPlan, mode: Mode) -> Vec<DrillResult> {
        let limiter = RateLimiter::new(fleetkeeper::exec::BucketSpec {
            burst: 100,
            per_second: 100.0,
        });
        let limits = Limits {
            snapshots: &limiter,
            budget: Budget::unlimited(),
            max_deletes: 0,
        };
        drill(port, plan, &ring(), mode, &limits, Duration::from_millis(1)).await
    }

    #[tokio::test]
    async fn restores_seals_measures_and_deletes() {
        let port = FakeEbs::default();
        let out = go(&port, &one(), Mode::Live).await;
        assert_eq!(out[0].status, "ok", "{out:?}");
        assert!(out[0].seconds_to_available.is_some());
        assert_eq!(*port.volumes_deleted.lock().unwrap(), ["vol-drill-1"]);
        let sealed = port.sealed.lock().unwrap();
        assert_eq!(sealed[0].0, "vol-drill-1", "sealed before anything else");
    }

    #[tokio::test]
    async fn a_restore_that_errs_is_a_failure_and_still_deleted() {
        let port = FakeEbs {
            restored_state: Some("error".into()),
            ..FakeEbs::default()
        };
        let out = go(&port, &one(), Mode::Live).await;
        assert_eq!(out[0].status, "failed");
        assert!(out[0].reason.as_deref().unwrap().contains("is error"));
        assert_eq!(port.volumes_deleted.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_dry_run_restores_and_deletes_nothing() {
        let port = FakeEbs::default();
        let mut plan = one();
        plan.earlier.push(Earlier::Done {
            volume_id: "vol-old".into(),
            snapshot_id: "snap-0".into(),
            seconds: 40,
        });
        let out = go(&port, &plan, Mode::DryRun).await;
        assert_eq!(out[1].status, "would-drill");
        assert!(port.drill.lock().unwrap().is_empty());
        assert!(port.volumes_deleted.lock().unwrap().is_empty());
    }
}
