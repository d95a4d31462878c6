//! Apply: carry a region's plan out in batches of at most 1000 ids, splitting a batch that
//! fails because of some of its ids so one bad instance never blocks the others.

use fleetkeeper::exec::{Budget, RateLimiter};
use serde_json::json;

use fleetkeeper::{Applied, AwsError, Mode};

use std::collections::BTreeMap;
use std::future::Future;

use fleetkeeper::Plan;

use crate::model::{
    ASG_SIZE_TAG, Act, Database, ECS_SIZE_TAG, Group, LAST_ACTION_TAG, Service, ServiceSize, Size,
};
use crate::plan::{DatabasePlan, GroupPlan, RegionPlan, ServicePlan};
use crate::ports::{Databases, Fleet, Groups, Resources, Services};

/// EC2 accepts at most 1000 ids per StopInstances / StartInstances / CreateTags call.
pub const MAX_BATCH: usize = 1000;

/// Errors caused by particular ids (not by the call as a whole): split and try again.
const PER_ID_ERRORS: &[&str] = &[
    "IncorrectInstanceState",
    // No capacity for one instance type must not hold back the others' starts.
    "InsufficientInstanceCapacity",
    "InvalidInstanceID.NotFound",
    "InvalidInstanceID.Malformed",
    "UnsupportedHibernationConfiguration",
    "UnsupportedOperation",
];

/// Hibernation refused for this instance: stop it plainly instead.
const HIBERNATION_REFUSED: &[&str] = &[
    "UnsupportedHibernationConfiguration",
    "UnsupportedOperation",
];

/// What one region's apply did: the starts and stops (with a note where it differs from the
/// plan: a hibernation refused, stopped instead), and where the last-action tag could not be
/// written after the instance was acted on.
#[derive(Debug, Default)]
pub struct Outcome {
    pub applied: Applied<Act>,
    pub untagged: Vec<Untagged>,
}

/// Acted on, but `fleetkeeper:last-action` could not be written.
#[derive(Debug, Clone)]
pub struct Untagged {
    pub id: String,
    pub error: AwsError,
}

struct Batch {
    act: Act,
    ids: Vec<String>,
    note: Option<String>,
}

pub struct Limits<'a> {
    pub stop: &'a RateLimiter,
    pub start: &'a RateLimiter,
    pub budget: Budget,
}

pub async fn apply<F: Fleet>(
    fleet: &F,
    region_plan: &RegionPlan,
    mode: Mode,
    limits: &Limits<'_>,
    stamp: &str,
) -> Outcome {
    let plan = &region_plan.plan;
    let dry_run = mode.is_dry_run();
    let mut queue: Vec<Batch> = Vec::new();
    for act in [Act::Start, Act::Hibernate, Act::Stop] {
        let ids: Vec<String> = plan
            .runnable()
            .iter()
            .filter(|p| p.action == act)
            .map(|p| p.target.clone())
            .collect();
        // Pushed in reverse so batches run in plan order off the end of the stack.
        for chunk in ids.chunks(MAX_BATCH).rev() {
            queue.push(Batch {
                act,
                ids: chunk.to_vec(),
                note: None,
            });
        }
    }
    let mut out = Outcome::default();
    while let Some(batch) = queue.pop() {
        if limits.budget.is_spent() {
            out.applied.not_started.extend(batch.ids);
            continue;
        }
        let result = match batch.act {
            Act::Start => {
                limits.start.acquire().await;
                fleet.start(&batch.ids, dry_run).await
            }
            Act::Stop | Act::Hibernate => {
                limits.stop.acquire().await;
                fleet
                    .stop(&batch.ids, batch.act == Act::Hibernate, dry_run)
                    .await
            }
        };
        match result {
            Ok(()) => {
                let detail = batch.note.map(|note| json!({ "note": note }));
                for id in batch.ids {
                    out.applied.done(id, batch.act, detail.clone());
                }
            }
            Err(e)
                if batch.ids.len() > 1 && e.code().is_some_and(|c| PER_ID_ERRORS.contains(&c)) =>
            {
                let mut ids = batch.ids;
                let second = ids.split_off(ids.len() / 2);
                queue.push(Batch {
                    act: batch.act,
                    ids: second,
                    note: batch.note.clone(),
                });
                queue.push(Batch {
                    act: batch.act,
                    ids,
                    note: batch.note,
                });
            }
            Err(e)
                if batch.act == Act::Hibernate
                    && e.code().is_some_and(|c| HIBERNATION_REFUSED.contains(&c)) =>
            {
                queue.push(Batch {
                    act: Act::Stop,
                    ids: batch.ids,
                    note: Some(format!(
                        "hibernation refused ({}); stopped instead",
                        e.code().unwrap_or("?")
                    )),
                });
            }
            Err(e) => {
                for id in batch.ids {
                    out.applied.failed(id, batch.act, e.clone());
                }
            }
        }
    }
    if !dry_run {
        tag_done(fleet, &mut out, limits, stamp).await;
        // A failed start is reported once: from now on the tag says so.
        let failed: Vec<String> = region_plan
            .start_failures
            .iter()
            .map(|f| f.id.clone())
            .collect();
        tag(
            fleet,
            &mut out,
            limits,
            &failed,
            &format!("start-failed {stamp}"),
        )
        .await;
    }
    out
}

