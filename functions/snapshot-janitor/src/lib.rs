//! snapshot-janitor: EBS snapshots on a schedule, pruned by a retention policy that never
//! loses what it must keep.
//!
//! observe ([`ports`]: EBS, tested against moto) -> plan ([`plan`], pure: what to create, what
//! retention lets go; most tests live there) -> apply ([`apply`], tested against an in-memory
//! EBS) -> report ([`report`]); [`handler`] runs one invocation.

pub mod adopt;
pub mod apply;
pub mod config;
pub mod drill;
pub mod event;
pub mod freeze;
pub mod handler;
pub mod model;
pub mod plan;
pub mod ports;
pub mod report;

use fleetkeeper::Error;
use fleetkeeper::aws::Aws;
use fleetkeeper::exec::RateLimiter;
use fleetkeeper::lambda::{Boot, Invocation};
use fleetkeeper::org::{self, Answer, Reach, TargetRequest};
use fleetkeeper::seal::{Keys, SecretKeys};

use config::Config;
pub use handler::{App, Place, RESERVE};
use ports::Ec2Ebs;

/// What one cold start builds: the settings, a target per region, one per copy destination.
pub struct Lambda {
    pub config: Config,
    pub app: App<Ec2Ebs>,
    /// What serving an organisation target needs (the member roles, the reports bucket).
    pub reach: Reach,
}

/// The wiring of `main`.
pub async fn init(boot: &Boot) -> Result<Lambda, Error> {
    let config = Config::from_env(&boot.env)?;
    let app = places(&boot.aws, keys(&boot.aws, &config), &config);
    Ok(Lambda {
        config,
        app,
        reach: Reach::new(&boot.aws, "snapshot-janitor"),
    })
}

/// The seal key, read with the function's own role (in organisation mode too: the secret is
/// in the account the function runs in, never in a member account).
pub fn keys(aws: &Aws, config: &Config) -> Keys {
    Keys::Secret(SecretKeys::new(
        aws.client("SECRETS_MANAGER", aws_sdk_secretsmanager::Client::new),
        &config.seal_secret,
    ))
}

/// A target per source region (REGIONS), and one per copy destination (COPY_TO).
pub fn places(aws: &Aws, keys: Keys, config: &Config) -> App<Ec2Ebs> {
    let targets = |regions: &[String]| -> Vec<Place<Ec2Ebs>> {
        // SSM beside EC2 in each region, for the freeze around application-consistent sets.
        let ssm = aws.regional("SSM", regions, aws_sdk_ssm::Client::new);
        aws.regional("EC2", regions, aws_sdk_ec2::Client::new)
            .into_iter()
            .zip(ssm)
            .map(|((region, client), (_, ssm))| Place {
                port: Ec2Ebs::new(region, client).with_ssm(ssm),
                limits: RateLimiter::new(config.rate),
            })
            .collect()
    };
    App {
        sources: targets(&config.regions),
        // An empty list would mean the function's own region: no copies, no destinations.
        destinations: if config.copies.to.is_empty() {
            Vec::new()
        } else {
            targets(&config.copies.to)
        },
        keys,
    }
}

/// One invocation: the function's own event, or one target of an organisation run (its
/// region in the member account, with copies to COPY_TO in the same account).
pub async fn handle(
    lambda: &Lambda,
    inv: Invocation<'_>,
) -> Result<Answer<report::JanitorReport>, Error> {
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
        let regions = vec![request.target.region.clone()];
        let config = Config {
            mode,
            regions,
            ..config.clone()
        };
        let places = places(&reached, lambda.app.keys.clone(), &config);
        handler::run(
            &places,
            &config,
            &request.event,
            inv.now,
            inv.budget,
            inv.metrics,
        )
        .await
    };
    org::route(&lambda.reach, inv, config.mode, own, target).await
}
