//! nightly-stopper: wiring only.

use fleetkeeper::lambda::{boot, serve};
use fleetkeeper::telemetry::Metrics;
use nightly_stopper::config::Config;
use nightly_stopper::handler::{self, RESERVE};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let boot = boot("nightly-stopper").await?;
    let config = Config::from_env(&boot.env)?;
    let targets = handler::targets(&boot.aws, &config).await;
    let (targets, config) = (&targets, &config);
    serve(
        &boot.function_name,
        RESERVE,
        async |payload, now, budget, metrics: &mut Metrics| {
            handler::run(targets, config, &payload, now, budget, metrics).await
        },
    )
    .await
}
