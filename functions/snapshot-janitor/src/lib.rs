//! snapshot-janitor: EBS snapshots on a schedule, pruned by a retention policy that never
//! loses what it must keep.
//!
//! observe ([`ports`]: EBS, tested against moto) -> plan ([`plan`], pure: what to create, what
//! retention lets go; most tests live there) -> apply ([`apply`], tested against an in-memory
//! EBS) -> report ([`report`]); [`handler`] runs one invocation.

pub mod apply;
pub mod config;
pub mod handler;
pub mod plan;
pub mod ports;
pub mod report;

use fleetkeeper::Error;
use fleetkeeper::exec::RateLimiter;
use fleetkeeper::lambda::{Boot, Invocation};

use config::Config;
pub use handler::{RESERVE, Target};
use ports::Ec2Ebs;

/// What one cold start builds: the settings and a target per region.
pub struct Lambda {
    pub config: Config,
    pub targets: Vec<Target<Ec2Ebs>>,
}

/// The wiring of `main`.
pub async fn init(boot: &Boot) -> Result<Lambda, Error> {
    let config = Config::from_env(&boot.env)?;
    let targets = boot
        .aws
        .regional("EC2", &config.regions, aws_sdk_ec2::Client::new)
        .into_iter()
        .map(|(region, client)| Target {
            port: Ec2Ebs::new(region, client),
            limits: RateLimiter::new(config.rate),
        })
        .collect();
    Ok(Lambda { config, targets })
}

/// One invocation.
pub async fn handle(lambda: &Lambda, inv: Invocation<'_>) -> Result<report::JanitorReport, Error> {
    handler::run(
        &lambda.targets,
        &lambda.config,
        &inv.payload,
        inv.now,
        inv.budget,
        inv.metrics,
    )
    .await
}
