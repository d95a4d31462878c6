//! lease-keeper's own types and tag keys: what it does to a leased instance, and the tag on
//! the snapshots it takes before a termination.

use std::fmt;

use jiff::Timestamp;

/// On the snapshots taken just before a termination.
pub const FINAL_SNAPSHOT_TAG: &str = "fleetkeeper:final-snapshot";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// Tell the owner the lease ends soon.
    Warn { expires: Timestamp, owner: String },
    /// Stop (when running) and mark the expiry (unless marked already).
    Expire { stop: bool, mark: bool },
    /// Snapshot the volumes that go with it (tagged with the owner), then terminate.
    Terminate { volumes: Vec<String>, owner: String },
}

impl fmt::Display for Act {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Act::Warn { .. } => "warn",
            Act::Expire { stop: true, .. } => "stop",
            Act::Expire { stop: false, .. } => "mark-expired",
            Act::Terminate { .. } => "terminate",
        })
    }
}
