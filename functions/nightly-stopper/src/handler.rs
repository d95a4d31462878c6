//! One invocation: parse the payload, observe every region concurrently, plan, apply the cap
//! over all regions, act, report.

use std::time::Duration;

use futures_util::future::join_all;
use jiff::Timestamp;
use serde_json::Value;

use fleetkeeper::aws::Aws;
use fleetkeeper::exec::{Budget, RateLimiter};
use fleetkeeper::plan::cap_together;
use fleetkeeper::report::all_failed;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{Error, Plan};

use crate::apply::{Limits, apply};
use crate::config::Config;
use crate::event;
use crate::plan::{Act, plan};
use crate::ports::{Ec2Fleet, Fleet};
use crate::report::{self, StopperReport};

/// Time kept back from the invocation deadline to finish tagging and return the report.
pub const RESERVE: Duration = Duration::from_secs(10);

/// StopInstances (and CreateTags) and StartInstances have buckets of their own.
pub struct StartStop {
    pub stop: RateLimiter,
    pub start: RateLimiter,
}

impl StartStop {
    pub fn new(config: &Config) -> Self {
        StartStop {
            stop: RateLimiter::new(config.stop_rate),
            start: RateLimiter::new(config.start_rate),
        }
    }
}

/// One region of one account, with its own limiters.
pub type Target<F> = fleetkeeper::exec::Target<F, StartStop>;

/// Every region (REGIONS) of the function's own account, or of each account in ROLE_ARNS.
pub async fn targets(aws: &Aws, config: &Config) -> Vec<Target<Ec2Fleet>> {
    aws.places(
        &config.role_arns,
        "fleetkeeper-nightly-stopper",
        "EC2",
        &config.regions,
        aws_sdk_ec2::Client::new,
    )
    .await
    .into_iter()
    .map(|(name, client)| Target {
        port: Ec2Fleet::new(name, client),
        limits: StartStop::new(config),
    })
    .collect()
}

pub async fn run<F: Fleet + Sync>(
    targets: &[Target<F>],
    config: &Config,
    payload: &Value,
    now: Timestamp,
    budget: Budget,
    metrics: &mut Metrics,
) -> Result<StopperReport, Error> {
    let action = event::parse(payload)?;
    tracing::debug!(
        ?action,
        budget_ms = budget.remaining().map(|d| d.as_millis() as u64),
        "run started"
    );
    let observed = join_all(targets.iter().map(|t| {
        t.port
            .tagged(&config.schedule_tag.key, &config.schedule_tag.value)
    }))
    .await;
    if let Some(e) = all_failed(&observed) {
        // Nothing could be read anywhere: fail the invocation so Lambda's Errors metric sees it.
        return Err(e.into());
    }

    let mut plans: Vec<Option<(usize, Plan<Act>)>> = observed
        .iter()
        .map(|o| {
            o.as_ref()
                .ok()
                .map(|instances| (instances.len(), plan(action, instances, config, now)))
        })
        .collect();
    // MAX_ACTIONS counts every region and account of the run.
    cap_together(
        plans.iter_mut().flatten().map(|(_, p)| p),
        config.max_actions,
        "MAX_ACTIONS",
    );

    let stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let outcomes = join_all(targets.iter().zip(&plans).map(|(t, p)| {
        let stamp = stamp.as_str();
        async move {
            match p {
                Some((_, plan)) => {
                    let limits = Limits {
                        stop: &t.limits.stop,
                        start: &t.limits.start,
                        budget,
                    };
                    Some(apply(&t.port, plan, config.mode, &limits, stamp).await)
                }
                None => None,
            }
        }
    }))
    .await;

    let mut report = report::new(action, config.mode);
    for ((t, observed), (p, out)) in targets
        .iter()
        .zip(&observed)
        .zip(plans.iter().zip(&outcomes))
    {
        match (observed, p, out) {
            (Err(e), _, _) => report::region_failed(&mut report, t.port.name(), e),
            (Ok(_), Some((matched, plan)), Some(out)) => {
                report::add_region(&mut report, t.port.name(), *matched, plan, out)
            }
            _ => unreachable!("a region that was read has a plan and an outcome"),
        }
    }
    report::metrics_into(&report, metrics);
    report.log();
    Ok(report)
}
