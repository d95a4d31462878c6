//! snapshot-janitor: wiring only.

use fleetkeeper::exec::{Budget, RateLimiter};
use fleetkeeper::lambda::boot;
use fleetkeeper::telemetry::Metrics;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use snapshot_janitor::config::Config;
use snapshot_janitor::ebs::Ec2Ebs;
use snapshot_janitor::handler::{self, RESERVE, Target};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let boot = boot("snapshot-janitor").await?;
    let config = Config::from_env(&boot.env)?;
    let targets: Vec<Target<Ec2Ebs>> = boot
        .aws
        .regional("EC2", &config.regions, aws_sdk_ec2::Client::new)
        .into_iter()
        .map(|(region, client)| Target {
            ebs: Ec2Ebs::new(region, client),
            limiter: RateLimiter::new(config.rate),
        })
        .collect();
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
