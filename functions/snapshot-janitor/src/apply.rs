//! Apply: create the planned snapshots, then delete what retention let go, through the
//! CreateSnapshot/DeleteSnapshot token bucket, at most MAX_DELETES a run, stopping cleanly when
//! the time budget is spent so the next run picks up the rest.

use std::collections::BTreeMap;

use fleetkeeper::exec::{Budget, RateLimiter, run_bounded};
use fleetkeeper::seal::{KeyRing, fleetkeeper_claims};
use serde_json::{Value, json};

use fleetkeeper::{Applied, AwsError, Mode};

use crate::config::Freeze;
use crate::freeze;
use crate::model::SnapshotAction::{self, Create, CreateSet, Delete, Thaw};
use crate::plan::archive::Archive;
use crate::plan::copy::Copy;
use crate::plan::create::CreatePlan;
use crate::plan::retention::Decision;
use crate::ports::{Commands, Deleted, Ebs};

/// Deletes in flight at once; the limiter, not this, sets the pace.
const CONCURRENCY: usize = 8;

pub struct Limits<'a> {
    /// CreateSnapshot and DeleteSnapshot share EC2's bucket (100 burst, 5 per second).
    pub snapshots: &'a RateLimiter,
    pub budget: Budget,
    pub max_deletes: usize,
}

/// A call that failed, on a volume (create) or a snapshot (delete, seal).
#[derive(Debug, Clone)]
pub struct Failed {
    pub id: String,
    pub error: AwsError,
}

/// What a region's creates and deletes did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Sets and snapshots taken (their ids in the detail) and snapshots deleted; deletions
    /// found done already or refused because an AMI uses the snapshot; the calls that
    /// failed; deletions left for the next run (over MAX_DELETES, or the time budget).
    pub applied: Applied<SnapshotAction>,
    /// Snapshots taken whose seal could not be written (id: the snapshot): kept, never
    /// deleted, until adopted.
    pub unsealed: Vec<Failed>,
}

/// Seals a snapshot just made, with the current key, over the fleetkeeper tags it was made
/// with and `also` (written with the seal). None when sealed; the failure otherwise.
async fn seal<E: Ebs + Sync>(
    ebs: &E,
    ring: &KeyRing,
    snapshot_id: &str,
    tags: &BTreeMap<String, String>,
    also: &BTreeMap<String, String>,
) -> Option<Failed> {
    let failed = |error| {
        Some(Failed {
            id: snapshot_id.to_owned(),
            error,
        })
    };
    let mut all = tags.clone();
    all.extend(also.clone());
    let value = match ring.seal(snapshot_id, &fleetkeeper_claims(&all)) {
        Ok(value) => value,
        Err(e) => return failed(e),
    };
    ebs.seal(snapshot_id, &value, also)
        .await
        .err()
        .and_then(failed)
}

enum One {
    Deleted(String, Deleted),
    Failed(String, AwsError),
}

/// What moving snapshots to the archive tier did.
#[derive(Debug, Default)]
pub struct ArchiveOutcome {
    /// The planned moves that were done.
    pub moved: Vec<Archive>,
    pub failed: Vec<Failed>,
    pub deferred: Vec<String>,
}

/// Moves the planned snapshots to the archive tier, paced like the other snapshot calls.
pub async fn apply_archive<E: Ebs + Sync>(
    ebs: &E,
    archive: &[Archive],
    mode: Mode,
    limits: &Limits<'_>,
) -> ArchiveOutcome {
    let mut out = ArchiveOutcome::default();
    if mode.is_dry_run() {
        return out;
    }
    for a in archive {
        if limits.budget.is_spent() {
            out.deferred.push(a.snapshot_id.clone());
            continue;
        }
        limits.snapshots.acquire().await;
        match ebs.archive(&a.snapshot_id).await {
            Ok(()) => out.moved.push(a.clone()),
            Err(error) => out.failed.push(Failed {
                id: a.snapshot_id.clone(),
                error,
            }),
        }
    }
    out
}

/// EC2's answer when too many copies are in flight to one region: retried next run.
const COPIES_IN_FLIGHT: &[&str] = &["ResourceLimitExceeded", "SnapshotCopyLimitExceeded"];