/// Writes `fleetkeeper:last-action` = `stopped <time>` / `started <time>` on what was done.
async fn tag_done<F: Fleet>(fleet: &F, out: &mut Outcome, limits: &Limits<'_>, stamp: &str) {
    for (verb, acts) in [
        ("stopped", &[Act::Stop, Act::Hibernate][..]),
        ("started", &[Act::Start][..]),
    ] {
        let ids: Vec<String> = out
            .applied
            .done
            .iter()
            .filter(|d| acts.contains(&d.action))
            .map(|d| d.target.clone())
            .collect();
        tag(fleet, out, limits, &ids, &format!("{verb} {stamp}")).await;
    }
}

async fn tag<F: Fleet>(
    fleet: &F,
    out: &mut Outcome,
    limits: &Limits<'_>,
    ids: &[String],
    value: &str,
) {
    for chunk in ids.chunks(MAX_BATCH) {
        // CreateTags has its own bucket, larger than the stop one; pacing with it is safe.
        limits.stop.acquire().await;
        if let Err(e) = fleet.tag(chunk, LAST_ACTION_TAG, value).await {
            out.untagged.extend(chunk.iter().map(|id| Untagged {
                id: id.clone(),
                error: e.clone(),
            }));
        }
    }
}

/// A region's databases: each stopped or started by itself (RDS takes one per call), paced by
/// the same limiters, then tagged with the last action. RDS has no DryRun flag: a dry run
/// plans and calls nothing.
pub async fn apply_databases<P: Databases>(
    port: &P,
    databases: &[Database],
    db_plan: &DatabasePlan,
    mode: Mode,
    limits: &Limits<'_>,
    stamp: &str,
) -> Outcome {
    let mut out = Outcome::default();
    if mode.is_dry_run() {
        return out;
    }
    for p in db_plan.plan.runnable() {
        let Some(db) = databases
            .iter()
            .find(|d| d.id == p.target && Some(&d.kind()) == db_plan.kinds.get(&p.target))
        else {
            continue;
        };
        if limits.budget.is_spent() {
            out.applied.not_started.push(p.target.clone());
            continue;
        }
        let (result, verb) = match p.action {
            Act::Start => {
                limits.start.acquire().await;
                (port.start_database(db).await, "started")
            }
            Act::Stop | Act::Hibernate => {
                limits.stop.acquire().await;
                (port.stop_database(db).await, "stopped")
            }
        };
        match result {
            Ok(()) => {
                out.applied.done(&db.id, p.action, None);
                let value = format!("{verb} {stamp}");
                if let Err(error) = port.tag_database(&db.arn, LAST_ACTION_TAG, &value).await {
                    out.untagged.push(Untagged {
                        id: db.id.clone(),
                        error,
                    });
                }
            }
            Err(e) => out.applied.failed(&db.id, p.action, e),
        }
    }
    out
}

