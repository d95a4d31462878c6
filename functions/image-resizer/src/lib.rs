//! image-resizer: write resized renditions of each image uploaded to S3, never losing the
//! original and never processing its own output.
//!
//! The one shape: [`event`] (the S3 notification) -> observe ([`ports`]: S3) -> [`plan`]
//! (pure: what to write where, what is refused or already made) -> render -> [`apply`] (the
//! verified replace of an original) -> [`report`]; [`handler`] runs one notification, record
//! by record. [`config`] holds the settings and [`rendition`] the specs.
//!
//! Rendering is its own crate, `fleetkeeper-imaging` (`imaging/`), with no AWS in it; its
//! modules are re-exported here under their own names.

pub mod apply;
pub use imaging::{colour, decode, exif, geometry, jpeg, pipeline, pixels, rendition, resample};
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
use ports::Store;

/// Kept back from the invocation deadline to write the report.
pub const RESERVE: Duration = Duration::from_secs(5);

/// What one cold start builds: the settings and the S3 client.
pub struct Lambda {
    pub config: Config,
    pub store: Store,
}

/// The wiring of `main`.
pub async fn init(boot: &Boot) -> Result<Lambda, Error> {
    let config = Config::from_env(&boot.env)?;
    Ok(Lambda {
        config,
        store: Store { s3: boot.aws.s3() },
    })
}

/// One invocation: one S3 notification.
pub async fn handle(lambda: &Lambda, inv: Invocation<'_>) -> Result<report::ResizerReport, Error> {
    handler::run(&lambda.store, &lambda.config, &inv.payload, inv.metrics).await
}
