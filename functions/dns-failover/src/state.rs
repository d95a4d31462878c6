//! Each group's hysteresis state (kept by the state store among the ports, one SSM parameter per
//! group), its side, and what a probe or an alarm says of the primary: data, no I/O.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Primary,
    Standby,
}

impl Side {
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
