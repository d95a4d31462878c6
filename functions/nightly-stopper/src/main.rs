//! nightly-stopper: wiring only.

use fleetkeeper::exec::Budget;
use fleetkeeper::lambda::boot;
use fleetkeeper::telemetry::Metrics;
use lambda_runtime::{LambdaEvent, service_fn};
use nightly_stopper::config::Config;
use nightly_stopper::handler::{self, RESERVE};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let boot = boot("nightly-stopper").await?;
    let config = Config::from_env(&boot.env)?;
    let targets = handler::targets(&boot.aws, &config).await;
    let (targets, config, function) = (&targets, &config, boot.function_name.as_str());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let mut metrics = Metrics::for_function(function);
        metrics.property("requestId", event.context.request_id.as_str());
        let budget = Budget::from_context(&event.context, RESERVE);
        let result = handler::run(
            targets,
            config,
            &event.payload,
            jiff::Timestamp::now(),
            budget,
            &mut metrics,
        )
        .await;
        metrics.flush();
        result
    }))
    .await
}
