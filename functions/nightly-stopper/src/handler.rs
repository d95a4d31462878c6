//! One invocation: parse the payload, read the schedules, observe every region concurrently,
//! plan (or preview), apply the cap over all regions, act, report.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use jiff::Timestamp;
use serde_json::Value;

use fleetkeeper::aws::Aws;
use fleetkeeper::exec::{Budget, RateLimiter};
use fleetkeeper::parameter::{Cached, REREAD_AFTER};
use fleetkeeper::plan::cap_together;
use fleetkeeper::report::all_failed;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{ConfigError, Error};

use crate::apply::{Limits, apply};
use crate::config::{Config, DOCUMENT, SchedulesSource};
use crate::event::{self, Request};
use crate::plan::{self, RegionPlan};
use crate::ports::{Documents, Ec2Fleet, Fleet, Instance};
use crate::preview;
use crate::report::{self, StopperReport};
use crate::schedule::{self, Schedules};

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

/// What a warm function keeps: a target per place, and the schedules document's source.
pub struct App<F, D> {
    pub targets: Vec<Target<F>>,
    pub documents: D,
    /// What SCHEDULES_PARAMETER held, read again after five minutes.
    pub schedules: Cached<Schedules>,
}

impl<F, D> App<F, D> {
    pub fn new(targets: Vec<Target<F>>, documents: D) -> Self {
        App {
            targets,
            documents,
            schedules: Cached::new(REREAD_AFTER),
        }
    }
}

/// The schedules in force: given in the configuration, or read from the parameter (a bad
/// document fails the run, naming the parameter, and changes nothing).
pub async fn schedules<F, D: Documents>(
    app: &App<F, D>,
    config: &Config,
) -> Result<Arc<Schedules>, Error> {
    let name = match &config.schedules {
        SchedulesSource::Given(s) => return Ok(Arc::clone(s)),
        SchedulesSource::Parameter(name) => name,
    };
    if let Some(s) = app.schedules.fresh() {
        return Ok(s);
    }
    let text = app.documents.read(name).await?;
    let parsed =
        schedule::parse(&text, (&config.time_zone, &config.time_zone_name)).map_err(|e| {
            let origin = format!("SSM parameter {name} (SCHEDULES_PARAMETER)");
            ConfigError::document(origin, DOCUMENT, e)
        })?;
    Ok(app.schedules.store(parsed))
}

pub async fn run<F: Fleet + Sync, D: Documents + Sync>(
    app: &App<F, D>,
    config: &Config,
    payload: &Value,
    now: Timestamp,
    budget: Budget,
    metrics: &mut Metrics,
) -> Result<StopperReport, Error> {
    run_in(app, &app.targets, config, payload, now, budget, metrics).await
}

/// One run over the given places: the function's own (ROLE_ARNS x REGIONS), or one
/// organisation target.
pub async fn run_in<F: Fleet + Sync, D: Documents + Sync>(
    app: &App<F, D>,
    targets: &[Target<F>],
    config: &Config,
    payload: &Value,
    now: Timestamp,
    budget: Budget,
    metrics: &mut Metrics,
) -> Result<StopperReport, Error> {
    let request = event::parse(payload)?;
    tracing::debug!(
        ?request,
        budget_ms = budget.remaining().map(|d| d.as_millis() as u64),
        "run started"
    );
    // Manual stops and starts need no schedule: a broken document must not block them.
    let schedules = match request {
        Request::Manual(_) => None,
        _ => Some(schedules(app, config).await?),
    };
    let observed = join_all(
        targets
            .iter()
            .map(|t| t.port.scheduled(&config.schedule_tag.key)),
    )
    .await;
    if let Some(e) = all_failed(&observed) {
        // Nothing could be read anywhere: fail the invocation so Lambda's Errors metric sees it.
        return Err(e.into());
    }
    let at = match request {
        Request::Evaluate { at } | Request::Preview { at, .. } => at.unwrap_or(now),
        Request::Manual(_) => now,
    };
    let verdicts = schedules.as_deref().map(|s| s.verdicts(at));

    if let (Request::Preview { hours, .. }, Some(schedules)) = (request, &schedules) {
        let fleet: Vec<(&str, &Instance)> = targets
            .iter()
            .zip(&observed)
            .filter_map(|(t, o)| Some((t.port.name(), o.as_ref().ok()?)))
            .flat_map(|(place, list)| list.iter().map(move |i| (place, i)))
            .collect();
        let preview = preview::preview(&fleet, schedules, &config.schedule_tag.key, at, hours);
        let mut report = report::new(request, at, config.mode);
        for (t, o) in targets.iter().zip(&observed) {
            if let Err(e) = o {
                report::add_unreadable_region(&mut report, t.port.name(), e);
            }
        }
        report.fields.preview = Some(preview);
        report.log();
        return Ok(report);
    }

    let mut plans: Vec<Option<(usize, RegionPlan)>> = observed
        .iter()
        .map(|o| {
            let instances = o.as_ref().ok()?;
            let plan = match (request, &schedules, &verdicts) {
                (Request::Manual(action), _, _) => plan::manual(action, instances, config, now),
                (_, Some(s), Some(v)) => plan::evaluate(instances, s, v, config, at),
                _ => unreachable!("schedules are read for every request but a manual one"),
            };
            Some((instances.len(), plan))
        })
        .collect();
    // MAX_ACTIONS counts every region and account of the run.
    cap_together(
        plans.iter_mut().flatten().map(|(_, p)| &mut p.plan),
        config.max_actions,
        "MAX_ACTIONS",
    );

    // When we acted: the clock, but never before the time evaluated for (an event replayed
    // for a later time must read as acted on after that time's boundaries).
    let stamp = now.max(at).strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let outcomes = join_all(targets.iter().zip(&plans).map(|(t, p)| {
        let stamp = stamp.as_str();
        async move {
            let (_, region_plan) = p.as_ref()?;
            let limits = Limits {
                stop: &t.limits.stop,
                start: &t.limits.start,
                budget,
            };
            Some(apply(&t.port, region_plan, config.mode, &limits, stamp).await)
        }
    }))
    .await;

    let mut report = report::new(request, at, config.mode);
    for ((t, observed), (p, out)) in targets
        .iter()
        .zip(&observed)
        .zip(plans.iter().zip(&outcomes))
    {
        match (observed, p, out) {
            (Err(e), _, _) => report::add_unreadable_region(&mut report, t.port.name(), e),
            (Ok(_), Some((matched, plan)), Some(out)) => {
                report::add_region(&mut report, t.port.name(), *matched, plan, out, at)
            }
            _ => unreachable!("a region that was read has a plan and an outcome"),
        }
    }
    report::metrics_into(&report, metrics);
    report.log();
    Ok(report)
}
