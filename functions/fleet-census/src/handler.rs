//! One invocation: check the event, observe every region concurrently, tally, report.

use futures_util::future::join_all;
use serde::Serialize;
use serde_json::Value;

use fleetkeeper::Error;
use fleetkeeper::telemetry::Metrics;

use crate::census::{RegionCensus, tally};
use crate::config::Config;
use crate::fleet::Fleet;

#[derive(Debug, Serialize)]
pub struct RegionFailure {
    pub region: String,
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// The JSON the function returns.
#[derive(Debug, Serialize)]
pub struct CensusReport {
    pub function: String,
    pub status: &'static str,
    pub regions: Vec<RegionCensus>,
    pub failed: Vec<RegionFailure>,
}

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
    let observed = join_all(
        fleets
            .iter()
            .map(|f| async move { (f.region(), f.instances().await) }),
    )
    .await;
    let mut report = CensusReport {
        function: function.to_owned(),
        status: "ok",
        regions: Vec::new(),
        failed: Vec::new(),
    };
    for (region, result) in observed {
        match result {
            Ok(instances) => {
                let c = tally(region, &instances, config);
                metrics.count("InstancesTotal", c.total as u64);
                metrics.count("InstancesOptedIn", c.opted_in as u64);
                report.regions.push(c);
            }
            Err(e) => {
                tracing::warn!(region, error = %e, "region could not be read");
                report.failed.push(RegionFailure {
                    region: region.to_owned(),
                    code: e.code().map(str::to_owned),
                    error: e.to_string(),
                });
            }
        }
    }
    metrics.count("Failures", report.failed.len() as u64);
    if report.regions.is_empty() && !report.failed.is_empty() {
        // Nothing could be read at all: fail the invocation so Lambda's Errors metric sees it.
        let first = &report.failed[0];
        return Err(Error::Internal(format!(
            "no region could be read; {}: {}",
            first.region, first.error
        )));
    }
    if !report.failed.is_empty() {
        report.status = "partial";
    }
    tracing::info!(
        regions = report.regions.len(),
        failed = report.failed.len(),
        "census done"
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Instance;
    use fleetkeeper::{AwsError, Env};

    /// An in-memory fleet: the handler is generic over the capability, as every function is.
    struct Fixed(&'static str, Result<Vec<Instance>, AwsError>);

    impl Fleet for Fixed {
        fn region(&self) -> &str {
            self.0
        }
        async fn instances(&self) -> Result<Vec<Instance>, AwsError> {
            self.1.clone()
        }
    }

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
            tags: Default::default(),
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
        assert_eq!(r.status, "partial");
        assert_eq!(r.regions[0].total, 1);
        assert_eq!(r.failed[0].code.as_deref(), Some("UnauthorizedOperation"));

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
