//! dns-failover's own types: each group's hysteresis state (kept by the state store among the
//! ports, one SSM parameter per group), its side, a manual command, what a probe or an alarm
//! says of the primary, a record as Route 53 holds it and the change to it, and the group's
//! entry in the report. Data, no I/O: the plan, the ports and the report all speak of them.

use serde::{Deserialize, Serialize};

use crate::config::{Group, RecordType};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Primary,
    Standby,
}

impl Side {
    /// The record values this side stands for in `group`.
    pub fn values(self, group: &Group) -> &[String] {
        match self {
            Side::Primary => &group.primary,
            Side::Standby => &group.standby,
        }
    }

    pub fn other(self) -> Side {
        match self {
            Side::Primary => Side::Standby,
            Side::Standby => Side::Primary,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    pub side: Side,
    /// Consecutive failed probes of the primary.
    pub failures: u32,
    /// Consecutive passed probes of the primary.
    pub successes: u32,
    /// Set by a manual failover: automatic flips wait until a manual failback.
    #[serde(default)]
    pub held: bool,
    /// The last alarm change counted (alarm name and state timestamp), so a repeated
    /// delivery is not counted twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_alarm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_change_id: Option<String>,
    /// The last manual move applied: who asked, when (a command is applied once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_manual: Option<Command>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

impl GroupState {
    pub fn on(side: Side) -> Self {
        GroupState {
            side,
            failures: 0,
            successes: 0,
            held: false,
            last_alarm: None,
            last_change_id: None,
            last_manual: None,
            updated_at: None,
        }
    }

    /// `command` when it is one this state has not applied yet.
    pub fn pending(&self, command: Option<Command>) -> Option<Command> {
        command.filter(|c| self.last_manual.as_ref().map(|m| &m.id) != Some(&c.id))
    }
}

/// A manual failover or failback asked for through the URL. The URL side writes it in its own
/// parameter and nothing else; the run that owns the group's state applies it, once (by id),
/// so a flood of requests never runs where the probes run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// The request's id.
    pub id: String,
    /// `standby` (failover, held there until a failback) or `primary` (failback).
    pub to: Side,
    /// Who asked: the signed caller's ARN, or the shared secret and the client's address.
    pub by: String,
    /// When, RFC 3339.
    pub at: String,
}

impl Command {
    pub fn action(&self) -> &'static str {
        match self.to {
            Side::Standby => "failover",
            Side::Primary => "failback",
        }
    }
}

/// What one probe or alarm said of the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Observation {
    Healthy,
    Unhealthy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flip {
    Failover,
    Failback,
}

impl Flip {
    pub fn to(self) -> Side {
        match self {
            Flip::Failover => Side::Standby,
            Flip::Failback => Side::Primary,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeResult {
    pub healthy: bool,
    /// What was seen: `HTTP 200`, `HTTP 500 (expected 200-399)`, `timed out after 2000 ms` ...
    pub detail: String,
    pub ms: u64,
}

impl ProbeResult {
    pub fn observation(&self) -> Observation {
        if self.healthy {
            Observation::Healthy
        } else {
            Observation::Unhealthy
        }
    }
}

/// A record as Route 53 holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub ttl: Option<i64>,
    /// Sorted; CNAME targets with their trailing dot, lowercased.
    pub values: Vec<String>,
}

/// One UPSERT, for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upsert {
    pub group: String,
    pub name: String,
    pub record_type: RecordType,
    pub ttl: i64,
    pub values: Vec<String>,
}

/// Values compared the way DNS does: case-insensitive names, order ignored.
pub fn normalize(t: RecordType, values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = values
        .iter()
        .map(|v| match t {
            RecordType::CNAME => format!("{}.", v.trim_end_matches('.').to_ascii_lowercase()),
            _ => v.trim().to_owned(),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// One group as a run saw it and left it: the report's own entry for the group.
#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    pub group: String,
    pub record: String,
    #[serde(rename = "type")]
    pub record_type: &'static str,
    pub side_before: Option<Side>,
    pub side_after: Option<Side>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observation: Option<Observation>,
    pub failures: u32,
    pub successes: u32,
    pub held: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flip: Option<Flip>,
    pub record_before: Option<Vec<String>>,
    pub record_after: Option<Vec<String>>,
    /// `none` (the record is right), `upsert`, or `would-upsert` in a dry run.
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
    /// INSYNC, or PENDING when the bounded wait ran out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Who asked for the manual move applied in this run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The last manual move applied to the group (action, by whom, when).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_manual: Option<Command>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl GroupReport {
    pub fn new(group: &Group) -> Self {
        GroupReport {
            group: group.name.clone(),
            record: group.record.clone(),
            record_type: group.record_type.as_str(),
            side_before: None,
            side_after: None,
            probe: None,
            observation: None,
            failures: 0,
            successes: 0,
            held: false,
            flip: None,
            record_before: None,
            record_after: None,
            action: "none",
            change_id: None,
            change_status: None,
            note: None,
            by: None,
            last_manual: None,
            error: None,
        }
    }
}

/// What was read for one group before deciding.
#[derive(Debug, Clone)]
pub struct Observed {
    pub zone_id: String,
    /// The record as Route 53 has it (None: there is none).
    pub record: Option<Record>,
    /// The saved state (None: never saved).
    pub state: Option<GroupState>,
    /// The probe's result, when the input was a probe.
    pub probe: Option<ProbeResult>,
    /// The group's manual command as last written (applied or not).
    pub command: Option<Command>,
}
