//! org-targets: organisation mode's helper. The state machines (infra/statemachines) call it
//! to list a run's targets, every ACTIVE account of the OUs (or ACCOUNT_IDS) crossed with
//! REGIONS, as a manifest in S3 for the Distributed Map; to tally the plan phase against the
//! organisation cap; and to sum the run up.
//!
//! [`event`] -> observe ([`ports`]: Organizations, the run's objects in S3) -> plan ([`plan`],
//! pure: targets, the cap, outcomes) -> apply ([`apply`]: the manifest, the summary) -> report
//! ([`report`]); [`handler`] runs one invocation.

pub mod apply;
pub mod config;
pub mod event;
pub mod handler;
pub mod model;
pub mod plan;
pub mod ports;
pub mod report;

use std::time::Duration;

use fleetkeeper::Error;
use fleetkeeper::lambda::{Boot, Invocation};

use config::Config;
use handler::App;
use ports::{Bucket, Organizations};

/// Writing a manifest or a summary is quick; keep a little back.
pub const RESERVE: Duration = Duration::from_secs(3);

pub struct Lambda {
    pub config: Config,
    pub app: App<Organizations, Bucket>,
}

/// The wiring of `main`.
pub async fn init(boot: &Boot) -> Result<Lambda, Error> {
    let config = Config::from_env(&boot.env)?;
    let app = App {
        organization: Organizations {
            client: boot
                .aws
                .client("Organizations", aws_sdk_organizations::Client::new),
        },
        store: Bucket {
            client: boot.aws.s3(),
            name: config.bucket.clone(),
        },
    };
    Ok(Lambda { config, app })
}

/// One invocation.
pub async fn handle(lambda: &Lambda, inv: Invocation<'_>) -> Result<serde_json::Value, Error> {
    handler::run(
        &lambda.app,
        &lambda.config,
        &inv.payload,
        inv.now,
        inv.metrics,
    )
    .await
}
