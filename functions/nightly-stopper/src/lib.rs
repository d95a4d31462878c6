//! nightly-stopper: stop opted-in EC2 instances in the evening and start them in the morning.
//!
//! observe ([`fleet`]) -> plan ([`plan`], pure) -> apply ([`apply`]) -> report ([`report`]).

pub mod apply;
pub mod config;
pub mod event;
pub mod fleet;
pub mod handler;
pub mod plan;
pub mod report;
