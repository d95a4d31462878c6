//! fleet-census: the example function. A read-only count of EC2 instances per region, by
//! state, and how many opted in to fleetkeeper's schedule tag; and of every other kind a
//! schedule keeps (RESOURCES), by schedule. It proves the path every
//! function takes (config, the shared AWS loader, paginated observe, pure tally, JSON report,
//! EMF metrics) and changes nothing.

pub mod config;
pub mod handler;
pub mod plan;
pub mod ports;
pub mod report;

use std::time::Duration;

use fleetkeeper::Error;
use fleetkeeper::lambda::{Boot, Invocation};

use config::Config;
use fleetkeeper::kinds::KindClients;
use ports::Ec2Fleet;

/// A census only reads; little needs to be kept back from the deadline.
pub const RESERVE: Duration = Duration::from_secs(2);

/// What one cold start builds: the settings and a client per region.
pub struct Lambda {
    pub config: Config,
    pub fleets: Vec<Ec2Fleet>,
    pub function_name: String,
}

/// The wiring of `main`.
pub async fn init(boot: &Boot) -> Result<Lambda, Error> {
    let config = Config::from_env(&boot.env)?;
    let fleets = boot
        .aws
        .regional("EC2", &config.regions, |sdk| {
            (aws_sdk_ec2::Client::new(sdk), KindClients::new(sdk))
        })
        .into_iter()
        .map(|(region, (ec2, kinds))| Ec2Fleet::new(region, ec2, kinds))
        .collect();
    Ok(Lambda {
        config,
        fleets,
        function_name: boot.function_name.clone(),
    })
}

/// One invocation.
pub async fn handle(lambda: &Lambda, inv: Invocation<'_>) -> Result<report::CensusReport, Error> {
    handler::run(
        &lambda.fleets,
        &lambda.config,
        &lambda.function_name,
        inv.payload,
        inv.metrics,
    )
    .await
}