/// One copy EC2 accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedCopy {
    pub source_id: String,
    pub copy_id: String,
    /// Why it was copied (the plan's reason).
    pub reason: String,
}

/// What copying into one destination did.
#[derive(Debug, Default)]
pub struct CopyOutcome {
    pub started: Vec<StartedCopy>,
    pub failed: Vec<Failed>,
    /// Not started: EC2 has too many copies in flight there, or the time budget ran out.
    pub deferred: Vec<String>,
    /// Copies started whose seal could not be written (id: the copy).
    pub unsealed: Vec<Failed>,
}

/// Starts the copies into `destination` (its own port), until EC2 says too many are in
/// flight there: the rest wait for the next run, which is not a failure.
pub async fn apply_copies<E: Ebs + Sync>(
    destination: &E,
    copies: &[Copy],
    ring: &KeyRing,
    mode: Mode,
    limits: &Limits<'_>,
) -> CopyOutcome {
    let mut out = CopyOutcome::default();
    if mode.is_dry_run() {
        return out;
    }
    let mut stopped = false;
    for c in copies {
        if stopped || limits.budget.is_spent() {
            out.deferred.push(c.source_id.clone());
            continue;
        }
        limits.snapshots.acquire().await;
        let result = destination
            .copy(
                &c.source_region,
                &c.source_id,
                &c.description,
                &c.tags,
                c.kms_key.as_deref(),
            )
            .await;
        match result {
            Ok(copy_id) => {
                out.unsealed
                    .extend(seal(destination, ring, &copy_id, &c.tags, &BTreeMap::new()).await);
                out.started.push(StartedCopy {
                    source_id: c.source_id.clone(),
                    copy_id,
                    reason: c.reason.clone(),
                })
            }
            Err(e)
                if e.code()
                    .is_some_and(|code| COPIES_IN_FLIGHT.contains(&code)) =>
            {
                stopped = true;
                out.deferred.push(c.source_id.clone());
            }
            Err(error) => out.failed.push(Failed {
                id: c.source_id.clone(),
                error,
            }),
        }
    }
    out
}

/// The deletions, a set's together, in the order retention listed them.
fn doomed_units(prune: &[Decision]) -> Vec<Vec<&Decision>> {
    let mut units: Vec<Vec<&Decision>> = Vec::new();
    for d in prune.iter().filter(|d| d.delete) {
        match units.last_mut() {
            Some(last) if d.set_id.is_some() && last[0].set_id == d.set_id => last.push(d),
            _ => units.push(vec![d]),
        }
    }
    units
}

