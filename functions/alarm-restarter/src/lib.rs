//! alarm-restarter: restart the EC2 instances a CloudWatch alarm names when it goes into ALARM,
//! within guard rails (opt-in tag, cooldown, a cap per window) kept on the instance itself.
//!
//! parse ([`fleetkeeper::alarm`]) -> observe ([`ports`]) -> plan ([`plan`], pure, with [`history`]) ->
//! apply ([`apply`]) -> report ([`report`]).

pub mod apply;
pub mod config;
pub mod handler;
pub mod history;
pub mod plan;
pub mod ports;
pub mod report;

use fleetkeeper::Error;
use fleetkeeper::lambda::{Boot, Invocation};

use config::Config;
pub use handler::RESERVE;
use ports::Region;

/// What one cold start builds: the settings and a client pair per region.
pub struct Lambda {
    pub config: Config,
    pub regions: Vec<Region>,
}

/// The wiring of `main`: settings from the environment, clients built once.
pub async fn init(boot: &Boot) -> Result<Lambda, Error> {
    let config = Config::from_env(&boot.env)?;
    let ssm = boot
        .aws
        .regional("SSM", &config.regions, aws_sdk_ssm::Client::new);
    let regions = boot
        .aws
        .regional("EC2", &config.regions, aws_sdk_ec2::Client::new)
        .into_iter()
        .zip(ssm)
        .map(|((name, ec2), (_, ssm))| Region { name, ec2, ssm })
        .collect();
    Ok(Lambda { config, regions })
}

/// One invocation.
pub async fn handle(
    lambda: &Lambda,
    inv: Invocation<'_>,
) -> Result<report::RestarterReport, Error> {
    handler::run(
        &lambda.regions,
        &lambda.config,
        &inv.payload,
        inv.now,
        inv.metrics,
    )
    .await
}
