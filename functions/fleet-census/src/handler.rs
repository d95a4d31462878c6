//! One invocation: check the event, observe every region concurrently, tally, report.

use serde_json::Value;

use fleetkeeper::Error;
use fleetkeeper::telemetry::Metrics;

use crate::config::Config;
use crate::plan::tally;
use crate::ports::Fleet;
use crate::report::{self, CensusReport};
use fleetkeeper::report::Entry;
use fleetkeeper::run::Places;

/// Accepts an EventBridge scheduled event, `{}`, or any JSON object; anything else is refused.
pub fn check_event(event: &Value) -> Result<(), Error> {
    match event {
        Value::Object(_) => Ok(()),
        other => Err(Error::input(format!(
            "fleet-census expects a JSON object (an EventBridge scheduled event or {{}}), got {}",
            match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => "an object",
            }
        ))),
    }
}

pub async fn run<F: Fleet + Sync>(
    fleets: &[F],
    config: &Config,
    function: &str,
    event: Value,
    metrics: &mut Metrics,
) -> Result<CensusReport, Error> {
    check_event(&event)?;
    let (key, kinds) = (&config.schedule_tag.key, &config.resources);
    let observed = Places::observe(
        fleets,
        |f| f.region(),
        |f| async move { Ok((f.instances().await?, f.scheduled(key, kinds).await?)) },
    )
    .await;
    if let Some(e) = observed.all_failed() {
        // Nothing could be read at all: fail the invocation so Lambda's Errors metric sees it.
        return Err(e.into());
    }
    let mut report = report::new(function);
    observed
        .map(|f, (instances, found)| tally(f.region(), &instances, &found, config))
        .record(&mut report, |report, region, census| {
            let mut counted = format!("{} instances, {} opted in", census.total, census.opted_in);
            for (kind, k) in census.by_kind.iter().filter(|(kind, _)| *kind != "ec2") {
                counted.push_str(&format!(", {} {kind} scheduled", k.scheduled));
            }
            report.done(Entry::new("*", "census", counted).in_region(region));
            report.fields.regions.push(census);
        });
    report::metrics_into(&report, metrics);
    report.log();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Instance;
    use crate::ports::fake::Fixed;
    use fleetkeeper::{AwsError, Env};

    fn config() -> Config {
        Config::from_env(&Env::from_pairs::<&str, &str>([])).unwrap()
    }

    fn metrics() -> Metrics {
        Metrics::for_function("f")
    }

    fn one(state: &str) -> Instance {
        Instance {
            id: "i-1".into(),
            state: state.into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn bad_events_are_refused() {
        for bad in [Value::Null, Value::from("stop"), serde_json::json!([1])] {
            let err = run(
                &[Fixed("r", Ok(vec![]))],
                &config(),
                "f",
                bad,
                &mut metrics(),
            )
            .await
            .unwrap_err();
            assert!(matches!(err, Error::Input(_)), "{err}");
        }
    }

    #[tokio::test]
    async fn one_failed_region_is_partial_all_failed_is_an_error() {
        let denied = AwsError::service("ec2:DescribeInstances", "UnauthorizedOperation", "no");
        let fleets = [
            Fixed("eu-west-1", Ok(vec![one("running")])),
            Fixed("us-east-1", Err(denied.clone())),
        ];
        let r = run(
            &fleets,
            &config(),
            "f",
            serde_json::json!({}),
            &mut metrics(),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), fleetkeeper::report::Status::Partial);
        assert_eq!(r.fields.regions[0].total, 1);
        assert_eq!(r.failed[0].code.as_deref(), Some("UnauthorizedOperation"));
        assert_eq!(r.failed[0].region.as_deref(), Some("us-east-1"));

        let err = run(
            &[Fixed("us-east-1", Err(denied))],
            &config(),
            "f",
            serde_json::json!({}),
            &mut metrics(),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("UnauthorizedOperation"), "{err}");
    }
}