pub async fn apply<E: Ebs + Commands + Sync>(
    ebs: &E,
    create: &CreatePlan,
    prune: &[Decision],
    ring: &KeyRing,
    mode: Mode,
    limits: &Limits<'_>,
    freeze: &Freeze,
) -> Outcome {
    let mut out = Outcome::default();
    if mode.is_dry_run() {
        return out;
    }
    for set in &create.sets {
        if limits.budget.is_spent() {
            break;
        }
        limits.snapshots.acquire().await;
        let frozen = freeze::take(ebs, set, freeze, limits.budget).await;
        if let Some(why) = &frozen.thaw_failed {
            let error = AwsError::service("ssm:SendCommand", "ThawNotConfirmed", why);
            out.applied.failed(&set.instance_id, Thaw, error);
        }
        match frozen.set {
            Some(Ok(snapshots)) => {
                for m in &snapshots {
                    out.unsealed
                        .extend(seal(ebs, ring, &m.snapshot_id, &frozen.tags, &frozen.after).await);
                }
                let members: Vec<Value> = snapshots
                    .iter()
                    .map(|m| json!({"snapshot_id": m.snapshot_id, "volume_id": m.volume_id}))
                    .collect();
                let mut detail = json!({
                    "set_id": set.set_id,
                    "snapshots": members,
                    "consistency": frozen.consistency,
                });
                if let Some(ms) = frozen.freeze_ms {
                    detail["freeze_ms"] = ms.into();
                }
                if let Some(why) = &frozen.not_frozen {
                    detail["note"] = why.as_str().into();
                }
                out.applied.done(&set.instance_id, CreateSet, Some(detail));
            }
            Some(Err(error)) => out.applied.failed(&set.instance_id, CreateSet, error),
            None => {
                let why = frozen.not_frozen.unwrap_or_default();
                let error = AwsError::service("ssm:SendCommand", "NotFrozen", &why);
                out.applied.failed(&set.instance_id, CreateSet, error);
            }
        }
    }
    for c in &create.create {
        if limits.budget.is_spent() {
            break;
        }
        limits.snapshots.acquire().await;
        match ebs.create(&c.volume_id, &c.description, &c.tags).await {
            Ok(snapshot_id) => {
                out.unsealed
                    .extend(seal(ebs, ring, &snapshot_id, &c.tags, &BTreeMap::new()).await);
                let detail = json!({ "snapshot_id": snapshot_id });
                out.applied.done(&c.volume_id, Create, Some(detail));
            }
            Err(error) => out.applied.failed(&c.volume_id, Create, error),
        }
    }

    // A set is deleted whole, in one piece of work: MAX_DELETES never cuts one, and once a
    // set is started the time budget does not stop it halfway.
    let units = doomed_units(prune);
    let mut taken = 0;
    let mut doomed = Vec::new();
    for u in units {
        if taken + u.len() <= limits.max_deletes {
            taken += u.len();
            doomed.push(u);
        } else {
            out.applied
                .not_started
                .extend(u.iter().map(|d| d.id.clone()));
        }
    }
    let batch = run_bounded(
        doomed,
        CONCURRENCY,
        Some(limits.snapshots),
        limits.budget,
        |unit: Vec<&Decision>| async move {
            let mut done = Vec::new();
            for (n, d) in unit.into_iter().enumerate() {
                if n > 0 {
                    limits.snapshots.acquire().await;
                }
                done.push(match ebs.delete(&d.id).await {
                    Ok(how) => One::Deleted(d.id.clone(), how),
                    Err(e) => One::Failed(d.id.clone(), e),
                });
            }
            done
        },
    )
    .await;
    out.applied.not_started.extend(
        batch
            .not_started
            .iter()
            .flat_map(|u| u.iter().map(|d| d.id.clone())),
    );
    for r in batch.results.into_iter().flatten() {
        match r {
            One::Deleted(id, Deleted::Done) => out.applied.done(id, Delete, None),
            One::Deleted(id, Deleted::AlreadyGone) => {
                out.applied
                    .skipped(id, Delete, "InvalidSnapshot.NotFound: already deleted")
            }
            One::Deleted(id, Deleted::InUse(message)) => {
                out.applied
                    .skipped(id, Delete, format!("in use by an AMI: {message}"))
            }
            One::Failed(id, error) => out.applied.failed(id, Delete, error),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::plan::create::Create;
    use crate::ports::fake::FakeEbs as Fake;

    /// The targets done by `action`.
    fn done(out: &Outcome, action: SnapshotAction) -> Vec<String> {
        let done = out.applied.done.iter().filter(|d| d.action == action);
        done.map(|d| d.target.clone()).collect()
    }
    use fleetkeeper::exec::BucketSpec;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    fn doomed(n: usize) -> Vec<Decision> {
        (0..n)
            .map(|i| Decision {
                id: format!("snap-{i:04}"),
                volume_id: "vol-1".into(),
                set_id: None,
                delete: true,
                rule: "no retention rule keeps it".into(),
                only_long_term: false,
            })
            .chain([Decision {
                id: "snap-keep".into(),
                volume_id: "vol-1".into(),
                set_id: None,
                delete: false,
                rule: "kept by last".into(),
                only_long_term: false,
            }])
            .collect()
    }

    fn ring() -> KeyRing {
        KeyRing::new(fleetkeeper::seal::Key::new("v-1", vec![9; 32]).unwrap())
    }

    fn create_one() -> CreatePlan {
        CreatePlan {
            create: vec![Create {
                volume_id: "vol-1".into(),
                policy: "daily".into(),
                reason: "no snapshot yet".into(),
                description: "d".into(),
                tags: BTreeMap::new(),
            }],
            sets: vec![],
            skipped: vec![],
        }
    }

    fn copies(n: usize) -> Vec<Copy> {
        (0..n)
            .map(|i| Copy {
                source_id: format!("snap-{i}"),
                source_region: "us-east-1".into(),
                destination: "eu-west-1".into(),
                description: "d".into(),
                tags: BTreeMap::new(),
                kms_key: None,
                reason: "no copy in eu-west-1 yet".into(),
            })
            .collect()
    }

    #[tokio::test]
    async fn copies_in_flight_refused_wait_for_the_next_run() {
        let fake = Fake {
            copy_limit: Mutex::new(Some(2)),
            ..Fake::default()
        };
        let fast = RateLimiter::new(BucketSpec::new(1000, 1000.0));
        let limits = Limits {
            snapshots: &fast,
            budget: Budget::unlimited(),
            max_deletes: 0,
        };
        let out = apply_copies(&fake, &copies(5), &ring(), Mode::Live, &limits).await;
        assert_eq!(out.started.len(), 2);
        assert!(
            out.failed.is_empty(),
            "a refusal for copies in flight is not a failure"
        );
        assert_eq!(out.deferred, ["snap-2", "snap-3", "snap-4"]);
        assert_eq!(
            fake.copied.lock().unwrap().len(),
            2,
            "it stopped asking at the first refusal"
        );
        let dry = apply_copies(&Fake::default(), &copies(2), &ring(), Mode::DryRun, &limits).await;
        assert!(dry.started.is_empty() && dry.deferred.is_empty());
    }

    async fn run(
        fake: &Fake,
        prune: &[Decision],
        mode: Mode,
        budget: Budget,
        max: usize,
    ) -> Outcome {
        let fast = RateLimiter::new(BucketSpec::new(100_000, 100_000.0));
        let limits = Limits {
            snapshots: &fast,
            budget,
            max_deletes: max,
        };
        let freeze = Config::from_env(&fleetkeeper::Env::of(&[])).unwrap().freeze;
        apply(fake, &create_one(), prune, &ring(), mode, &limits, &freeze).await
    }

    #[tokio::test]
    async fn creates_then_deletes_only_what_retention_let_go() {
        let fake = Fake {
            in_use: ["snap-0001".to_string()].into(),
            gone: ["snap-0002".to_string()].into(),
            ..Fake::default()
        };
        let out = run(&fake, &doomed(5), Mode::Live, Budget::unlimited(), 1000).await;
        assert_eq!(done(&out, Create), ["vol-1"]);
        // What it made, it sealed: bound to the new id, verifiable with the ring.
        let sealed = fake.sealed.lock().unwrap().clone();
        assert_eq!(sealed.len(), 1);
        assert_eq!(sealed[0].0, "snap-new-vol-1");
        let tags = BTreeMap::from([(fleetkeeper::seal::SEAL_TAG.to_owned(), sealed[0].1.clone())]);
        assert!(
            ring()
                .check("snap-new-vol-1", &tags, &BTreeMap::new())
                .is_valid()
        );
        assert!(out.unsealed.is_empty());
        assert_eq!(done(&out, Delete).len(), 3);
        let skipped: Vec<(&str, &str)> = out
            .applied
            .skipped
            .iter()
            .map(|s| (s.target.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                ("snap-0001", "in use by an AMI: used by ami-1"),
                ("snap-0002", "InvalidSnapshot.NotFound: already deleted")
            ]
        );
        assert!(
            !fake
                .deleted
                .lock()
                .unwrap()
                .contains(&"snap-keep".to_string())
        );
    }

    #[tokio::test]
    async fn max_deletes_and_a_spent_budget_leave_the_rest_for_next_run() {
        let fake = Fake::default();
        let out = run(&fake, &doomed(10), Mode::Live, Budget::unlimited(), 4).await;
        assert_eq!(done(&out, Delete).len(), 4);
        assert_eq!(out.applied.not_started.len(), 6);

        let spent = Budget::until(std::time::SystemTime::now(), std::time::Duration::ZERO);
        let out = run(&Fake::default(), &doomed(10), Mode::Live, spent, 1000).await;
        assert!(out.applied.done.is_empty());
        assert_eq!(out.applied.not_started.len(), 10);
    }

    #[tokio::test]
    async fn dry_run_touches_nothing() {
        let fake = Fake::default();
        let out = run(&fake, &doomed(3), Mode::DryRun, Budget::unlimited(), 1000).await;
        assert!(out.applied.done.is_empty());
        assert!(fake.deleted.lock().unwrap().is_empty() && fake.created.lock().unwrap().is_empty());
    }
}
