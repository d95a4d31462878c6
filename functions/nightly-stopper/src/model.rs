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
    /// An Auto Scaling group.
    Asg,
    /// An ECS service.
    Ecs,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Ec2, Kind::Rds, Kind::Aurora, Kind::Asg, Kind::Ecs];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ec2 => "ec2",
            Kind::Rds => "rds",
            Kind::Aurora => "aurora",
            Kind::Asg => "asg",
            Kind::Ecs => "ecs",
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

/// What carries the schedule tag in one place, by kind (empty for kinds not in RESOURCES).
#[derive(Debug, Clone, Default)]
pub struct Scheduled {
    pub instances: Vec<fleetkeeper::ec2::Instance>,
    pub databases: Vec<Database>,
    pub groups: Vec<Group>,
    pub services: Vec<Service>,
}

/// On a stopped ECS service: its desired count when stopped, and its scalable target's min
/// and max where it has one (`4` or `4,2,10`).
pub const ECS_SIZE_TAG: &str = "fleetkeeper:ecs-size";

/// What an ECS service's size is: its desired count, and its Application Auto Scaling bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServiceSize {
    pub desired: i32,
    /// (min, max) of its scalable target, if it has one.
    pub bounds: Option<(i32, i32)>,
}

impl ServiceSize {
    pub fn parse(raw: &str) -> Result<ServiceSize, String> {
        let parts: Vec<Option<i32>> = raw.split(',').map(|p| p.trim().parse().ok()).collect();
        match parts.as_slice() {
            [Some(d)] if *d >= 0 => Ok(ServiceSize {
                desired: *d,
                bounds: None,
            }),
            [Some(d), Some(min), Some(max)] if 0 <= *min && min <= max && *d >= 0 => {
                Ok(ServiceSize {
                    desired: *d,
                    bounds: Some((*min, *max)),
                })
            }
            _ => Err(format!(
                "{ECS_SIZE_TAG} {raw:?} is not desired or desired,min,max (such as 4 or 4,2,10)"
            )),
        }
    }

    pub fn tag(self) -> String {
        match self.bounds {
            Some((min, max)) => format!("{},{min},{max}", self.desired),
            None => self.desired.to_string(),
        }
    }
}

/// An ECS service as the plan sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Service {
    pub arn: String,
    /// The cluster's name and the service's (the scalable target is `service/<cluster>/<name>`).
    pub cluster: String,
    pub name: String,
    pub size: ServiceSize,
    pub tags: BTreeMap<String, String>,
}

impl Service {
    pub fn stopped(&self) -> bool {
        self.size.desired == 0 && self.size.bounds.is_none_or(|(min, _)| min == 0)
    }
}

impl Scheduled {
    pub fn len(&self) -> usize {
        self.instances.len() + self.databases.len() + self.groups.len() + self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// On a stopped Auto Scaling group: its min, desired and max when it was stopped (`2,3,6`).
pub const ASG_SIZE_TAG: &str = "fleetkeeper:asg-size";

/// An Auto Scaling group's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Size {
    pub min: i32,
    pub desired: i32,
    pub max: i32,
}

impl Size {
    /// `min,desired,max`, as the size tag holds it.
    pub fn parse(raw: &str) -> Result<Size, String> {
        let parts: Vec<Option<i32>> = raw.split(',').map(|p| p.trim().parse().ok()).collect();
        match parts.as_slice() {
            [Some(min), Some(desired), Some(max)]
                if 0 <= *min && min <= desired && desired <= max =>
            {
                Ok(Size {
                    min: *min,
                    desired: *desired,
                    max: *max,
                })
            }
            _ => Err(format!(
                "{ASG_SIZE_TAG} {raw:?} is not min,desired,max (such as 2,3,6, with min <= desired <= max)"
            )),
        }
    }

    pub fn tag(self) -> String {
        format!("{},{},{}", self.min, self.desired, self.max)
    }
}

/// An Auto Scaling group as the plan sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Group {
    pub name: String,
    pub size: Size,
    pub tags: BTreeMap<String, String>,
}

impl Group {
    /// Scaled to nothing: no instance is kept or wanted.
    pub fn stopped(&self) -> bool {
        self.size.min == 0 && self.size.desired == 0
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
