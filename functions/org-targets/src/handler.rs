//! One invocation: the targets of a run (Organizations or a list, crossed with the regions,
//! written as the manifest), the tally of its plan against the organisation cap, or its
//! summary. Each fails as a whole when it cannot do its one job, which stops the execution
//! before anything is applied.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::Value;

use fleetkeeper::org::Phase;
use fleetkeeper::report::{Entry, Failure, Status};
use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{AwsError, Error, Mode, Report};

use crate::apply::{
    apply_key, manifest_key, read_summaries, read_targets, summary_key, write_json,
};
use crate::config::{Accounts, Config};
use crate::event::{self, Function, Request, run_id};
use crate::plan::{self, Account, TargetOutcome};
use crate::ports::{Organization, Store};
use crate::report::{self, FullSummary, LISTED, SummaryFields, TallyFields, TargetsFields};

pub struct App<O, S> {
    pub organization: O,
    pub store: S,
}

pub async fn run<O: Organization + Sync, S: Store + Sync>(
    app: &App<O, S>,
    config: &Config,
    payload: &Value,
    now: Timestamp,
    metrics: &mut Metrics,
) -> Result<Value, Error> {
    let answer = match event::parse(payload)? {
        Request::Targets {
            function,
            event,
            at,
            dry_run,
        } => serde_json::to_value(
            targets(
                app,
                config,
                function,
                event,
                at.unwrap_or(now),
                dry_run,
                metrics,
            )
            .await?,
        ),
        Request::Tally { function, run } => {
            serde_json::to_value(tally(app, config, function, &run, metrics).await?)
        }
        Request::Summary { function, run } => {
            serde_json::to_value(summary(app, &run, function, metrics).await?)
        }
    };
    Ok(answer.expect("reports serialize"))
}

fn read_failed(what: &str, e: AwsError) -> Error {
    tracing::error!(error = %e, "{what}");
    Error::from(e)
}

async fn accounts<O: Organization + Sync>(
    app: &App<O, impl Store>,
    config: &Config,
) -> Result<Vec<Account>, Error> {
    match &config.accounts {
        Accounts::Listed(ids) => Ok(ids
            .iter()
            .map(|id| Account {
                id: id.clone(),
                name: String::new(),
                status: "ACTIVE".into(),
            })
            .collect()),
        Accounts::Units(units) => {
            let mut all = Vec::new();
            for unit in units {
                match app.organization.accounts_below(unit).await {
                    Ok(found) => all.extend(found),
                    Err(e)
                        if matches!(
                            e.code(),
                            Some("ParentNotFoundException" | "OrganizationalUnitNotFoundException")
                        ) =>
                    {
                        return Err(Error::input(format!(
                            "ORGANIZATION_UNITS: {unit} is not an OU or root of this organisation ({}): nothing was started",
                            e.code().unwrap_or_default()
                        )));
                    }
                    Err(e) => return Err(read_failed("listing the organisation failed", e)),
                }
            }
            Ok(all)
        }
    }
}

async fn targets<O: Organization + Sync, S: Store + Sync>(
    app: &App<O, S>,
    config: &Config,
    function: Function,
    event: Value,
    at: Timestamp,
    dry_run: bool,
    metrics: &mut Metrics,
) -> Result<Report<TargetsFields>, Error> {
    let accounts = accounts(app, config).await?;
    let planned = plan::targets(&accounts, config)
        .map_err(|e| Error::input(format!("{e}: nothing was started")))?;
    let run = run_id(function, at);
    let key = manifest_key(&run);
    write_json(&app.store, &key, &planned.targets)
        .await
        .map_err(|e| read_failed("writing the manifest failed", e))?;
    let count = planned.targets.len();
    let account_count = count / config.regions.len();
    let mut report = report::new(
        if dry_run { Mode::DryRun } else { Mode::Live },
        TargetsFields {
            run,
            bucket: config.bucket.clone(),
            key: key.clone(),
            count,
            accounts: account_count,
            regions: config.regions.clone(),
            max_concurrency: config.max_concurrency,
            tolerated_failure_percentage: config.tolerated_failure_percentage,
            max_rounds: config.max_rounds,
            apply_dry_run: dry_run,
            event,
        },
    );
    let why = format!(
        "{count} targets: {account_count} accounts x {} regions, for {}",
        config.regions.len(),
        function.name()
    );
    report.done(Entry::new(
        format!("s3://{}/{key}", config.bucket),
        "write-manifest",
        why,
    ));
    for (id, reason) in planned.left_out.iter().take(LISTED) {
        report.skip(Entry::new(id, "none", reason));
    }
    metrics.count("OrgTargets", count as u64);
    report.log();
    Ok(report)
}

