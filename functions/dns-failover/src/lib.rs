//! dns-failover: probe each failover group's primary, keep consecutive-result counters in SSM
//! Parameter Store, and point its Route 53 record at the standby when the primary has failed
//! FAIL_AFTER times in a row, and back when it has passed RECOVER_AFTER times. Deployed in
//! several regions, each votes and a quorum of fresh votes decides, one decider at a time.
//!
//! [`event`] (the schedule, a CloudWatch alarm, or an HTTP call) -> observe ([`ports`]: the
//! probe, Route 53, the group states in SSM) -> plan ([`plan`], pure: the groups concerned, hysteresis, the record
//! change) -> apply ([`apply`]: one atomic batch per zone, bounded wait for INSYNC, state saved)
//! -> report ([`report`]); [`handler`] runs one invocation.

pub mod apply;
pub mod config;
pub mod control;
pub mod decide;
pub mod event;
pub mod handler;
pub mod model;
pub mod plan;
pub mod ports;
pub mod report;

use std::time::Duration;

use fleetkeeper::Error;
use fleetkeeper::http::SecretSource;
use fleetkeeper::lambda::{Boot, Invocation};
use fleetkeeper::parameter;

use config::{Config, GroupsSource, parse_groups};
pub use decide::RESERVE;
pub use ports::App;
use ports::{Prober, Route53, StateStore};

/// What one cold start builds: the settings, the groups and the clients.
pub struct Lambda {
    pub config: Config,
    pub app: App,
}

/// The wiring of `main`. Groups from a parameter are read at each cold start; a bad one fails
/// the start with its reason.
pub async fn init(boot: &Boot) -> Result<Lambda, Error> {
    let config = Config::from_env(&boot.env)?;
    let ssm = boot.aws.client("SSM", aws_sdk_ssm::Client::new);
    let groups = match &config.groups {
        GroupsSource::Inline(g) => g.clone(),
        GroupsSource::Parameter(name) => {
            let text = parameter::read(&ssm, name).await?;
            parse_groups(&text, &format!("GROUPS_PARAMETER ({name})"))?
        }
    };
    let state_ssm = boot
        .aws
        .regional(
            "SSM",
            std::slice::from_ref(&config.state_region),
            aws_sdk_ssm::Client::new,
        )
        .pop()
        .map(|(_, client)| client)
        .unwrap_or_else(|| ssm.clone());
    let prober = Prober::new().map_err(|e| {
        Error::Internal(format!(
            "the HTTPS probe could not load the system's root certificates: {e}"
        ))
    })?;
    let app = App {
        route53: Route53 {
            client: boot.aws.client("ROUTE_53", aws_sdk_route53::Client::new),
            backoff: Duration::from_millis(500),
        },
        store: StateStore {
            // Every deployment of these groups keeps their states, votes and commands in the
            // one state region.
            ssm: state_ssm,
            prefix: config.state_prefix.clone(),
            command_prefix: config.command_prefix.clone(),
        },
        prober,
        secret: SecretSource::for_mode(&config.auth, ssm),
        groups,
    };
    // A shared secret that cannot be read, or is too short, stops the cold start.
    if let Some(secret) = &app.secret {
        secret.check().await?;
    }
    Ok(Lambda { config, app })
}

/// One invocation.
pub async fn handle(lambda: &Lambda, inv: Invocation<'_>) -> Result<handler::Answer, Error> {
    handler::run(
        &lambda.app,
        &lambda.config,
        inv.payload,
        inv.now,
        inv.budget,
        inv.metrics,
    )
    .await
}
