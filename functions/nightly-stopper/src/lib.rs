//! nightly-stopper: keep each opted-in EC2 instance to its schedule, stopped outside its
//! team's hours and started inside them, every team in its own time zone.
//!
//! [`event`] (evaluate, a manual stop or start, a preview) -> observe ([`ports`]: EC2, the
//! schedules parameter) -> plan ([`plan`], pure, over [`schedule`]: the schedules document
//! and its evaluation; [`preview`]) -> apply ([`apply`]) -> report ([`report`]); [`handler`]
//! runs one invocation.

pub mod apply;
pub mod config;
pub mod event;
pub mod handler;
pub mod plan;
pub mod ports;
pub mod preview;
pub mod report;
pub mod schedule;

use fleetkeeper::Error;
use fleetkeeper::lambda::{Boot, Invocation};

use config::{Config, SchedulesSource};
pub use handler::{RESERVE, Stopper, Target};
use ports::Ec2Fleet;

/// What one cold start builds: the settings, a target per account and region, and the
/// schedules parameter's reader.
pub struct Lambda {
    pub config: Config,
    pub stopper: Stopper<Ec2Fleet, aws_sdk_ssm::Client>,
}

/// The wiring of `main`: roles in ROLE_ARNS are assumed here, once; a schedules parameter is
/// read once here too, so a bad one fails the cold start with its reason.
pub async fn init(boot: &Boot) -> Result<Lambda, Error> {
    let config = Config::from_env(&boot.env)?;
    let targets = handler::targets(&boot.aws, &config).await;
    let ssm = boot.aws.client("SSM", aws_sdk_ssm::Client::new);
    let stopper = Stopper::new(targets, ssm);
    if let SchedulesSource::Parameter(_) = &config.schedules {
        handler::schedules(&stopper, &config).await?;
    }
    Ok(Lambda { config, stopper })
}

/// One invocation.
pub async fn handle(lambda: &Lambda, inv: Invocation<'_>) -> Result<report::StopperReport, Error> {
    handler::run(
        &lambda.stopper,
        &lambda.config,
        &inv.payload,
        inv.now,
        inv.budget,
        inv.metrics,
    )
    .await
}
