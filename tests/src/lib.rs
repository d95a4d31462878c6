//! Support for the workspace's integration tests: a moto server per test ([`moto`]) and a
//! fault proxy between the SDK and moto ([`fault`]) for what moto cannot do (throttling,
//! server errors, dropped connections, latency, API token buckets), and a stand-in for the
//! Lambda Runtime API ([`runtime`]) to run the functions' real binaries.

pub mod clock;
pub mod ec2;
pub mod fault;
pub mod http;
#[cfg(feature = "kinds")]
pub mod kinds;
pub mod moto;
pub mod runtime;
pub mod seal;

pub use fault::{Fault, FaultProxy, Rule};
pub use moto::Moto;

/// A sample event from `events/<function>/<name>.json`, the same files the demo sends.
pub fn event(function: &str, name: &str) -> serde_json::Value {
    let path = moto::workspace_root()
        .join("events")
        .join(function)
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
