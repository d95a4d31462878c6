//! image-resizer: write resized renditions of each image uploaded to S3, never losing the
//! original and never processing its own output.
//!
//! The one shape: [`event`] (the S3 notification) -> observe ([`ports`]: S3) -> [`plan`]
//! (pure: what to write where, what is refused or already made) -> render -> [`apply`] (the
//! verified replace of an original) -> [`report`]; [`handler`] runs one notification, record
//! by record. [`config`] holds the settings and [`rendition`] the specs.
//!
//! Rendering: [`pipeline`] (decode once, then resize, crop or pad, encode per rendition) over
//! [`decode`] (format sniffing, limits from the header, shrink-on-load, orientation from
//! [`exif`]) with [`jpeg`] (libjpeg-turbo), [`resample`] (Lanczos3, whole images or streamed
//! rows), [`colour`] (embedded profiles to sRGB), [`geometry`] (the pure layout of each fit)
//! and [`pixels`] (the types they share).

pub mod apply;
pub mod colour;
pub mod config;
pub mod decode;
pub mod event;
pub mod exif;
pub mod geometry;
pub mod handler;
pub mod jpeg;
pub mod model;
pub mod pipeline;
pub mod pixels;
pub mod plan;
pub mod ports;
pub mod rendition;
pub mod report;
pub mod resample;
#[cfg(test)]
mod testdata;

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
