//! EC2 pieces more than one function needs (feature `ec2`): the instance facts plans use, and
//! the paginated, server-side filtered DescribeInstances that reads them.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::Filter;

use crate::error::{AwsError, aws_err};

/// EC2's instance states, as EC2 names them (`shutting-down` ...). A state EC2 adds later
/// is `Unknown`, which no plan acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InstanceState {
    Pending,
    Running,
    Stopping,
    Stopped,
    ShuttingDown,
    Terminated,
    #[default]
    Unknown,
}

impl InstanceState {
    /// Every state an instance can still be started, stopped or terminated from.
    pub const LIVE: [InstanceState; 4] = [
        InstanceState::Pending,
        InstanceState::Running,
        InstanceState::Stopping,
        InstanceState::Stopped,
    ];

    pub fn parse(name: &str) -> InstanceState {
        match name {
            "pending" => InstanceState::Pending,
            "running" => InstanceState::Running,
            "stopping" => InstanceState::Stopping,
            "stopped" => InstanceState::Stopped,
            "shutting-down" => InstanceState::ShuttingDown,
            "terminated" => InstanceState::Terminated,
            _ => InstanceState::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
            InstanceState::Unknown => "unknown",
        }
    }

    /// Running or on its way there: it bills.
    pub fn is_up(self) -> bool {
        matches!(self, InstanceState::Pending | InstanceState::Running)
    }

    /// Terminated or on its way there: nothing more can be done to it.
    pub fn is_gone(self) -> bool {
        matches!(
            self,
            InstanceState::ShuttingDown | InstanceState::Terminated
        )
    }
}

impl std::fmt::Display for InstanceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Test fixtures and EC2 filters name states as EC2 does: `"running".into()`.
impl From<&str> for InstanceState {
    fn from(name: &str) -> InstanceState {
        InstanceState::parse(name)
    }
}

impl serde::Serialize for InstanceState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What plans need to know of an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub state: InstanceState,
    pub tags: BTreeMap<String, String>,
    pub instance_type: String,
    /// When it was last started (EC2's LaunchTime is updated by every start).
    pub launched_at: Option<jiff::Timestamp>,
    /// Why it last changed state, as EC2 codes it (`Client.InternalError`,
    /// `Client.UserInitiatedShutdown` ...), with EC2's message.
    pub state_reason: Option<StateReason>,
    /// Its EBS volumes, as its block device mappings list them.
    pub volumes: Vec<AttachedVolume>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedVolume {
    pub volume_id: String,
    pub device: String,
    /// The root (boot) device.
    pub boot: bool,
    /// Deleted with the instance when it is terminated.
    pub delete_on_termination: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateReason {
    pub code: String,
    pub message: String,
}

impl Instance {
    /// None for an entry without an instance id (never seen from EC2, but not worth a panic).
    pub fn from_sdk(i: &aws_sdk_ec2::types::Instance) -> Option<Instance> {
        Some(Instance {
            id: i.instance_id()?.to_owned(),
            state: i
                .state()
                .and_then(|s| s.name())
                .map_or(InstanceState::Unknown, |n| InstanceState::parse(n.as_str())),
            tags: i
                .tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_owned(),
                        t.value().unwrap_or_default().to_owned(),
                    ))
                })
                .collect(),
            instance_type: i
                .instance_type()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            launched_at: i
                .launch_time()
                .and_then(|t| jiff::Timestamp::from_second(t.secs()).ok()),
            volumes: i
                .block_device_mappings()
                .iter()
                .filter_map(|m| {
                    let ebs = m.ebs()?;
                    let device = m.device_name().unwrap_or_default().to_owned();
                    Some(AttachedVolume {
                        volume_id: ebs.volume_id()?.to_owned(),
                        boot: i.root_device_name() == Some(device.as_str()),
                        device,
                        delete_on_termination: ebs.delete_on_termination().unwrap_or(false),
                    })
                })
                .collect(),
            state_reason: i.state_reason().and_then(|r| {
                Some(StateReason {
                    code: r.code().filter(|c| !c.is_empty())?.to_owned(),
                    message: r.message().unwrap_or_default().to_owned(),
                })
            }),
        })
    }
}

/// Every instance matching `filters` (EC2 filters them), 1000 per page, all pages.
pub async fn describe_instances(
    client: &aws_sdk_ec2::Client,
    filters: Vec<Filter>,
) -> Result<Vec<Instance>, AwsError> {
    let mut pages = client
        .describe_instances()
        .set_filters((!filters.is_empty()).then_some(filters))
        .max_results(1000)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws_err("ec2:DescribeInstances"))?;
        out.extend(
            page.reservations()
                .iter()
                .flat_map(|r| r.instances())
                .filter_map(Instance::from_sdk),
        );
    }
    Ok(out)
}

/// With DryRun set, EC2 answers `DryRunOperation` when the call would have succeeded.
pub fn dry_run_ok(result: Result<(), AwsError>) -> Result<(), AwsError> {
    match result {
        Err(e) if e.code() == Some("DryRunOperation") => Ok(()),
        other => other,
    }
}

/// A filter on one tag's value.
pub fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

/// A filter on a tag's presence, whatever its value.
pub fn tag_key_filter(key: &str) -> Filter {
    Filter::builder().name("tag-key").values(key).build()
}

/// A filter on instance states.
pub fn state_filter(states: &[&str]) -> Filter {
    Filter::builder()
        .name("instance-state-name")
        .set_values(Some(states.iter().map(|s| (*s).to_owned()).collect()))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_and_print_as_ec2_names_them() {
        for name in [
            "pending",
            "running",
            "stopping",
            "stopped",
            "shutting-down",
            "terminated",
        ] {
            assert_eq!(InstanceState::parse(name).as_str(), name);
        }
        assert_eq!(InstanceState::parse("rebooting"), InstanceState::Unknown);
        assert_eq!(
            serde_json::to_value(InstanceState::ShuttingDown).unwrap(),
            "shutting-down"
        );
        assert!(InstanceState::Pending.is_up() && !InstanceState::Stopped.is_up());
        assert!(InstanceState::ShuttingDown.is_gone() && !InstanceState::Stopping.is_gone());
        assert!(!InstanceState::LIVE.contains(&InstanceState::Terminated));
    }
}
