//! nightly-stopper's own types and tag keys: what it does to an instance, and what its
//! last-action tag says it did.

use std::fmt;

use jiff::Timestamp;

use std::collections::BTreeMap;

pub const KEEP_RUNNING_TAG: &str = "fleetkeeper:keep-running-until";
pub const HIBERNATE_TAG: &str = "fleetkeeper:hibernate";
pub const LAST_ACTION_TAG: &str = "fleetkeeper:last-action";

/// The kinds of resource a schedule can keep (RESOURCES).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Ec2,
    /// An RDS DB instance outside any cluster.
    Rds,
    /// An Aurora (or Multi-AZ) DB cluster.
    Aurora,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Ec2, Kind::Rds, Kind::Aurora];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ec2 => "ec2",
            Kind::Rds => "rds",
            Kind::Aurora => "aurora",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A database as the plan sees it: an RDS DB instance or an Aurora DB cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Database {
    /// The DB instance or cluster identifier (what the report names).
    pub id: String,
    pub arn: String,
    /// `Rds` or `Aurora`.
    pub kind: Option<Kind>,
    /// RDS's status: `available`, `stopped`, `stopping`, `starting`, `modifying`, ...
    pub status: String,
    pub tags: BTreeMap<String, String>,
    /// A DB instance in a cluster: the cluster is what is scheduled.
    pub cluster: Option<String>,
    /// A read replica's source.
    pub replica_of: Option<String>,
    /// How many read replicas it has (RDS stops neither a source nor a replica).
    pub replicas: usize,
    /// Why RDS cannot stop this cluster at all (serverless v1, a global secondary).
    pub unstoppable: Option<String>,
}

impl Database {
    pub fn kind(&self) -> Kind {
        self.kind.unwrap_or(Kind::Rds)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Act {
    Stop,
    /// Stop with hibernation; falls back to a plain stop when EC2 refuses it.
    Hibernate,
    Start,
}

impl fmt::Display for Act {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Act::Stop => "stop",
            Act::Hibernate => "hibernate",
            Act::Start => "start",
        })
    }
}

/// Our last action on an instance, as `fleetkeeper:last-action` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Stopped,
    Started,
    /// We started it and EC2 stopped it again (reported once).
    StartFailed,
    /// RDS started a database of ours itself, after seven days stopped: not a person's start.
    RestartedByAws,
}

/// What `fleetkeeper:last-action` says: our last stop or start, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastAction {
    pub verb: Verb,
    pub at: Timestamp,
}

impl LastAction {
    /// `stopped <time>`, `started <time>`, `start-failed <time>`; anything else is no action.
    pub fn parse(raw: &str) -> Option<LastAction> {
        let (verb, at) = raw.split_once(' ')?;
        let verb = match verb {
            "stopped" => Verb::Stopped,
            "started" => Verb::Started,
            "start-failed" => Verb::StartFailed,
            "restarted-by-aws" => Verb::RestartedByAws,
            _ => return None,
        };
        Some(LastAction {
            verb,
            at: at.trim().parse().ok()?,
        })
    }

    pub fn started(&self) -> bool {
        self.verb == Verb::Started
    }
}