/// What a region's apply did, per kind.
#[derive(Debug, Default)]
pub struct Outcomes {
    pub instances: Outcome,
    pub databases: Outcome,
    pub groups: Outcome,
    pub services: Outcome,
}

/// A region's whole plan: instances, then databases, then groups.
pub async fn apply_all<P: Resources>(
    port: &P,
    region_plan: &RegionPlan,
    mode: Mode,
    limits: &Limits<'_>,
    stamp: &str,
) -> Outcomes {
    let dbs = &region_plan.databases;
    Outcomes {
        instances: apply(port, region_plan, mode, limits, stamp).await,
        databases: apply_databases(port, &dbs.observed, dbs, mode, limits, stamp).await,
        groups: apply_groups(port, &region_plan.groups, mode, limits, stamp).await,
        services: apply_services(port, &region_plan.services, mode, limits, stamp).await,
    }
}

/// A kind scaled to zero at a stop and back to exactly its recorded size at a start (Auto
/// Scaling groups, ECS services): how one is named, its size tag, its zero, and the port's
/// two calls.
trait Scaled {
    type Item;
    type Size: Copy;
    fn id(item: &Self::Item) -> &str;
    /// The size tag and its value, written (with the last action) before anything is scaled.
    fn recorded(item: &Self::Item) -> (&'static str, String);
    fn zero(item: &Self::Item) -> Self::Size;
    fn resize(
        &self,
        item: &Self::Item,
        size: Self::Size,
    ) -> impl Future<Output = Result<(), AwsError>>;
    fn tag(
        &self,
        item: &Self::Item,
        tags: &[(&str, String)],
    ) -> impl Future<Output = Result<(), AwsError>>;
}

struct GroupsOf<'a, P>(&'a P);

impl<P: Groups> Scaled for GroupsOf<'_, P> {
    type Item = Group;
    type Size = Size;
    fn id(g: &Group) -> &str {
        &g.name
    }
    fn recorded(g: &Group) -> (&'static str, String) {
        (ASG_SIZE_TAG, g.size.tag())
    }
    /// Min and desired to 0; max is kept.
    fn zero(g: &Group) -> Size {
        Size {
            min: 0,
            desired: 0,
            max: g.size.max,
        }
    }
    fn resize(&self, g: &Group, size: Size) -> impl Future<Output = Result<(), AwsError>> {
        self.0.resize_group(&g.name, size)
    }
    fn tag(
        &self,
        g: &Group,
        tags: &[(&str, String)],
    ) -> impl Future<Output = Result<(), AwsError>> {
        self.0.tag_group(&g.name, tags)
    }
}

struct ServicesOf<'a, P>(&'a P);

impl<P: Services> Scaled for ServicesOf<'_, P> {
    type Item = Service;
    type Size = ServiceSize;
    fn id(s: &Service) -> &str {
        &s.arn
    }
    fn recorded(s: &Service) -> (&'static str, String) {
        (ECS_SIZE_TAG, s.size.tag())
    }
    /// The desired count to 0, and the scalable target to 0/0 (or it would scale it back).
    fn zero(s: &Service) -> ServiceSize {
        ServiceSize {
            desired: 0,
            bounds: s.size.bounds.map(|_| (0, 0)),
        }
    }
    fn resize(&self, s: &Service, size: ServiceSize) -> impl Future<Output = Result<(), AwsError>> {
        self.0.resize_service(s, size)
    }
    fn tag(
        &self,
        s: &Service,
        tags: &[(&str, String)],
    ) -> impl Future<Output = Result<(), AwsError>> {
        self.0.tag_service(&s.arn, tags)
    }
}

