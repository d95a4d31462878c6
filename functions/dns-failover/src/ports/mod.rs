//! What dns-failover reaches out to, one small trait per capability, each implemented beside
//! its client: Route 53 ([`Dns`]: [`route53`]), the group states ([`States`]: SSM, in
//! [`state_store`]) and the health probe ([`Probe`]: HTTP(S) or TCP, in [`probe`]).

use std::time::Duration;

use fleetkeeper::AwsError;
use fleetkeeper::exec::Budget;

use crate::config::{Group, HealthCheck};
use crate::model::{Command, GroupState};

pub mod probe;
pub mod route53;
pub mod state_store;

pub use probe::{ProbeResult, Prober};
pub use route53::{Record, Route53, Submitted, Upsert, normalize};
pub use state_store::{StateError, StateStore};

pub trait Dns {
    /// The zone id for a group; an error says which zones were seen.
    fn zone_id(&self, group: &Group) -> impl Future<Output = Result<String, String>> + Send;
    /// The group's simple record, or None.
    fn record(
        &self,
        zone_id: &str,
        group: &Group,
    ) -> impl Future<Output = Result<Option<Record>, AwsError>> + Send;
    /// One zone's changes in one atomic batch.
    fn submit(
        &self,
        zone_id: &str,
        upserts: &[Upsert],
        comment: &str,
    ) -> impl Future<Output = Result<Submitted, AwsError>> + Send;
    /// Waits for INSYNC for at most `wait`, never past the budget.
    fn wait_insync(
        &self,
        submitted: Submitted,
        wait: Duration,
        poll: Duration,
        budget: Budget,
    ) -> impl Future<Output = Result<Submitted, AwsError>> + Send;
}

pub trait States {
    /// None when the group has no state yet.
    fn load(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<Option<GroupState>, StateError>> + Send;
    fn save(
        &self,
        group: &str,
        state: &GroupState,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// The group's manual command as last written (None: never).
    fn command(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<Option<Command>, StateError>> + Send;
    /// Writes the group's manual command (the URL side's only write).
    fn ask(
        &self,
        group: &str,
        command: &Command,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

pub trait Probe {
    fn probe(&self, check: &HealthCheck) -> impl Future<Output = ProbeResult> + Send;
}
