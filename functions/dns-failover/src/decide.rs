//! One pass over the groups an invocation concerns: observe each (concurrently: probe, vote,
//! read), plan each, apply, and decide again any group another region was changing at the
//! same moment, once it has saved; then the report and its metrics.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use jiff::Timestamp;

use fleetkeeper::exec::Budget;
use fleetkeeper::telemetry::Metrics;

use crate::apply::apply;
use crate::config::{Config, Group};
use crate::plan::{Context, GroupPlan, Input, plan};
use crate::ports::{App, Claim, Dns, Look, Probe, States};
use crate::report::{self, FailoverReport, GroupReport};

/// What a run keeps back from its deadline.
pub const RESERVE: Duration = Duration::from_secs(5);

/// Observe every group concerned (concurrently), plan each, apply, report. A group whose state
/// another region was changing is decided again once that region has saved it.
pub async fn process<D: Dns + Sync, S: States + Sync, P: Probe + Sync>(
    app: &App<D, S, P>,
    config: &Config,
    label: &str,
    inputs: Vec<(&Group, Input)>,
    now: Timestamp,
    budget: Budget,
    metrics: &mut Metrics,
) -> FailoverReport {
    let ctx = Context::new(config, now);
    let observed = join_all(inputs.iter().map(|(g, input)| {
        let look = match input {
            Input::Probe => Look::Probe,
            _ => Look::Again(None),
        };
        app.observe(g, look, config, now)
    }))
    .await;
    let mut reports = Vec::new();
    let mut plans = Vec::new();
    for ((group, input), observed) in inputs.iter().zip(observed) {
        match observed {
            Ok(o) => plans.push(plan(group, input, o, &ctx)),
            Err(e) => {
                let mut report = GroupReport::new(group);
                report.error = Some(e);
                reports.push(report);
            }
        }
    }
    let started = Instant::now();
    while !plans.is_empty() {
        let applied = apply(&app.route53, &app.store, config, plans, now, budget).await;
        reports.extend(applied.reports);
        plans = Vec::new();
        for (lost, holder) in applied.lost {
            match decide_again(app, config, &inputs, &ctx, lost, &holder, started, budget).await {
                Ok(again) => plans.push(again),
                Err(report) => reports.push(*report),
            }
        }
    }
    // In the order the groups were asked about.
    reports.sort_by_key(|r| inputs.iter().position(|(g, _)| g.name == r.group));
    let report = report::new(label, config.mode, reports);
    report::log(&report);
    report::metrics_into(&report, metrics);
    report
}

/// A group lost to another decider: waits until that decider has saved the state (bounded by
/// the change wait and the budget), then decides again on it, this run's probe kept. If it
/// never does, the group's report says so; an alarm's result not counted is a failure.
#[allow(clippy::too_many_arguments)]
async fn decide_again<D: Dns + Sync, S: States + Sync, P: Probe + Sync>(
    app: &App<D, S, P>,
    config: &Config,
    inputs: &[(&Group, Input)],
    ctx: &Context,
    lost: GroupPlan,
    holder: &Claim,
    started: Instant,
    budget: Budget,
) -> Result<GroupPlan, Box<GroupReport>> {
    let name = lost.report.group.clone();
    let Some((group, input)) = inputs.iter().find(|(g, _)| g.name == name) else {
        return Err(Box::new(lost.report));
    };
    // The winner saves once its record change is in sync: the change wait, and time for its
    // SSM writes.
    let bound = config.change_wait + Duration::from_secs(5).max(config.change_poll * 10);
    loop {
        let moved = matches!(
            app.store.load(&name).await,
            Ok(s) if s.as_ref().map_or(0, |s| s.version) != lost.base_version
        );
        if moved {
            break;
        }
        let out_of_time = started.elapsed() >= bound
            || budget
                .remaining()
                .is_some_and(|r| r < config.change_poll + RESERVE);
        if out_of_time {
            let mut report = lost.report;
            let why = format!(
                "{} was deciding this group (since {}) and had not saved it after {} s: this run changed nothing",
                holder.by,
                holder.at,
                started.elapsed().as_secs()
            );
            match input {
                Input::Observed(..) => {
                    report.error = Some(format!("alarm result not counted: {why}"))
                }
                _ => report.say(why),
            }
            (report.action, report.flip) = ("none", None);
            report.side_after = report.side_before;
            report.record_after = report.record_before.clone();
            return Err(Box::new(report));
        }
        tokio::time::sleep(config.change_poll).await;
    }
    let look = Look::Again(lost.report.probe.clone());
    match app.observe(group, look, config, ctx.now).await {
        Ok(o) => {
            let mut again = plan(group, input, o, ctx);
            again.report.say(format!(
                "decided again after {} changed the group first",
                holder.by
            ));
            Ok(again)
        }
        Err(e) => {
            let mut report = lost.report;
            report.error = Some(e);
            Err(Box::new(report))
        }
    }
}
