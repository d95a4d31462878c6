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
    /// Raised by one at every save; a shared group's save is claimed from this version first.
    #[serde(default)]
    pub version: u64,
    /// The last round decided from votes, and the region whose run decided it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// A maintenance hold: no automatic move, either way, until it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
    /// When the record was last found changed and put back (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub put_back_at: Option<String>,
    /// Set when the record was changed again soon after being put back: left for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contested: Option<Contested>,
}

/// A maintenance hold, asked through the URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// RFC 3339.
    pub until: String,
    pub by: String,
    pub at: String,
}

impl Hold {
    pub fn active(&self, now: jiff::Timestamp) -> bool {
        self.until.parse::<jiff::Timestamp>().is_ok_and(|u| now < u)
    }
}

/// Another writer keeps changing the record: what it should be, what was found, since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contested {
    pub ours: Vec<String>,
    pub found: Vec<String>,
    pub since: String,
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
            version: 0,
            round: None,
            decided_by: None,
            hold: None,
            put_back_at: None,
            contested: None,
        }
    }

    /// `command` when it is one this state has not applied yet.
    pub fn pending(&self, command: Option<Command>) -> Option<Command> {
        command.filter(|c| self.last_manual.as_ref().map(|m| &m.id) != Some(&c.id))
    }
}

/// What a person may ask through the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Manual {
    /// To the standby, held there until a failback. (`standby`: as commands were once written.)
    #[serde(alias = "standby")]
    Failover,
    /// To the primary, releasing a failover's hold.
    #[serde(alias = "primary")]
    Failback,
    /// No automatic move either way for `minutes`.
    Hold,
    /// End a maintenance hold now.
    Release,
    /// A contested record: the next run puts it back to its side, once, and watches again.
    Resolve,
}

impl Manual {
    pub fn as_str(self) -> &'static str {
        match self {
            Manual::Failover => "failover",
            Manual::Failback => "failback",
            Manual::Hold => "hold",
            Manual::Release => "release",
            Manual::Resolve => "resolve",
        }
    }

    /// The side a failover or failback moves the record to.
    pub fn moves_to(self) -> Option<Side> {
        match self {
            Manual::Failover => Some(Side::Standby),
            Manual::Failback => Some(Side::Primary),
            _ => None,
        }
    }
}

/// A manual action asked for through the URL. The URL side writes it in its own parameter and
/// nothing else; the run that owns the group's state applies it, once (by id), so a flood of
/// requests never runs where the probes run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// The request's id.
    pub id: String,
    /// What was asked (`to` in commands written before holds existed).
    #[serde(alias = "to")]
    pub action: Manual,
    /// A hold's length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u32>,
    /// Who asked: the signed caller's ARN, or the shared secret and the client's address.
    pub by: String,
    /// When, RFC 3339.
    pub at: String,
}

impl Command {
    pub fn action(&self) -> &'static str {
        self.action.as_str()
    }
}

/// One region's verdict on a group's primary, as it wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub region: String,
    pub healthy: bool,
    pub detail: String,
    /// When it probed, RFC 3339.
    pub at: String,
}

/// A vote as one decision saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VoteSeen {
    pub region: String,
    /// None: no vote from this region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<i64>,
    pub fresh: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
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
    /// Each probe region's vote, when the group decides from votes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub votes: Vec<VoteSeen>,
    /// The regions whose vote did not count: `eu-west-1: last vote 7 min old`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale_votes: Vec<String>,
    /// A maintenance hold in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
    /// The record is contested: left alone until a person resolves it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contested: Option<Contested>,
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
            votes: Vec::new(),
            stale_votes: Vec::new(),
            hold: None,
            contested: None,
            error: None,
        }
    }

    /// Adds a line to the note (several things can be said of one group in one run).
    pub fn say(&mut self, line: impl Into<String>) {
        let line = line.into();
        self.note = Some(match self.note.take() {
            Some(n) => format!("{n}; {line}"),
            None => line,
        });
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
    /// Each probe region's last vote (None: the group does not vote), this run's own
    /// included.
    pub votes: Option<Vec<Vote>>,
}