/// A stop records the size first (with the last action, in one call) and scales to zero only
/// once that is written: a size never recorded is a size that could not come back. A start
/// restores the recorded size, then says so. No DryRun here: a dry run plans and calls nothing.
async fn apply_scaled<K: Scaled>(
    kind: K,
    observed: &[K::Item],
    plan: &Plan<Act>,
    restore: &BTreeMap<String, K::Size>,
    mode: Mode,
    limits: &Limits<'_>,
    stamp: &str,
) -> Outcome {
    let mut out = Outcome::default();
    if mode.is_dry_run() {
        return out;
    }
    for p in plan.runnable() {
        let Some(item) = observed.iter().find(|i| K::id(i) == p.target) else {
            continue;
        };
        let id = K::id(item);
        if limits.budget.is_spent() {
            out.applied.not_started.push(p.target.clone());
            continue;
        }
        let result = match p.action {
            Act::Start => {
                let Some(size) = restore.get(id) else {
                    continue;
                };
                limits.start.acquire().await;
                let resized = kind.resize(item, *size).await;
                if resized.is_ok() {
                    let tags = [(LAST_ACTION_TAG, format!("started {stamp}"))];
                    if let Err(error) = kind.tag(item, &tags).await {
                        out.untagged.push(Untagged {
                            id: id.to_owned(),
                            error,
                        });
                    }
                }
                resized
            }
            Act::Stop | Act::Hibernate => {
                limits.stop.acquire().await;
                let tags = [
                    K::recorded(item),
                    (LAST_ACTION_TAG, format!("stopped {stamp}")),
                ];
                match kind.tag(item, &tags).await {
                    Ok(()) => kind.resize(item, K::zero(item)).await,
                    Err(e) => Err(e),
                }
            }
        };
        match result {
            Ok(()) => out.applied.done(id, p.action, None),
            Err(e) => out.applied.failed(id, p.action, e),
        }
    }
    out
}

/// A region's ECS services: the size is the desired count and the scalable target's bounds.
pub async fn apply_services<P: Services>(
    port: &P,
    service_plan: &ServicePlan,
    mode: Mode,
    limits: &Limits<'_>,
    stamp: &str,
) -> Outcome {
    let sp = service_plan;
    apply_scaled(
        ServicesOf(port),
        &sp.observed,
        &sp.plan,
        &sp.restore,
        mode,
        limits,
        stamp,
    )
    .await
}

