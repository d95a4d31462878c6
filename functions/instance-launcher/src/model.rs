//! instance-launcher's own types, which the plan and the ports both speak of.

use jiff::Timestamp;

/// One launch as planned: what RunInstances is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub instance_type: String,
    /// RunInstances' ClientToken (EC2 keeps it for a while and answers a repeat with the same
    /// instance), also kept as a tag for the check before launching.
    pub token: String,
    /// On the instance and on its volumes.
    pub tags: Vec<(String, String)>,
    pub expires_at: Timestamp,
}
