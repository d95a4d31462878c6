//! One invocation: the evaluation time, every region's leased instances (concurrently), the
//! termination protection of those that could go, plan, the run-wide termination cap, apply,
//! report.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::join_all;
use jiff::Timestamp;
use serde_json::Value;

use fleetkeeper::exec::{Budget, RateLimiter};
use fleetkeeper::report::all_failed;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{Error, Plan};

use crate::apply::{Run, Wording, apply};
use crate::config::Config;
use crate::event;
use crate::plan::{Act, cap_terminations, may_terminate, plan};
use crate::ports::{Instances, Notifier};
use crate::report::{self, LeaseReport};

/// Kept back from the invocation deadline to return the report.
pub const RESERVE: Duration = Duration::from_secs(10);

/// One region, with its limiter for EC2's mutating calls.
pub type Target<I> = fleetkeeper::exec::Target<I, RateLimiter>;

pub async fn run<I: Instances + Sync, N: Notifier + Sync>(
    targets: &[Target<I>],
    notifier: &N,
    config: &Config,
    payload: &Value,
    now: Timestamp,
    budget: Budget,
    metrics: &mut Metrics,
) -> Result<LeaseReport, Error> {
    let at = event::parse(payload)?.unwrap_or(now);
    let observed = join_all(targets.iter().map(|t| async move {
        let instances = t.port.leased().await?;
        // Termination protection is read only for what could be terminated now.
        let mut protected = Vec::new();
        for i in instances.iter().filter(|i| may_terminate(i, config, at)) {
            if t.port.protected(&i.id).await? {
                protected.push(i.id.clone());
            }
        }
        Ok::<_, fleetkeeper::AwsError>((instances, protected))
    }))
    .await;
    if let Some(e) = all_failed(&observed) {
        return Err(e.into());
    }
    let mut plans: Vec<Option<Plan<Act>>> = observed
        .iter()
        .map(|o| {
            let (instances, protected) = o.as_ref().ok()?;
            Some(plan(instances, protected, config, at))
        })
        .collect();
    cap_terminations(
        &mut plans.iter_mut().flatten().collect::<Vec<_>>(),
        config.max_terminations,
    );
    let wording = Wording {
        grace_days: config.grace_days,
        extend_url: config.extend_url.as_deref(),
    };
    let outcomes = join_all(
        targets
            .iter()
            .zip(&observed)
            .zip(&plans)
            .map(|((t, o), p)| {
                let wording = &wording;
                async move {
                    let ((instances, _), plan) = (o.as_ref().ok()?, p.as_ref()?);
                    let names: BTreeMap<String, String> = instances
                        .iter()
                        .filter_map(|i| Some((i.id.clone(), i.tags.get("Name")?.clone())))
                        .collect();
                    let run = Run {
                        mode: config.mode,
                        now: at,
                        limiter: &t.limits,
                        budget,
                    };
                    Some(apply(&t.port, notifier, plan, &names, wording, &run).await)
                }
            }),
    )
    .await;
    let mut report = report::new(config.mode, at.to_string());
    for ((t, o), (p, out)) in targets
        .iter()
        .zip(&observed)
        .zip(plans.iter().zip(&outcomes))
    {
        match (o, p, out) {
            (Err(e), _, _) => report::region_failed(&mut report, t.port.region(), e),
            (Ok(_), Some(plan), Some(out)) => {
                report::add_region(&mut report, t.port.region(), plan, out)
            }
            _ => unreachable!("a region that was read has a plan and an outcome"),
        }
    }
    report::metrics_into(&report, metrics);
    report.log();
    Ok(report)
}
