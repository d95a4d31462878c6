//! One invocation: parse the payload, read the schedules, observe every region concurrently,
//! plan (or preview), apply the cap over all regions, act, report.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use fleetkeeper::Error;
use fleetkeeper::exec::Budget;
use fleetkeeper::plan::cap_together;
use fleetkeeper::run::Places;
use fleetkeeper::telemetry::Metrics;

use crate::apply::{Limits, apply_all};
use crate::config::Config;
use crate::event::{self, Request};
use crate::plan;
use crate::ports::{App, Place, schedules};
use crate::ports::{Documents, Resources, scheduled};
use crate::preview;
use crate::report::{self, StopperReport};

/// Time kept back from the invocation deadline to finish tagging and return the report.
pub const RESERVE: Duration = Duration::from_secs(10);

pub async fn run<F: Resources + Sync, D: Documents + Sync>(
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
pub async fn run_in<F: Resources + Sync, D: Documents + Sync>(
    app: &App<F, D>,
    targets: &[Place<F>],
    config: &Config,
    payload: &Value,
    now: Timestamp,
    budget: Budget,
    metrics: &mut Metrics,
) -> Result<StopperReport, Error> {
    if let Some(restart) = event::rds_restart(payload)? {
        let report = crate::restart::remember(targets, config, &restart).await;
        report::metrics_into(&report, metrics);
        report.log();
        return Ok(report);
    }
    let request = event::parse(payload)?;
    tracing::debug!(
        ?request,
        budget_ms = budget.remaining().map(|d| d.as_millis() as u64),
        "run started"
    );
    let observed =
        Places::observe(targets, |t| t.port.name(), |t| scheduled(&t.port, config)).await;
    if let Some(e) = observed.all_failed() {
        // Nothing could be read anywhere: fail the invocation so Lambda's Errors metric sees it.
        return Err(e.into());
    }
    // Manual stops and starts need no schedule: a broken document must not block them.
    let (at, planned) = match request {
        Request::Manual(action) => {
            let plans = observed.map(|_, s| (s.len(), plan::manual_all(action, &s, config, now)));
            (now, plans)
        }
        Request::Preview { at, hours } => {
            let at = at.unwrap_or(now);
            let schedules = schedules(app, config).await?;
            let fleet: Vec<preview::Member> = observed
                .read()
                .flat_map(|(_, place, s)| preview::members(place, s))
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
            let plans = observed.map(|_, s| {
                let region_plan = plan::evaluate_all(&s, &schedules, &verdicts, config, at);
                (s.len(), region_plan)
            });
            (at, plans)
        }
    };
    let mut planned = planned;
    // MAX_ACTIONS counts every region and account of the run, and every kind.
    cap_together(
        planned.read_mut().flat_map(|(_, p)| p.plans_mut()),
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
            let out = apply_all(&t.port, &region_plan, config.mode, &limits, stamp).await;
            (matched, region_plan, out)
        })
        .await;

    let mut report = report::new(request, at, config.mode);
    report::note_unchecked(&mut report, &config.resources);
    applied.record_with(
        &mut report,
        |report, place, (matched, plan, out)| {
            report::add_region(report, place, matched, &plan, &out.instances, at);
            report::add_databases(report, place, &plan.databases, &out.databases, at);
            report::add_groups(report, place, &plan.groups, &out.groups, at);
            report::add_services(report, place, &plan.services, &out.services, at);
        },
        report::add_unreadable_region,
    );
    report::metrics_into(&report, metrics);
    report.log();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::fake::{FakeDocuments, FakeFleet};
    use crate::ports::{Instance, StartStop};
    use fleetkeeper::report::Status;
    use fleetkeeper::{AwsError, Env};
    use serde_json::json;

    const OFFICE: &str = r#"{"office-hours": {"timezone": "Europe/London",
        "periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"}]}}"#;

    /// A Tuesday, 22:00 in London: outside office-hours.
    fn night() -> Timestamp {
        "2026-12-01T22:00:00Z".parse().unwrap()
    }

    fn config(extra: &[(&str, &str)]) -> Config {
        let mut pairs = vec![("SCHEDULES_PARAMETER", "/fleetkeeper/schedules")];
        pairs.extend_from_slice(extra);
        Config::from_env(&Env::of(&pairs)).unwrap()
    }

    fn running(id: &str) -> Instance {
        Instance {
            id: id.into(),
            state: "running".into(),
            tags: [("fleetkeeper:schedule".to_owned(), "office-hours".to_owned())].into(),
            ..Default::default()
        }
    }

    fn denied() -> AwsError {
        AwsError::service("ec2:DescribeInstances", "UnauthorizedOperation", "denied")
    }

    fn app(
        config: &Config,
        fleets: Vec<FakeFleet>,
        document: &str,
    ) -> App<FakeFleet, FakeDocuments> {
        let targets = fleets
            .into_iter()
            .map(|port| Place {
                port,
                limits: StartStop::new(config),
            })
            .collect();
        App::new(targets, FakeDocuments(Ok(document.to_owned())))
    }

    async fn invoke(
        app: &App<FakeFleet, FakeDocuments>,
        config: &Config,
        payload: Value,
    ) -> Result<StopperReport, Error> {
        let mut metrics = Metrics::for_function("nightly-stopper");
        run(
            app,
            config,
            &payload,
            night(),
            Budget::unlimited(),
            &mut metrics,
        )
        .await
    }

    fn fleets() -> Vec<FakeFleet> {
        vec![
            FakeFleet::holding("eu-west-1", vec![running("i-1")]),
            FakeFleet {
                unreadable: Some(denied()),
                ..FakeFleet::holding("us-east-1", vec![running("i-2")])
            },
            FakeFleet::holding("eu-central-1", vec![running("i-3")]),
        ]
    }

    #[tokio::test]
    async fn every_region_read_is_stopped_and_the_unreadable_one_is_reported() {
        let config = config(&[]);
        let app = app(&config, fleets(), OFFICE);
        let r = invoke(&app, &config, json!({"action": "evaluate"}))
            .await
            .unwrap();
        assert_eq!(app.targets[0].port.stopped_ids(), ["i-1"]);
        assert_eq!(app.targets[2].port.stopped_ids(), ["i-3"]);
        assert!(app.targets[1].port.changed_nothing());
        assert_eq!(r.done.len(), 2);
        assert_eq!(r.failed.len(), 1);
        assert_eq!(r.failed[0].region.as_deref(), Some("us-east-1"));
        assert_eq!(r.failed[0].code.as_deref(), Some("UnauthorizedOperation"));
        let summaries: Vec<&str> = r.fields.regions.iter().map(|s| s.region.as_str()).collect();
        assert_eq!(summaries, ["eu-west-1", "us-east-1", "eu-central-1"]);
        assert_eq!(r.status(), Status::Partial);
    }

    #[tokio::test]
    async fn max_actions_counts_every_region_of_the_run() {
        let config = config(&[("MAX_ACTIONS", "1")]);
        let app = app(&config, fleets(), OFFICE);
        let r = invoke(&app, &config, json!({"action": "evaluate"}))
            .await
            .unwrap();
        assert!(app.targets.iter().all(|t| t.port.changed_nothing()));
        assert!(
            r.refused.as_deref().unwrap().contains("MAX_ACTIONS=1"),
            "{r:?}"
        );
        assert_eq!(
            r.planned.len(),
            2,
            "the refused plan still shows what it would do"
        );
    }

    #[tokio::test]
    async fn a_broken_document_fails_the_run_but_not_a_manual_stop() {
        let config = config(&[]);
        let app = app(&config, fleets(), r#"{"office-hours": {"periods": "#);
        let err = invoke(&app, &config, json!({"action": "evaluate"}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("/fleetkeeper/schedules"), "{err}");
        assert!(app.targets.iter().all(|t| t.port.changed_nothing()));
        let r = invoke(&app, &config, json!({"action": "stop"}))
            .await
            .unwrap();
        assert_eq!(r.done.len(), 2, "{r:?}");
    }

    #[tokio::test]
    async fn a_preview_changes_nothing() {
        let config = config(&[]);
        let app = app(&config, fleets(), OFFICE);
        let r = invoke(&app, &config, json!({"action": "preview", "hours": 24}))
            .await
            .unwrap();
        assert!(app.targets.iter().all(|t| t.port.changed_nothing()));
        assert!(r.fields.preview.is_some());
        assert_eq!(r.failed[0].region.as_deref(), Some("us-east-1"));
    }

    #[tokio::test]
    async fn bad_input_and_no_region_read_fail_the_invocation() {
        let config = config(&[]);
        let live = app(&config, fleets(), OFFICE);
        let err = invoke(&live, &config, json!({"action": "halt"}))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Input(_)), "{err}");
        let dark = vec![FakeFleet {
            unreadable: Some(denied()),
            ..FakeFleet::holding("eu-west-1", vec![running("i-1")])
        }];
        let dark = app(&config, dark, OFFICE);
        let err = invoke(&dark, &config, json!({"action": "evaluate"}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("UnauthorizedOperation"), "{err}");
    }
}
