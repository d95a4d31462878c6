//! What dns-failover reaches out to, one small trait per capability, each implemented beside
//! its client: Route 53 ([`Dns`]: [`route53`]), the group states ([`States`]: SSM, in
//! [`state_store`]) and the health probe ([`Probe`]: HTTP(S) or TCP, in [`probe`]).

use std::time::Duration;

use fleetkeeper::AwsError;
use fleetkeeper::exec::Budget;

use fleetkeeper::Mode;
use jiff::Timestamp;

use crate::config::{Config, Group, HealthCheck};
use fleetkeeper::http::SecretSource;

use crate::model::{Command, GroupState, Observed, Vote};

pub mod probe;
pub mod route53;
pub mod state_store;

pub use probe::{ProbeResult, Prober};
pub use route53::{Record, Route53, Submitted, Upsert, normalize};
pub use state_store::{Claim, ClaimError, StateError, StateStore};

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
    /// Writes this region's vote on the group.
    fn vote(&self, group: &str, vote: &Vote) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// The last vote of each of `regions` that has one.
    fn votes(
        &self,
        group: &str,
        regions: &[String],
    ) -> impl Future<Output = Result<Vec<Vote>, AwsError>> + Send;
    /// Claims the group's state version after `base` for `by`: the version to save, or who
    /// holds it. Only the winner may change the state (and the record) for that version.
    fn claim(
        &self,
        group: &str,
        base: u64,
        by: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<u64, ClaimError>> + Send;
    /// Drops the claims on versions `from..=to` (once the state is saved, or given up).
    fn release(&self, group: &str, from: u64, to: u64) -> impl Future<Output = ()> + Send;
}

pub trait Probe {
    fn probe(&self, check: &HealthCheck) -> impl Future<Output = ProbeResult> + Send;
}

/// What an invocation works with; generic over the ports so tests can answer in memory.
pub struct App<D = Route53, S = StateStore, P = Prober> {
    pub route53: D,
    pub store: S,
    pub prober: P,
    pub secret: Option<SecretSource>,
    pub groups: Vec<Group>,
}

/// How a group is looked at.
#[derive(Debug, Clone)]
pub enum Look {
    /// Probe the primary now (and vote, where this region is a probe region).
    Probe,
    /// Read without probing, keeping this run's probe if it made one (a decision taken again).
    Again(Option<ProbeResult>),
}

impl<D: Dns + Sync, S: States + Sync, P: Probe + Sync> App<D, S, P> {
    /// What one group's decision needs: its zone, its record, its saved state, its manual
    /// command, a probe of the primary when asked for, and a voting group's votes (this run's
    /// own written first, outside a dry run).
    pub async fn observe(
        &self,
        group: &Group,
        look: Look,
        config: &Config,
        now: Timestamp,
    ) -> Result<Observed, String> {
        let probed = matches!(look, Look::Probe);
        let probe = match look {
            Look::Probe => Some(self.prober.probe(&group.health_check).await),
            Look::Again(p) => p,
        };
        let own = probe
            .as_ref()
            .filter(|_| group.probe_regions.contains(&config.region))
            .map(|p| Vote {
                region: config.region.clone(),
                healthy: p.healthy,
                detail: p.detail.clone(),
                at: now.to_string(),
            });
        if let Some(vote) = own.as_ref().filter(|_| probed && config.mode == Mode::Live) {
            self.store
                .vote(&group.name, vote)
                .await
                .map_err(|e| format!("vote not written: {e}"))?;
        }
        let votes = match group.votes() {
            true => {
                let mut votes = self
                    .store
                    .votes(&group.name, &group.probe_regions)
                    .await
                    .map_err(|e| e.to_string())?;
                if let Some(vote) = own {
                    votes.retain(|v| v.region != vote.region);
                    votes.push(vote);
                }
                Some(votes)
            }
            false => None,
        };
        let zone_id = self.route53.zone_id(group).await?;
        let record = self
            .route53
            .record(&zone_id, group)
            .await
            .map_err(|e| e.to_string())?;
        let state = self
            .store
            .load(&group.name)
            .await
            .map_err(|e| e.to_string())?;
        let command = self
            .store
            .command(&group.name)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Observed {
            zone_id,
            record,
            state,
            probe,
            command,
            votes,
        })
    }
}

/// In-memory ports for unit tests: a zone, the state store (whose saves can be made to fail,
/// which moto cannot do), and a failing probe.
#[cfg(test)]
pub mod fake {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use fleetkeeper::AwsError;
    use fleetkeeper::exec::Budget;

    use jiff::Timestamp;

