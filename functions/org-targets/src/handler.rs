//! One invocation: the targets of a run (Organizations or a list, crossed with the regions,
//! written as the manifest), the tally of its plan against the organisation cap, or its
//! summary. Each fails as a whole when it cannot do its one job, which stops the execution
//! before anything is applied.

use jiff::Timestamp;
use serde_json::{Value, to_value};

use fleetkeeper::org::Phase;
use fleetkeeper::report::Status;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{Error, Mode, Report};

use crate::apply::{
    apply_key, failed_to, gathered, manifest_key, manifest_of, summary_key, targets_at, write_json,
};
use crate::config::Config;
use crate::event::{self, Function, Request, run_id};
use crate::plan::{self, TargetOutcome};
pub use crate::ports::App;
use crate::ports::{Organization, Store, accounts};
use crate::report::{self, FullSummary, LISTED, SummaryFields, TallyFields, TargetsFields};

pub async fn run<O: Organization + Sync, S: Store + Sync>(
    app: &App<O, S>,
    config: &Config,
    payload: &Value,
    now: Timestamp,
    metrics: &mut Metrics,
) -> Result<Value, Error> {
    let json = |report: Result<Value, serde_json::Error>| report.expect("reports serialize");
    Ok(match event::parse(payload)? {
        Request::Targets {
            function,
            event,
            at,
            dry_run,
        } => {
            let at = at.unwrap_or(now);
            json(to_value(
                targets(app, config, function, event, at, dry_run, metrics).await?,
            ))
        }
        Request::Tally { function, run } => {
            json(to_value(tally(app, config, function, &run, metrics).await?))
        }
        Request::Summary { function, run } => {
            json(to_value(summary(app, &run, function, metrics).await?))
        }
    })
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
    let accounts = accounts(&app.organization, config).await?;
    let planned = plan::targets(&accounts, config)
        .map_err(|e| Error::input(format!("{e}: nothing was started")))?;
    let run = run_id(function, at);
    let key = manifest_key(&run);
    write_json(&app.store, &key, &planned.targets)
        .await
        .map_err(|e| failed_to("writing the manifest failed", e))?;
    let count = planned.targets.len();
    let fields = TargetsFields::new(config, run, key, count, event, dry_run);
    let mode = if dry_run { Mode::DryRun } else { Mode::Live };
    let report = report::targets_written(mode, fields, function, &planned.left_out);
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
    let plans = gathered(&app.store, run, Phase::Plan).await?;
    let outcomes = plan::outcomes(&manifest, &plans.summaries, Phase::Plan);
    let tally = plan::tally(&plans.summaries, plan::cap_of(function, config));
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
        .map_err(|e| failed_to("writing the apply list failed", e))?;
    let fields = TallyFields {
        run: run.to_owned(),
        targets: manifest.len(),
        counted: tally.counted,
        cap: tally.cap.clone(),
        by_account: tally.by_account.iter().take(LISTED).cloned().collect(),
        failed_targets: failed.len(),
        apply_key: key,
        apply_targets: cleared.len(),
        held_back: held.len(),
    };
    let report = report::tallied(fields, &failed, &plans.unreadable, tally.refused.clone());
    if report.refused.is_some() {
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
    let results = gathered(&app.store, run, Phase::Apply).await?;
    let mut outcomes = plan::outcomes(&manifest, &results.summaries, Phase::Apply);
    if let Some(applied) = targets_at(&app.store, &apply_key(run)).await? {
        let plans = gathered(&app.store, run, Phase::Plan).await?;
        let plan_outcomes = plan::outcomes(&manifest, &plans.summaries, Phase::Plan);
        plan::hold_back_unapplied(&mut outcomes, &plan_outcomes, &applied);
    }
    let by_account = plan::by_account(&outcomes);
    let key = summary_key(run);
    let full = FullSummary {
        run,
        by_account: &by_account,
        targets: &outcomes,
    };
    write_json(&app.store, &key, &full)
        .await
        .map_err(|e| failed_to("writing the summary failed", e))?;
    let totals = plan::sum_up(&outcomes);
    let report = report::summed_up(
        function,
        run,
        key,
        &outcomes,
        &totals,
        by_account,
        &results.unreadable,
    );
    metrics.count("OrgTargetsFailed", totals.failed.len() as u64);
    metrics.count("OrgActionsDone", totals.done as u64);
    report.log();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Account;
    use crate::ports::fake::{FakeOrganization, FakeStore};
    use fleetkeeper::Env;
    use fleetkeeper::org::{Summary, Target, report_key};
    use serde_json::json;

    type Fake = App<FakeOrganization, FakeStore>;

    fn config(extra: &[(&str, &str)]) -> Config {
        let mut pairs = vec![
            ("ORGANIZATION_UNITS", "ou-dev"),
            ("REGIONS", "eu-west-1,us-east-1"),
            ("BUCKET", "org-runs"),
        ];
        pairs.extend_from_slice(extra);
        Config::from_env(&Env::of(&pairs)).unwrap()
    }

    fn account(id: &str, status: &str) -> Account {
        Account {
            id: id.into(),
            name: format!("team-{id}"),
            status: status.into(),
        }
    }

    fn app() -> Fake {
        let dev = vec![
            account("111111111111", "ACTIVE"),
            account("222222222222", "ACTIVE"),
            account("333333333333", "SUSPENDED"),
        ];
        App {
            organization: FakeOrganization {
                units: [("ou-dev".to_owned(), dev)].into(),
            },
            store: FakeStore::default(),
        }
    }

    async fn invoke(app: &Fake, config: &Config, payload: Value) -> Result<Value, Error> {
        let now: Timestamp = "2026-12-01T18:00:00Z".parse().unwrap();
        let mut metrics = Metrics::for_function("org-targets");
        run(app, config, &payload, now, &mut metrics).await
    }

    fn targets_event() -> Value {
        json!({"action": "targets", "function": "nightly-stopper",
               "event": {"action": "evaluate"}})
    }

    /// What a target's plan wrote: `stops` planned stops.
    fn planned(run: &str, t: &Target, stops: usize) -> (String, Vec<u8>) {
        let summary = Summary {
            account_id: t.account_id.clone(),
            region: t.region.clone(),
            phase: Phase::Plan,
            round: 0,
            status: Status::DryRun,
            planned: stops,
            planned_by_action: [("stop".to_owned(), stops)].into(),
            done: 0,
            skipped: 0,
            failed: 0,
            remaining: 0,
            error: None,
            ms: 5,
        };
        let body = serde_json::to_vec(&json!({ "summary": summary })).unwrap();
        (report_key(run, Phase::Plan, t, 0), body)
    }

    #[tokio::test]
    async fn targets_cross_the_active_accounts_with_the_regions() {
        let (app, config) = (app(), config(&[]));
        let out = invoke(&app, &config, targets_event()).await.unwrap();
        assert_eq!(out["count"], 4, "{out}");
        assert_eq!(out["accounts"], 2);
        let key = out["key"].as_str().unwrap();
        let manifest = app.store.json(key).unwrap();
        assert_eq!(manifest.as_array().unwrap().len(), 4);
        assert!(
            !manifest.to_string().contains("333333333333"),
            "suspended: left out"
        );
    }

    #[tokio::test]
    async fn an_unknown_unit_starts_nothing() {
        let (app, config) = (app(), config(&[("ORGANIZATION_UNITS", "ou-gone")]));
        let err = invoke(&app, &config, targets_event()).await.unwrap_err();
        assert!(matches!(err, Error::Input(_)), "{err}");
        assert!(err.to_string().contains("ou-gone"), "{err}");
        assert!(app.store.keys().is_empty());
    }

    #[tokio::test]
    async fn the_tally_refuses_over_the_cap_and_clears_only_reported_targets() {
        let (app, config) = (app(), config(&[("ORG_MAX_ACTIONS", "5")]));
        let out = invoke(&app, &config, targets_event()).await.unwrap();
        let run = out["run"].as_str().unwrap().to_owned();
        let manifest: Vec<Target> =
            serde_json::from_value(app.store.json(out["key"].as_str().unwrap()).unwrap()).unwrap();
        // Three of the four targets report a plan; the fourth never did.
        for t in &manifest[..3] {
            let (key, body) = planned(&run, t, 2);
            app.store.put(&key, body).await.unwrap();
        }
        let tally = json!({"action": "tally", "function": "nightly-stopper", "run": run});
        let out = invoke(&app, &config, tally.clone()).await.unwrap();
        assert_eq!(out["counted"], 6, "{out}");
        assert!(
            out["refused"].as_str().unwrap().contains("ORG_MAX_ACTIONS"),
            "{out}"
        );
        assert_eq!(out["apply_targets"], 3);
        assert_eq!(out["held_back"], 1);
        let lifted = self::config(&[("ORG_MAX_ACTIONS", "6")]);
        let out = invoke(&app, &lifted, tally).await.unwrap();
        assert!(out.get("refused").is_none(), "{out}");
    }

    #[tokio::test]
    async fn a_run_without_a_manifest_and_bad_input_are_refused() {
        let (app, config) = (app(), config(&[]));
        let summary = json!({"action": "summary", "function": "nightly-stopper",
                             "run": "nightly-stopper/2026-12-01T18-00-00Z"});
        let err = invoke(&app, &config, summary).await.unwrap_err();
        assert!(err.to_string().contains("no manifest"), "{err}");
        let err = invoke(&app, &config, json!({"action": "launch"}))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Input(_)), "{err}");
        assert!(app.store.keys().is_empty());
    }
}
