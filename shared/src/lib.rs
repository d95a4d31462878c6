//! fleetkeeper: the library every function uses.
//!
//! Each function follows observe -> plan -> apply -> report. This crate holds the parts they share:
//! typed configuration ([`config`]), the one AWS SDK loader ([`aws`]), JSON logs and EMF metrics
//! ([`telemetry`]), plans and reports ([`plan`], [`report`]), bounded and rate-limited execution
//! with a time budget ([`exec`]) and the error type ([`error`]).

pub mod alarm;
pub mod applied;
pub mod aws;
pub mod clock;
pub mod config;
#[cfg(feature = "ec2")]
pub mod ec2;
pub mod error;
pub mod exec;
#[cfg(feature = "function-url")]
pub mod http;
#[cfg(feature = "kinds")]
pub mod kinds;
pub mod lambda;
pub mod lease;
#[cfg(feature = "ec2")]
pub mod lifecycle;
pub mod org;
#[cfg(feature = "ssm")]
pub mod parameter;
pub mod plan;
pub mod report;
pub mod run;
#[cfg(feature = "seal")]
pub mod seal;
#[cfg(feature = "ec2")]
pub mod tagging;
pub mod tags;
pub mod telemetry;

pub use applied::Applied;
pub use config::{ConfigError, Env};
pub use error::{AwsError, Error};
pub use plan::{Mode, Plan, Planned, Skip};
pub use report::Report;
