//! One invocation: the evaluation time, every region's leased instances (concurrently), the
//! termination protection of those that could go, plan, the run-wide termination cap, apply,
//! report.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::join_all;
use jiff::Timestamp;
use serde_json::Value;

use fleetkeeper::exec::Budget;
use fleetkeeper::report::all_failed;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{Error, Plan};

use fleetkeeper::AwsError;
use fleetkeeper::seal::Keys;

use crate::adopt;
use crate::apply::{Run, Wording, apply};
use crate::config::Config;
use crate::event;
use crate::plan::{Act, Sorted, cap_terminations, may_terminate, plan, sort_by_seal};
pub use crate::ports::Target;
use crate::ports::{Instances, Notifier};
use crate::report::{self, LeaseReport};

/// Kept back from the invocation deadline to return the report.
pub const RESERVE: Duration = Duration::from_secs(10);

#[allow(clippy::too_many_arguments)]
pub async fn run<I: Instances + Sync, N: Notifier + Sync>(
    targets: &[Target<I>],
    notifier: &N,
    keys: &Keys,
    config: &Config,
    payload: &Value,
    now: Timestamp,
    budget: Budget,
    metrics: &mut Metrics,
) -> Result<LeaseReport, Error> {
    let at = event::parse(payload)?.unwrap_or(now);
    if let Some(adopt) = event::adopt(payload)? {
        return adopt::run(targets, keys, config, adopt, at, metrics).await;
    }
    let leased = join_all(targets.iter().map(|t| t.port.leased())).await;
    if let Some(e) = all_failed(&leased) {
        return Err(e.clone().into());
    }
    // Only a lease whose seal verifies is acted on: its tags are anyone's to write.
    let met = leased.iter().flatten().flatten().map(|i| &i.tags);
    let ring = match keys.ring_for(met).await {
        Ok(ring) => ring,
        Err(e) => {
            let report = report::no_key(config.mode, at.to_string(), keys.name(), &e);
            report::metrics_into(&report, metrics);
            report.log();
            return Ok(report);
        }
    };
    let ring = &ring;
    let sorted: Vec<Result<Sorted, AwsError>> = leased
        .into_iter()
        .map(|l| Ok(sort_by_seal(l?, ring)))
        .collect();
    let observed = join_all(targets.iter().zip(&sorted).map(|(t, s)| async move {
        let instances = s.as_ref().map_err(Clone::clone)?.ours.clone();
        // Termination protection is read only for what could be terminated now.
        let mut protected = Vec::new();
        for i in instances.iter().filter(|i| may_terminate(i, config, at)) {
            if t.port.protected(&i.id).await? {
                protected.push(i.id.clone());
            }
        }
        Ok::<_, AwsError>((instances, protected))
    }))
    .await;
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
                    let tags: BTreeMap<String, BTreeMap<String, String>> = instances
                        .iter()
                        .map(|i| (i.id.clone(), i.tags.clone()))
                        .collect();
                    let run = Run {
                        mode: config.mode,
                        now: at,
                        limiter: &t.limits,
                        budget,
                        ring,
                    };
                    Some(apply(&t.port, notifier, plan, &tags, wording, &run).await)
                }
            }),
    )
    .await;
    let mut report = report::new(config.mode, at.to_string());
    for (t, s) in targets.iter().zip(&sorted) {
        if let Ok(s) = s {
            report::add_not_ours(&mut report, t.port.region(), &s.not_ours);
        }
    }
    for ((t, o), (p, out)) in targets
        .iter()
        .zip(&observed)
        .zip(plans.iter().zip(&outcomes))
    {
        match (o, p, out) {
            (Err(e), _, _) => report.place_unreadable(t.port.region(), e),
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
