//! image-resizer: write resized renditions of each image uploaded to S3, never losing the
//! original and never processing its own output.
//!
//! [`config`] (settings), [`colour`] (embedded profiles to sRGB), [`rendition`] (specs), [`geometry`] (the pure layout of each fit),
//! [`event`] (the S3 event and the per-record plan), [`decode`] (format sniffing, limits from
//! the header, shrink-on-load, orientation) with [`jpeg`] (libjpeg-turbo) and [`resample`]
//! (Lanczos3, whole images or streamed rows), [`pipeline`] (decode once, then resize, crop or
//! pad, encode per rendition), [`store`] (S3) and [`handler`] (one notification, record by
//! record).

pub mod apply;
pub mod colour;
pub mod config;
pub mod decode;
pub mod event;
pub mod exif;
pub mod geometry;
pub mod handler;
pub mod jpeg;
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
