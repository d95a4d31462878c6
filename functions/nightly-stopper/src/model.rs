//! nightly-stopper's own types and tag keys: what it does to an instance, and what its
//! last-action tag says it did.

use std::fmt;

use jiff::Timestamp;

pub use fleetkeeper::kinds::{
    ASG_SIZE_TAG, Database, ECS_SIZE_TAG, Group, Kind, Service, ServiceSize, Size,
};

pub const KEEP_RUNNING_TAG: &str = "fleetkeeper:keep-running-until";
pub const HIBERNATE_TAG: &str = "fleetkeeper:hibernate";
pub const LAST_ACTION_TAG: &str = "fleetkeeper:last-action";

/// What carries the schedule tag in one place, by kind (empty for kinds not in RESOURCES).
#[derive(Debug, Clone, Default)]
pub struct Scheduled {
    pub instances: Vec<fleetkeeper::ec2::Instance>,
    pub databases: Vec<Database>,
    pub groups: Vec<Group>,
    pub services: Vec<Service>,
}

impl Scheduled {
    pub fn len(&self) -> usize {
        self.instances.len() + self.databases.len() + self.groups.len() + self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
