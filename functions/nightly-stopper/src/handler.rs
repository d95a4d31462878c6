//! One invocation: parse the payload, read the schedules, observe every region concurrently,
//! plan (or preview), apply the cap over all regions, act, report.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use fleetkeeper::aws::Aws;
use fleetkeeper::exec::{Budget, RateLimiter};
use fleetkeeper::parameter::{Cached, REREAD_AFTER};
use fleetkeeper::plan::cap_together;
use fleetkeeper::run::Places;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{ConfigError, Error};

use crate::apply::{Limits, apply};
use crate::config::{Config, DOCUMENT, SchedulesSource};
use crate::event::{self, Request};
use crate::plan;
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
    let observed = Places::observe(
        targets,
        |t| t.port.name(),
        |t| t.port.scheduled(&config.schedule_tag.key),
    )
    .await;
    if let Some(e) = observed.all_failed() {
        // Nothing could be read anywhere: fail the invocation so Lambda's Errors metric sees it.
        return Err(e.into());
    }
    // Manual stops and starts need no schedule: a broken document must not block them.
    let (at, planned) = match request {
        Request::Manual(action) => {
            let plans = observed.map(|_, i| (i.len(), plan::manual(action, &i, config, now)));
            (now, plans)
        }
        Request::Preview { at, hours } => {
            let at = at.unwrap_or(now);
            let schedules = schedules(app, config).await?;
            let fleet: Vec<(&str, &Instance)> = observed
                .read()
                .flat_map(|(_, place, list)| list.iter().map(move |i| (place, i)))
                .collect();
            let preview = preview::preview(&fleet, &schedules, &config.schedule_tag.key, at, hours);
            let mut report = report::new(request, at, config.mode);
            for (place, e) in observed.unreadable() {
                report::add_unreadable_region(&mut report, place, e);
            }
            report.fields.preview = Some(preview);
            report.log();
            return Ok(report);
        }
        Request::Evaluate { at } => {
            let at = at.unwrap_or(now);
            let schedules = schedules(app, config).await?;
            let verdicts = schedules.verdicts(at);
            let plans = observed.map(|_, i| {
                (
                    i.len(),
                    plan::evaluate(&i, &schedules, &verdicts, config, at),
                )
            });
            (at, plans)
        }
    };
    let mut planned = planned;
    // MAX_ACTIONS counts every region and account of the run.
    cap_together(
        planned.read_mut().map(|(_, p)| &mut p.plan),
        config.max_actions,
        "MAX_ACTIONS",
    );

    // When we acted: the clock, but never before the time evaluated for (an event replayed
    // for a later time must read as acted on after that time's boundaries).
    let stamp = now.max(at).strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let stamp = stamp.as_str();
    let applied = planned
        .apply(|t, (matched, region_plan)| async move {
            let limits = Limits {
                stop: &t.limits.stop,
                start: &t.limits.start,
                budget,
            };
            let out = apply(&t.port, &region_plan, config.mode, &limits, stamp).await;
            (matched, region_plan, out)
        })
        .await;

    let mut report = report::new(request, at, config.mode);
    applied.record_with(
        &mut report,
        |report, place, (matched, plan, out)| {
            report::add_region(report, place, matched, &plan, &out, at)
        },
        report::add_unreadable_region,
    );
    report::metrics_into(&report, metrics);
    report.log();
    Ok(report)
}
