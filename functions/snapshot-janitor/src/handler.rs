//! One invocation: for every region concurrently, observe volumes and our snapshots, plan
//! creates and retention, create then prune, and report.

use std::time::Duration;

use futures_util::future::join_all;
use jiff::Timestamp;
use serde_json::Value;

use fleetkeeper::Error;
use fleetkeeper::exec::{Budget, RateLimiter};
use fleetkeeper::report::all_failed;
use fleetkeeper::telemetry::Metrics;

use crate::apply::{Limits, apply};
use crate::config::Config;
use crate::plan::{decide, plan_create, share_deletes};
use crate::ports::Ebs;
use crate::report::{self, JanitorReport};

/// Time kept back from the invocation deadline to return the report.
pub const RESERVE: Duration = Duration::from_secs(20);

/// One region, with its own limiter: CreateSnapshot and DeleteSnapshot share one bucket.
pub type Target<E> = fleetkeeper::exec::Target<E, RateLimiter>;

pub async fn run<E: Ebs + Sync>(
    targets: &[Target<E>],
    config: &Config,
    payload: &Value,
    now: Timestamp,
    budget: Budget,
    metrics: &mut Metrics,
) -> Result<JanitorReport, Error> {
    if !payload.is_object() {
        return Err(Error::input(format!(
            "snapshot-janitor expects a JSON object (a scheduled event or {{}}), got {payload}"
        )));
    }
    // Observe and plan every region first, so MAX_DELETES can be shared over the whole run.
    let planned = join_all(targets.iter().map(|t| async move {
        let (volumes, instances, snapshots) = futures_util::join!(
            t.port.tagged_volumes(),
            t.port.tagged_instances(),
            t.port.our_snapshots()
        );
        let (volumes, instances, snapshots) = (volumes?, instances?, snapshots?);
        let create = plan_create(&volumes, &instances, &snapshots, &config.time_zone, now);
        // What still exists: a gone volume's (or instance's) newest snapshot has a grace.
        let live = volumes
            .iter()
            .map(|v| v.id.clone())
            .chain(instances.iter().map(|i| i.id.clone()))
            .collect();
        let decisions = decide(&snapshots, &live, &config.rules, &config.time_zone, now);
        Ok((create, decisions))
    }))
    .await;
    let doomed: Vec<usize> = planned
        .iter()
        .map(|p| {
            p.as_ref()
                .map_or(0, |(_, d)| d.iter().filter(|d| d.delete).count())
        })
        .collect();
    let quotas = share_deletes(&doomed, config.max_deletes);
    let regions = join_all(targets.iter().zip(planned).zip(quotas).map(
        |((t, planned), quota)| async move {
            let (create, decisions) = planned?;
            let limits = Limits {
                snapshots: &t.limits,
                budget,
                max_deletes: quota,
            };
            let out = apply(&t.port, &create, &decisions, config.mode, &limits).await;
            Ok::<_, fleetkeeper::AwsError>((create, decisions, out))
        },
    ))
    .await;
    if let Some(e) = all_failed(&regions) {
        // Nothing could be read anywhere: fail the invocation so Lambda's Errors metric sees it.
        return Err(e.into());
    }
    let mut report = report::new(config.mode);
    for (t, r) in targets.iter().zip(&regions) {
        match r {
            Ok((create, decisions, out)) => {
                report::add_region(&mut report, t.port.region(), create, decisions, out)
            }
            Err(e) => report::region_failed(&mut report, t.port.region(), e),
        }
    }
    report::metrics_into(&report, metrics);
    report.log();
    Ok(report)
}
