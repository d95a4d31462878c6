//! image-resizer: wiring only.

use std::time::Duration;

use fleetkeeper::lambda::{boot, serve};
use fleetkeeper::telemetry::Metrics;
use image_resizer::config::Config;
use image_resizer::handler;
use image_resizer::store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let boot = boot("image-resizer").await?;
    let config = Config::from_env(&boot.env)?;
    let store = Store { s3: boot.aws.s3() };
    let (store, config) = (&store, &config);
    serve(
        &boot.function_name,
        Duration::from_secs(5),
        async |payload, _now, _budget, metrics: &mut Metrics| {
            handler::run(store, config, &payload, metrics).await
        },
    )
    .await
}
