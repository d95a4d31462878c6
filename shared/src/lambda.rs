//! What every `main.rs` does before serving events: read the environment once, start JSON
//! logging, load the AWS configuration. Clients are then built once from the result.

use std::time::Duration;

use lambda_runtime::{LambdaEvent, service_fn};
use serde::Serialize;
use serde_json::Value;

use crate::aws::{Aws, AwsSettings};
use crate::config::Env;
use crate::error::Error;
use crate::exec::Budget;
use crate::telemetry::Metrics;
use crate::telemetry::{self, LogSettings};

/// The process-wide set-up of one function.
pub struct Boot {
    pub env: Env,
    pub aws: Aws,
    /// `AWS_LAMBDA_FUNCTION_NAME`, else the function's own name.
    pub function_name: String,
}

/// Starts logging and loads AWS settings. A bad variable fails the cold start with a message
/// naming it, which Lambda shows as an init error.
pub async fn boot(function: &str) -> Result<Boot, Error> {
    let env = Env::process();
    let log = LogSettings::from_env(&env, function)?;
    telemetry::init(&log);
    let aws = Aws::load(AwsSettings::from_env(&env)?).await;
    Ok(Boot {
        env,
        aws,
        function_name: log.function_name,
    })
}

/// Serves invocations until Lambda stops the process. Each gets its payload, the time, a
/// budget from its deadline (less `reserve`) and metrics carrying its request id, flushed
/// whatever the outcome.
pub async fn serve<R, F>(
    function_name: &str,
    reserve: Duration,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    R: Serialize,
    F: AsyncFn(Value, jiff::Timestamp, Budget, &mut Metrics) -> Result<R, Error>,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let mut metrics = Metrics::for_function(function_name);
        metrics.property("requestId", event.context.request_id.as_str());
        let budget = Budget::from_context(&event.context, reserve);
        let result = handler(event.payload, jiff::Timestamp::now(), budget, &mut metrics).await;
        metrics.flush();
        result
    }))
    .await
}
