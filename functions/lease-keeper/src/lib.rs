//! lease-keeper: self-service instances expire for real. Each hour it reads the instances
//! that carry a lease (`fleetkeeper:expires-at`, written by instance-launcher), warns the owner
//! before the end, stops at the end, and terminates after a grace period, with a final
//! snapshot of every volume that would go with the instance.
//!
//! [`event`] (the evaluation time) -> observe ([`ports`]: EC2, SES or SNS) -> [`plan`] (pure)
//! -> [`apply`] -> [`report`]; [`handler`] runs one invocation.

pub mod adopt;
pub mod apply;
pub mod config;
pub mod event;
pub mod handler;
pub mod model;
pub mod plan;
pub mod ports;
pub mod report;

use fleetkeeper::Error;
use fleetkeeper::exec::RateLimiter;
use fleetkeeper::lambda::{Boot, Invocation};
use fleetkeeper::seal::{Keys, SecretKeys};

use config::{Config, Notify};
pub use handler::{Place, RESERVE};
use ports::{Ec2Instances, Mailer};

/// What one cold start builds: the settings, a target per region, the way warnings go out,
/// the seal key that proves which leases are ours.
pub struct Lambda {
    pub config: Config,
    pub targets: Vec<Place<Ec2Instances>>,
    pub mailer: Mailer,
    pub keys: Keys,
}

/// The wiring of `main`.
pub async fn init(boot: &Boot) -> Result<Lambda, Error> {
    let config = Config::from_env(&boot.env)?;
    let targets = boot
        .aws
        .regional("EC2", &config.regions, aws_sdk_ec2::Client::new)
        .into_iter()
        .map(|(region, client)| Place {
            port: Ec2Instances::new(region, client),
            limits: RateLimiter::new(config.rate),
        })
        .collect();
    let mailer = match &config.notify {
        Notify::Email { sender } => Mailer::Email {
            client: boot.aws.client("SESV2", aws_sdk_sesv2::Client::new),
            sender: sender.clone(),
        },
        Notify::Topic { arn } => Mailer::Topic {
            client: boot.aws.client("SNS", aws_sdk_sns::Client::new),
            arn: arn.clone(),
        },
    };
    let keys = Keys::Secret(SecretKeys::new(
        boot.aws
            .client("SECRETS_MANAGER", aws_sdk_secretsmanager::Client::new),
        &config.seal_secret,
    ));
    Ok(Lambda {
        config,
        targets,
        mailer,
        keys,
    })
}

/// One invocation.
pub async fn handle(lambda: &Lambda, inv: Invocation<'_>) -> Result<report::LeaseReport, Error> {
    handler::run(
        &lambda.targets,
        &lambda.mailer,
        &lambda.keys,
        &lambda.config,
        &inv.payload,
        inv.now,
        inv.budget,
        inv.metrics,
    )
    .await
}
