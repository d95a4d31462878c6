//! alarm-restarter: wiring only.

use alarm_restarter::config::Config;
use alarm_restarter::handler::{self, RESERVE};
use alarm_restarter::instances::Region;
use fleetkeeper::lambda::{boot, serve};
use fleetkeeper::telemetry::Metrics;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let boot = boot("alarm-restarter").await?;
    let config = Config::from_env(&boot.env)?;
    let ssm = boot
        .aws
        .regional("SSM", &config.regions, aws_sdk_ssm::Client::new);
    let regions: Vec<Region> = boot
        .aws
        .regional("EC2", &config.regions, aws_sdk_ec2::Client::new)
        .into_iter()
        .zip(ssm)
        .map(|((name, ec2), (_, ssm))| Region { name, ec2, ssm })
        .collect();
    let (regions, config) = (&regions, &config);
    serve(
        &boot.function_name,
        RESERVE,
        async |payload, now, _budget, metrics: &mut Metrics| {
            handler::run(regions, config, &payload, now, metrics).await
        },
    )
    .await
}
