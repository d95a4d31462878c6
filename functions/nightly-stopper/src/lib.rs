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
pub mod model;
pub mod plan;
pub mod ports;
pub mod preview;
pub mod report;
pub mod restart;
pub mod schedule;

use fleetkeeper::Error;
use fleetkeeper::aws::Aws;
use fleetkeeper::lambda::{Boot, Invocation};
use fleetkeeper::org::{self, Answer, Reach, TargetRequest};

use config::{Config, SchedulesSource};
pub use handler::RESERVE;
use ports::Ec2Fleet;
pub use ports::{App, Place};

/// What one cold start builds: the settings, a target per account and region, and the
/// schedules parameter's reader; and what serving an organisation target needs.
pub struct Lambda {
    pub config: Config,
    pub app: App<Ec2Fleet, aws_sdk_ssm::Client>,
    pub reach: Reach,
}

/// The wiring of `main`: roles in ROLE_ARNS are assumed here, once; a schedules parameter is
/// read once here too, so a bad one fails the cold start with its reason.
pub async fn init(boot: &Boot) -> Result<Lambda, Error> {
    let config = Config::from_env(&boot.env)?;
    let targets = ports::targets(&boot.aws, &config).await;
    let ssm = boot.aws.client("SSM", aws_sdk_ssm::Client::new);
    let app = App::new(targets, ssm);
    if let SchedulesSource::Parameter(_) = &config.schedules {
        ports::schedules(&app, &config).await?;
    }
    Ok(Lambda {
        config,
        app,
        reach: Reach::new(&boot.aws, "nightly-stopper"),
    })
}

/// One invocation: the function's own event, or one target of an organisation run.
pub async fn handle(
    lambda: &Lambda,
    inv: Invocation<'_>,
) -> Result<Answer<report::StopperReport>, Error> {
    let config = &lambda.config;
    let own = async |inv: Invocation<'_>| {
        let payload = &inv.payload;
        handler::run(
            &lambda.app,
            config,
            payload,
            inv.now,
            inv.budget,
            inv.metrics,
        )
        .await
    };
    let target = async |request: &TargetRequest, reached: Aws, mode, inv: Invocation<'_>| {
        let client = reached.client("EC2", aws_sdk_ec2::Client::new);
        let rds = reached.client("RDS", aws_sdk_rds::Client::new);
        let asg = reached.client("AUTO_SCALING", aws_sdk_autoscaling::Client::new);
        let ecs = reached.client("ECS", aws_sdk_ecs::Client::new);
        let scaling = reached.client(
            "APPLICATION_AUTO_SCALING",
            aws_sdk_applicationautoscaling::Client::new,
        );
        let place = Place {
            port: Ec2Fleet::new(request.target.label(), client)
                .with_rds(rds)
                .with_auto_scaling(asg)
                .with_ecs(ecs, scaling),
            limits: ports::StartStop::new(config),
        };
        let config = Config {
            mode,
            ..config.clone()
        };
        let payload = &request.event;
        handler::run_in(
            &lambda.app,
            &[place],
            &config,
            payload,
            inv.now,
            inv.budget,
            inv.metrics,
        )
        .await
    };
    org::route(&lambda.reach, inv, config.mode, own, target).await
}
