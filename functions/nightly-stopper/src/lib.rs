//! nightly-stopper: stop opted-in EC2 instances in the evening and start them in the morning.
//!
//! observe ([`ports`]) -> plan ([`plan`], pure) -> apply ([`apply`]) -> report ([`report`]).

pub mod apply;
pub mod config;
pub mod event;
pub mod handler;
pub mod plan;
pub mod ports;
pub mod report;
pub mod schedule;

use fleetkeeper::Error;
use fleetkeeper::lambda::{Boot, Invocation};

use config::Config;
pub use handler::{RESERVE, Target};
use ports::Ec2Fleet;

/// What one cold start builds: the settings and a target per account and region.
pub struct Lambda {
    pub config: Config,
    pub targets: Vec<Target<Ec2Fleet>>,
}

/// The wiring of `main`: roles in ROLE_ARNS are assumed here, once.
pub async fn init(boot: &Boot) -> Result<Lambda, Error> {
    let config = Config::from_env(&boot.env)?;
    let targets = handler::targets(&boot.aws, &config).await;
    Ok(Lambda { config, targets })
}

/// One invocation.
pub async fn handle(lambda: &Lambda, inv: Invocation<'_>) -> Result<report::StopperReport, Error> {
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