async fn tally<O, S: Store + Sync>(
    app: &App<O, S>,
    config: &Config,
    function: Function,
    run: &str,
    metrics: &mut Metrics,
) -> Result<Report<TallyFields>, Error> {
    let manifest = manifest_of(&app.store, run).await?;
    let (summaries, unreadable) = read_summaries(&app.store, run, Phase::Plan)
        .await
        .map_err(|e| read_failed("reading the plan failed", e))?;
    let outcomes = plan::outcomes(&manifest, &summaries, Phase::Plan);
    let tally = plan::tally(&summaries, plan::cap_of(function, config));
    let failed: Vec<&TargetOutcome> = outcomes
        .iter()
        .filter(|o| o.status == Status::Failed)
        .collect();
    // The apply phase reads this list, not the manifest: a target whose plan did not report
    // was never counted, so it is never applied in this run.
    let (cleared, held) = plan::cleared(&manifest, &outcomes);
    let key = apply_key(run);
    write_json(&app.store, &key, &cleared)
        .await
        .map_err(|e| read_failed("writing the apply list failed", e))?;
    let mut report = report::new(
        Mode::DryRun,
        TallyFields {
            run: run.to_owned(),
            targets: manifest.len(),
            counted: tally.counted,
            cap: tally.cap.clone(),
            by_account: tally.by_account.iter().take(LISTED).cloned().collect(),
            failed_targets: failed.len(),
            apply_key: key,
            apply_targets: cleared.len(),
            held_back: held.len(),
        },
    );
    let counted = format!(
        "{} counted by {} over {} targets",
        tally.counted,
        tally.cap.setting,
        manifest.len()
    );
    report.planned.push(Entry::new(run, "apply", counted));
    fail_targets(&mut report, &failed, "plan");
    for u in unreadable.iter().take(LISTED) {
        report.fail(unreadable_summary(run, u));
    }
    if let Some(why) = &tally.refused {
        report.refused = Some(why.clone());
        metrics.count("OrgRunsRefused", 1);
    }
    metrics.count("OrgPlannedActions", tally.counted as u64);
    report.log();
    Ok(report)
}

