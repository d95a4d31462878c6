//! snapshot-janitor: wiring only.

use fleetkeeper::exec::RateLimiter;
use fleetkeeper::lambda::{boot, serve};
use fleetkeeper::telemetry::Metrics;
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