/// A region's Auto Scaling groups: the size is min, desired and max.
pub async fn apply_groups<P: Groups>(
    port: &P,
    group_plan: &GroupPlan,
    mode: Mode,
    limits: &Limits<'_>,
    stamp: &str,
) -> Outcome {
    let gp = group_plan;
    apply_scaled(
        GroupsOf(port),
        &gp.observed,
        &gp.plan,
        &gp.restore,
        mode,
        limits,
        stamp,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::fake::FakeFleet as Fake;
    use fleetkeeper::Plan;
    use fleetkeeper::exec::BucketSpec;

    fn stop_plan(n: usize, hibernate: &[usize]) -> Plan<Act> {
        let mut p = Plan::new();
        for i in 0..n {
            let act = if hibernate.contains(&i) {
                Act::Hibernate
            } else {
                Act::Stop
            };
            p.act(format!("i-{i:04}"), act, "test");
        }
        p
    }

    async fn run(fake: &Fake, plan: &Plan<Act>, mode: Mode, budget: Budget) -> Outcome {
        let fast = RateLimiter::new(BucketSpec::new(10_000, 10_000.0));
        let limits = Limits {
            stop: &fast,
            start: &fast,
            budget,
        };
        let region_plan = RegionPlan {
            plan: plan.clone(),
            ..RegionPlan::default()
        };
        apply(fake, &region_plan, mode, &limits, "2026-11-20T20:00:00Z").await
    }

    #[tokio::test]
    async fn no_capacity_for_one_instance_starts_the_others() {
        let fake = Fake {
            no_capacity: ["i-0003".to_string()].into(),
            ..Fake::default()
        };
        let mut p = Plan::new();
        for i in 0..8 {
            p.act(format!("i-{i:04}"), Act::Start, "test");
        }
        let out = run(&fake, &p, Mode::Live, Budget::unlimited()).await;
        assert_eq!(out.applied.done.len(), 7);
        assert_eq!(out.applied.failed.len(), 1);
        assert_eq!(out.applied.failed[0].target, "i-0003");
        assert!(
            out.applied.failed[0].error.is_retryable(),
            "the next run tries again"
        );
    }

    #[tokio::test]
    async fn batches_of_1000_and_a_bad_id_is_split_out() {
        let fake = Fake {
            missing: ["i-1234".to_string()].into(),
            ..Fake::default()
        };
        let out = run(
            &fake,
            &stop_plan(2500, &[]),
            Mode::Live,
            Budget::unlimited(),
        )
        .await;
        assert_eq!(out.applied.done.len(), 2499);
        assert_eq!(out.applied.failed.len(), 1);
        assert_eq!(out.applied.failed[0].target, "i-1234");
        assert_eq!(
            out.applied.failed[0].error.code(),
            Some("InvalidInstanceID.NotFound")
        );
        let calls = fake.calls.lock().unwrap();
        assert!(calls.iter().all(|(_, n)| *n <= MAX_BATCH));
        assert_eq!(calls[0].1, 1000);
        // One bad id in a batch of 1000 costs about log2(1000) * 2 extra calls, not 1000.
        assert!(calls.len() < 30, "{} calls", calls.len());
        let tagged = fake.tagged.lock().unwrap();
        assert_eq!(tagged.len(), 2499);
        assert!(
            tagged
                .iter()
                .all(|(_, v)| v == "stopped 2026-11-20T20:00:00Z")
        );
    }

    #[tokio::test]
    async fn refused_hibernation_falls_back_to_a_plain_stop() {
        let fake = Fake {
            no_hibernation: ["i-0001".to_string()].into(),
            ..Fake::default()
        };
        let out = run(
            &fake,
            &stop_plan(4, &[0, 1]),
            Mode::Live,
            Budget::unlimited(),
        )
        .await;
        assert!(out.applied.failed.is_empty());
        let stopped = fake.stopped.lock().unwrap();
        assert!(stopped.contains(&("i-0000".into(), true)), "hibernated");
        assert!(
            stopped.contains(&("i-0001".into(), false)),
            "stopped plainly"
        );
        let fallback = out
            .applied
            .done
            .iter()
            .find(|d| d.target == "i-0001")
            .unwrap();
        assert_eq!(fallback.action, Act::Stop);
        let note = fallback.detail.as_ref().and_then(|d| d["note"].as_str());
        assert!(note.unwrap().contains("hibernation refused"), "{note:?}");
    }

    #[tokio::test]
    async fn dry_run_changes_nothing_and_tags_nothing() {
        let fake = Fake::default();
        let out = run(&fake, &stop_plan(3, &[]), Mode::DryRun, Budget::unlimited()).await;
        assert_eq!(
            out.applied.done.len(),
            3,
            "EC2's DryRun said it would succeed"
        );
        assert!(fake.stopped.lock().unwrap().is_empty());
        assert!(fake.tagged.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_spent_budget_leaves_everything_for_the_next_run() {
        let fake = Fake::default();
        let spent = Budget::until(std::time::SystemTime::now(), std::time::Duration::ZERO);
        let out = run(&fake, &stop_plan(1500, &[]), Mode::Live, spent).await;
        assert_eq!(out.applied.not_started.len(), 1500);
        assert!(fake.calls.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_refused_plan_does_nothing() {
        let fake = Fake::default();
        let plan = stop_plan(10, &[]).cap(5, "MAX_ACTIONS");
        let out = run(&fake, &plan, Mode::Live, Budget::unlimited()).await;
        assert!(out.applied.done.is_empty() && out.applied.failed.is_empty());
        assert!(fake.calls.lock().unwrap().is_empty());
    }
}
