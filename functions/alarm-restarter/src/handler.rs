//! One invocation: parse the alarm change, read its instances, plan the guard rails, restart
//! what passes them, report.
//!
//! The one function that plans at the invocation's clock, not the event's time: a restart
//! happens now, and its cooldown and window must run from when it happened. A delivery Lambda
//! retried minutes after the alarm fired would otherwise record the restart in the past and
//! let the next one through early. Which alarm change it was is still the event's own (its
//! name and state timestamp key the history, so a repeated delivery restarts nothing).

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use fleetkeeper::Error;
use fleetkeeper::telemetry::Metrics;

use crate::apply::apply;
use crate::config::Config;
use crate::history::EventKey;
use crate::plan::{AlarmPlan, Decision, ignored, is_instance_id, plan};
use crate::ports::Instances;
use crate::report::{self, RestarterReport};
use fleetkeeper::alarm::{Incoming, parse};

/// Time kept back from the deadline; a run makes a few calls per instance.
pub const RESERVE: Duration = Duration::from_secs(5);

pub async fn run<I: Instances + Sync>(
    regions: &[I],
    config: &Config,
    payload: &Value,
    now: Timestamp,
    metrics: &mut Metrics,
) -> Result<RestarterReport, Error> {
    let change = match parse(payload)? {
        Incoming::Change(c) => c,
        Incoming::Ignored { what, reason } => {
            let report = report::ignored_event(config, &what, &reason);
            report::log(&report);
            report::metrics_into(&report, metrics);
            return Ok(report);
        }
    };
    metrics.property("alarmName", change.alarm_name.as_str());
    // Nothing to read for a change that restarts nothing.
    let observed = if ignored(&change, config).is_some() {
        BTreeMap::new()
    } else {
        let region = pick(regions, change.region.as_deref())?;
        let ids: Vec<String> = change
            .instances
            .iter()
            .filter(|id| is_instance_id(id))
            .cloned()
            .collect();
        region
            .describe(&ids)
            .await?
            .into_iter()
            .map(|i| (i.id.clone(), i))
            .collect()
    };
    let plan = plan(&change, &observed, config, now);
    let mut report = report::from_plan(&change, &plan, config);
    if let AlarmPlan::Instances(plans) = &plan
        && plans
            .iter()
            .any(|p| matches!(p.decision, Decision::Restart { .. }))
    {
        let region = pick(regions, change.region.as_deref())?;
        let event = EventKey::of(&change.alarm_name, &change.state_timestamp);
        let outcomes = apply(region, plans, config, &change.alarm_name, event).await;
        report::record(&mut report, outcomes);
    }
    report::log(&report);
    report::metrics_into(&report, metrics);
    // A failure AWS may get past on a later try fails the invocation, so Lambda retries the
    // event; the history tag was put back, so the retry is not taken for a duplicate.
    if let Some((id, e)) = &report.fields.retry {
        return Err(Error::Internal(format!(
            "restarting {id} failed with {} ({e}); Lambda will retry this event",
            e.code().unwrap_or("no code"),
        )));
    }
    Ok(report)
}

/// The region the alarm lives in must be one this function acts in.
fn pick<'a, I: Instances>(regions: &'a [I], wanted: Option<&str>) -> Result<&'a I, Error> {
    let found = match wanted {
        None => regions.first(),
        Some(w) => regions.iter().find(|r| r.name() == w),
    };
    found.ok_or_else(|| {
        let known: Vec<&str> = regions.iter().map(|r| r.name()).collect();
        Error::input(format!(
            "the alarm is in region {}, but this function acts in {}: add it to REGIONS",
            wanted.unwrap_or("?"),
            known.join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::fake::FakeRegion;
    use fleetkeeper::Env;
    use fleetkeeper::ec2::Instance;
    use serde_json::json;

    /// The instance the sample alarm watches.
    const WATCHED: &str = "i-0a1b2c3d4e5f60718";

    fn event(name: &str) -> Value {
        let path = format!(
            "{}/../../events/alarm-restarter/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn config(extra: &[(&str, &str)]) -> Config {
        Config::from_env(&Env::of(extra)).unwrap()
    }

    fn running(id: &str, tags: &[(&str, &str)]) -> Instance {
        Instance {
            id: id.into(),
            state: "running".into(),
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        }
    }

    async fn invoke(
        regions: &[FakeRegion],
        config: &Config,
        payload: Value,
    ) -> Result<RestarterReport, Error> {
        // A few minutes after the sample alarm fired.
        let now: Timestamp = "2026-11-20T17:06:00Z".parse().unwrap();
        let mut metrics = Metrics::for_function("alarm-restarter");
        run(regions, config, &payload, now, &mut metrics).await
    }

    #[tokio::test]
    async fn an_opted_in_instance_is_restarted_once_per_alarm_change() {
        let opted_in = running(WATCHED, &[("fleetkeeper:auto-restart", "true")]);
        let regions = [FakeRegion::holding("us-east-1", vec![opted_in])];
        let config = config(&[]);
        let r = invoke(&regions, &config, event("metric-alarm"))
            .await
            .unwrap();
        assert_eq!(regions[0].restarted(), [WATCHED], "{r:?}");
        let again = invoke(&regions, &config, event("metric-alarm"))
            .await
            .unwrap();
        assert_eq!(
            regions[0].restarted().len(),
            1,
            "a repeated delivery: {again:?}"
        );
    }

    #[tokio::test]
    async fn an_instance_not_opted_in_is_left_alone() {
        let regions = [FakeRegion::holding(
            "us-east-1",
            vec![running(WATCHED, &[])],
        )];
        let r = invoke(&regions, &config(&[]), event("metric-alarm"))
            .await
            .unwrap();
        assert!(regions[0].restarted().is_empty());
        assert_eq!(r.skipped.len(), 1, "{r:?}");
    }

    #[tokio::test]
    async fn a_region_not_served_and_bad_input_are_refused() {
        let opted_in = running(WATCHED, &[("fleetkeeper:auto-restart", "true")]);
        let regions = [FakeRegion::holding("eu-west-1", vec![opted_in])];
        let err = invoke(&regions, &config(&[]), event("metric-alarm"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("us-east-1"), "{err}");
        let err = invoke(&regions, &config(&[]), json!([1, 2]))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Input(_)), "{err}");
        assert!(regions[0].restarted().is_empty());
    }
}