async fn summary<O, S: Store + Sync>(
    app: &App<O, S>,
    run: &str,
    function: Function,
    metrics: &mut Metrics,
) -> Result<Report<SummaryFields>, Error> {
    let manifest = manifest_of(&app.store, run).await?;
    let (summaries, unreadable) = read_summaries(&app.store, run, Phase::Apply)
        .await
        .map_err(|e| read_failed("reading the results failed", e))?;
    let mut outcomes = plan::outcomes(&manifest, &summaries, Phase::Apply);
    // Targets the tally held back were never applied: failed with their plan's reason, not
    // "no report" of an apply that was never meant to run.
    if let Some(applied) = targets_at(&app.store, &apply_key(run)).await? {
        let (plans, _) = read_summaries(&app.store, run, Phase::Plan)
            .await
            .map_err(|e| read_failed("reading the plan failed", e))?;
        let plan_outcomes = plan::outcomes(&manifest, &plans, Phase::Plan);
        for (o, p) in outcomes.iter_mut().zip(&plan_outcomes) {
            let was_applied = applied
                .iter()
                .any(|t| t.account_id == o.account_id && t.region == o.region);
            if !was_applied {
                *o = plan::held_back(p);
            }
        }
    }
    let by_account = plan::by_account(&outcomes);
    let key = summary_key(run);
    write_json(
        &app.store,
        &key,
        &FullSummary {
            run,
            by_account: &by_account,
            targets: &outcomes,
        },
    )
    .await
    .map_err(|e| read_failed("writing the summary failed", e))?;
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for o in &outcomes {
        *by_status.entry(o.status.to_string()).or_insert(0) += 1;
    }
    let failed: Vec<&TargetOutcome> = outcomes
        .iter()
        .filter(|o| o.status == Status::Failed || o.failed > 0)
        .collect();
    let done: usize = outcomes.iter().map(|o| o.done).sum();
    let mut planned_by_action: BTreeMap<String, usize> = BTreeMap::new();
    for o in &outcomes {
        for (action, n) in &o.planned_by_action {
            *planned_by_action.entry(action.clone()).or_insert(0) += n;
        }
    }
    let actions_planned: usize = planned_by_action.values().sum();
    let dry = outcomes
        .iter()
        .all(|o| matches!(o.status, Status::DryRun | Status::Failed))
        && outcomes.iter().any(|o| o.status == Status::DryRun);
    let mut report = report::new(
        if dry { Mode::DryRun } else { Mode::Live },
        SummaryFields {
            run: run.to_owned(),
            targets: outcomes.len(),
            by_status,
            accounts: by_account.len(),
            by_account: by_account.into_iter().take(LISTED).collect(),
            actions_planned,
            planned_by_action: planned_by_action.clone(),
            actions_done: done,
            failed_targets: failed.len(),
            continued_targets: outcomes.iter().filter(|o| o.rounds > 1).count(),
            summary_key: key,
        },
    );
    let ok = outcomes.len() - failed.len();
    let by_action = planned_by_action
        .iter()
        .map(|(a, n)| format!("{a} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    if dry {
        // A dry run shows what it would do, and where: each target's planned actions.
        for o in outcomes
            .iter()
            .filter(|o| o.planned > 0 && o.status != Status::Failed)
            .take(LISTED)
        {
            let what = o
                .planned_by_action
                .iter()
                .map(|(a, n)| format!("{a} {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            report.planned.push(
                Entry::new(&o.account_id, function.name(), format!("would do: {what}"))
                    .in_region(&o.region),
            );
        }
        report.skip(Entry::new(
            run,
            function.name(),
            format!(
                "dry run: {actions_planned} actions planned ({by_action}) over {ok} of {} targets; nothing changed",
                outcomes.len()
            ),
        ));
    } else {
        report.done(Entry::new(
            run,
            function.name(),
            format!(
                "{ok} of {} targets without failures, {done} actions done",
                outcomes.len()
            ),
        ));
    }
    fail_targets(&mut report, &failed, function.name());
    for u in unreadable.iter().take(LISTED) {
        report.fail(unreadable_summary(run, u));
    }
    metrics.count("OrgTargetsFailed", failed.len() as u64);
    metrics.count("OrgActionsDone", done as u64);
    report.log();
    Ok(report)
}

async fn manifest_of<S: Store>(
    store: &S,
    run: &str,
) -> Result<Vec<fleetkeeper::org::Target>, Error> {
    targets_at(store, &manifest_key(run)).await?.ok_or_else(|| {
        Error::input(format!(
            "run {run} has no manifest ({}): was the targets step run?",
            manifest_key(run)
        ))
    })
}

/// A list of targets in the store; None when it is not there.
async fn targets_at<S: Store>(
    store: &S,
    key: &str,
) -> Result<Option<Vec<fleetkeeper::org::Target>>, Error> {
    match read_targets(store, key)
        .await
        .map_err(|e| read_failed("reading a list of targets failed", e))?
    {
        Some(Ok(m)) => Ok(Some(m)),
        Some(Err(e)) => Err(Error::input(format!(
            "a list of targets does not read: {e}"
        ))),
        None => Ok(None),
    }
}

/// Failed targets as failures (the first few; the count is in the fields).
fn fail_targets<F>(report: &mut Report<F>, failed: &[&TargetOutcome], action: &str) {
    for o in failed.iter().take(LISTED) {
        let why = o
            .error
            .clone()
            .unwrap_or_else(|| format!("{} action(s) failed", o.failed));
        report.fail(Failure {
            target: o.account_id.clone(),
            region: Some(o.region.clone()),
            action: action.to_owned(),
            error: why,
            code: None,
            // The next run tries the target again.
            retryable: true,
        });
    }
}

fn unreadable_summary(run: &str, what: &str) -> Failure {
    Failure {
        target: run.to_owned(),
        region: None,
        action: "read-summary".into(),
        error: format!("a target's summary does not read: {what}"),
        code: None,
        retryable: false,
    }
}
