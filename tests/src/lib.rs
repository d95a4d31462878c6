//! Support for the workspace's integration tests: a moto server per test ([`moto`]) and a
//! fault proxy between the SDK and moto ([`fault`]) for what moto cannot do (throttling,
//! server errors, dropped connections, latency, API token buckets).

pub mod ec2;
pub mod fault;
pub mod moto;

pub use fault::{Fault, FaultProxy, Rule};
pub use moto::Moto;
