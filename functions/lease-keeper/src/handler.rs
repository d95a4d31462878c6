//! One invocation: the evaluation time, every region's leased instances (concurrently), the
//! termination protection of those that could go, plan, the run-wide termination cap, apply,
//! report.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use fleetkeeper::Error;
use fleetkeeper::exec::Budget;
use fleetkeeper::run::Places;
use fleetkeeper::telemetry::Metrics;

use fleetkeeper::seal::Keys;

use crate::adopt;
use crate::apply::{Run, Wording, apply};
use crate::config::Config;
use crate::event;
use crate::plan::{cap_terminations, may_terminate, plan, sort_by_seal};
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
    let leased = Places::observe(targets, |t| t.port.region(), |t| t.port.leased()).await;
    if let Some(e) = leased.all_failed() {
        return Err(e.into());
    }
    // Only a lease whose seal verifies is acted on: its tags are anyone's to write.
    let ring = match keys
        .ring_for(leased.read().flat_map(|(_, _, l)| l).map(|i| &i.tags))
        .await
    {
        Ok(ring) => ring,
        Err(e) => {
            let report = report::no_key(config.mode, at.to_string(), keys.name(), &e);
            report::metrics_into(&report, metrics);
            report.log();
            return Ok(report);
        }
    };
    let ring = &ring;
    // A second look: termination protection, read only for what could be terminated now.
    let observed = leased
        .look_again(|t, l| async move {
            let sorted = sort_by_seal(l, ring);
            let mut protected = Vec::new();
            for i in sorted.ours.iter().filter(|i| may_terminate(i, config, at)) {
                if t.port.protected(&i.id).await? {
                    protected.push(i.id.clone());
                }
            }
            Ok((sorted, protected))
        })
        .await;
    let mut planned = observed.map(|_, (sorted, protected)| {
        let plan = plan(&sorted.ours, &protected, config, at);
        (sorted, plan)
    });
    cap_terminations(planned.read_mut().map(|(_, p)| p), config.max_terminations);
    let wording = &Wording {
        grace_days: config.grace_days,
        extend_url: config.extend_url.as_deref(),
    };
    let applied = planned
        .apply(|t, (sorted, plan)| async move {
            let tags: BTreeMap<String, BTreeMap<String, String>> = sorted
                .ours
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
            let out = apply(&t.port, notifier, &plan, &tags, wording, &run).await;
            (sorted.not_ours, plan, out)
        })
        .await;
    let mut report = report::new(config.mode, at.to_string());
    applied.record(&mut report, |report, region, (not_ours, plan, out)| {
        report::add_not_ours(report, region, &not_ours);
        report.add_plan(Some(region), &plan);
        report.add_applied(Some(region), &plan, &out);
    });
    report::metrics_into(&report, metrics);
    report.log();
    Ok(report)
}