    use super::{
        Claim, ClaimError, Dns, Probe, ProbeResult, Record, StateError, States, Submitted, Upsert,
    };
    use crate::config::{Group, HealthCheck};
    use crate::model::{Command, GroupState, Vote};

    /// A hosted zone with the group's one record.
    #[derive(Default)]
    pub struct Zone {
        pub values: Mutex<Vec<String>>,
        pub batches: Mutex<Vec<Vec<Upsert>>>,
    }

    impl Dns for Zone {
        async fn zone_id(&self, _: &Group) -> Result<String, String> {
            Ok("Z1".into())
        }
        async fn record(&self, _: &str, _: &Group) -> Result<Option<Record>, AwsError> {
            let values = self.values.lock().unwrap().clone();
            Ok(Some(Record {
                ttl: Some(60),
                values,
            }))
        }
        async fn submit(&self, _: &str, ups: &[Upsert], _: &str) -> Result<Submitted, AwsError> {
            *self.values.lock().unwrap() = ups[0].values.clone();
            self.batches.lock().unwrap().push(ups.to_vec());
            Ok(Submitted {
                change_id: "C1".into(),
                status: "PENDING".into(),
            })
        }
        async fn wait_insync(
            &self,
            s: Submitted,
            _: Duration,
            _: Duration,
            _: Budget,
        ) -> Result<Submitted, AwsError> {
            Ok(Submitted {
                status: "INSYNC".into(),
                ..s
            })
        }
    }

    /// The group states, commands, votes and claims.
    #[derive(Default)]
    pub struct Memory {
        pub states: Mutex<HashMap<String, GroupState>>,
        pub commands: Mutex<HashMap<String, Command>>,
        pub votes: Mutex<HashMap<(String, String), Vote>>,
        pub claims: Mutex<HashMap<(String, u64), Claim>>,
        /// Every save fails (throttled): the record changed, the state not.
        pub refuse_saves: bool,
    }

    impl States for Memory {
        async fn load(&self, group: &str) -> Result<Option<GroupState>, StateError> {
            Ok(self.states.lock().unwrap().get(group).cloned())
        }
        async fn save(&self, group: &str, state: &GroupState) -> Result<(), AwsError> {
            if self.refuse_saves {
                return Err(AwsError::service(
                    "ssm:PutParameter",
                    "ThrottlingException",
                    "slow down",
                ));
            }
            self.states
                .lock()
                .unwrap()
                .insert(group.into(), state.clone());
            Ok(())
        }
        async fn command(&self, group: &str) -> Result<Option<Command>, StateError> {
            Ok(self.commands.lock().unwrap().get(group).cloned())
        }
        async fn ask(&self, group: &str, command: &Command) -> Result<(), AwsError> {
            self.commands
                .lock()
                .unwrap()
                .insert(group.into(), command.clone());
            Ok(())
        }
        async fn vote(&self, group: &str, vote: &Vote) -> Result<(), AwsError> {
            self.votes
                .lock()
                .unwrap()
                .insert((group.into(), vote.region.clone()), vote.clone());
            Ok(())
        }
        async fn votes(&self, group: &str, regions: &[String]) -> Result<Vec<Vote>, AwsError> {
            let votes = self.votes.lock().unwrap();
            Ok(regions
                .iter()
                .filter_map(|r| votes.get(&(group.to_owned(), r.clone())).cloned())
                .collect())
        }
        async fn claim(
            &self,
            group: &str,
            base: u64,
            by: &str,
            now: Timestamp,
        ) -> Result<u64, ClaimError> {
            let mut claims = self.claims.lock().unwrap();
            let key = (group.to_owned(), base + 1);
            if let Some(held) = claims.get(&key) {
                return Err(ClaimError::Lost(held.clone()));
            }
            let at_base = self
                .states
                .lock()
                .unwrap()
                .get(group)
                .map_or(0, |s| s.version);
            if at_base != base {
                return Err(ClaimError::Lost(Claim {
                    by: "another region".into(),
                    at: format!("version {at_base}"),
                }));
            }
            claims.insert(
                key,
                Claim {
                    by: by.into(),
                    at: now.to_string(),
                },
            );
            Ok(base + 1)
        }
        async fn release(&self, group: &str, from: u64, to: u64) {
            let mut claims = self.claims.lock().unwrap();
            for v in from..=to {
                claims.remove(&(group.to_owned(), v));
            }
        }
    }

    /// A primary whose health check fails.
    pub struct Down;

    impl Probe for Down {
        async fn probe(&self, _: &HealthCheck) -> ProbeResult {
            ProbeResult {
                healthy: false,
                detail: "HTTP 503 (expected 200-399)".into(),
                ms: 3,
            }
        }
    }
}
