//! snapshot-janitor's own types and tag keys: a volume and a snapshot as the plans see them,
//! the retention rules, and the tags that carry what a snapshot is. The plans, the ports and
//! the settings all speak of them; none of them owns them.

use std::collections::BTreeMap;
use std::fmt;

use fleetkeeper::{ConfigError, Env};
use jiff::Timestamp;
use serde::Serialize;

pub const BACKUP_TAG: &str = "fleetkeeper:backup";
pub const MANAGED_BY_TAG: &str = "fleetkeeper:managed-by";
pub const MANAGED_BY: &str = "snapshot-janitor";
pub const POLICY_TAG: &str = "fleetkeeper:policy";
pub const VOLUME_TAG: &str = "fleetkeeper:volume-id";
/// The snapshots of one CreateSnapshots call (an instance's volumes at one instant) share it.
pub const SET_TAG: &str = "fleetkeeper:set-id";
pub const INSTANCE_TAG: &str = "fleetkeeper:instance-id";
/// On a copy in another region: the source snapshot's id, its region and when it was taken.
pub const COPY_OF_TAG: &str = "fleetkeeper:copy-of";
pub const SOURCE_REGION_TAG: &str = "fleetkeeper:source-region";
pub const SOURCE_TIME_TAG: &str = "fleetkeeper:source-time";
/// The policy period a snapshot was taken for (`2026-11-21`, `2026-W47`, `2026-11`). The run
/// judges periods at its event's time, which can differ from the snapshot's own start time
/// (a run scheduled for 23:59:59 that starts a second later): the tag, not the start time,
/// says which period is covered. Snapshots without it fall back to their start time.
pub const PERIOD_TAG: &str = "fleetkeeper:period";
/// `false` on an instance leaves its boot volume out of its sets.
pub const BACKUP_BOOT_TAG: &str = "fleetkeeper:backup-boot";

/// On an instance: how its set is made consistent (`application`, `crash`; `vss` is refused).
/// It asks for a freeze, run only from the configured document: the tag never names commands.
pub const CONSISTENCY_REQUEST_TAG: &str = "fleetkeeper:backup-consistency";
/// On a snapshot: how consistent it is (`application` or `crash`).
pub const CONSISTENCY_TAG: &str = "fleetkeeper:consistency";
/// On the snapshots of an application-consistent set: how long the freeze lasted, in ms.
pub const FREEZE_MS_TAG: &str = "fleetkeeper:freeze-ms";

/// How consistent a set is, as asked by its instance and as taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// The volumes at one instant, as after a power cut.
    #[default]
    Crash,
    /// Frozen by the configured document's pre phase, thawed by its post phase.
    Application,
    /// Windows VSS (AWSEC2-CreateVssSnapshot): asked for, refused by this release.
    Vss,
}

impl Consistency {
    pub fn parse(value: &str) -> Result<Consistency, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "crash" => Ok(Consistency::Crash),
            "application" => Ok(Consistency::Application),
            "vss" => Ok(Consistency::Vss),
            other => Err(format!(
                "{CONSISTENCY_REQUEST_TAG}={other:?} is not application, crash or vss"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Consistency::Crash => "crash",
            Consistency::Application => "application",
            Consistency::Vss => "vss",
        }
    }
}

/// On a volume restored from a snapshot to prove it can be: the snapshot's id. The volume is
/// deleted once measured; only one sealed by the janitor is ever deleted.
pub const RESTORE_DRILL_TAG: &str = "fleetkeeper:restore-drill";

/// A volume made by a restore drill, as described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillVolume {
    pub id: String,
    /// `creating`, `available`, `error`, ...
    pub state: String,
    pub created: Timestamp,
    pub tags: BTreeMap<String, String>,
}

/// AWS bills an archived snapshot for at least 90 days.
pub const MIN_ARCHIVE_DAYS: u64 = 90;

/// What the create plan needs to know of a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub id: String,
    pub instance_id: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    #[default]
    Completed,
    Error,
}

/// What retention needs to know of a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub id: String,
    pub volume_id: String,
    pub policy: String,
    pub state: State,
    pub started: Timestamp,
    /// Carries `fleetkeeper:managed-by = snapshot-janitor`.
    pub managed: bool,
    /// `fleetkeeper:set-id`: taken with the instance's other volumes at one instant; the set
    /// is kept or deleted whole.
    pub set_id: Option<String>,
    /// `fleetkeeper:instance-id`: the instance a set was taken of.
    pub instance_id: Option<String>,
    /// `fleetkeeper:copy-of`: a copy (in another region) of this source snapshot.
    pub copy_of: Option<String>,
    /// `fleetkeeper:source-time`: when the source of a copy was taken.
    pub source_started: Option<Timestamp>,
    /// Every tag it carries (a copy takes them along).
    pub tags: BTreeMap<String, String>,
    /// Its volume's size.
    pub size_gib: u64,
    /// Already in the archive tier.
    pub archived: bool,
    /// EC2's description, set at creation and never changed: what adoption shows.
    pub description: String,
}

/// How many of each to keep (KEEP_LAST, KEEP_DAILY, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub keep_last: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
    pub yearly: u32,
    /// ORPHAN_GRACE_DAYS: None keeps a gone volume's newest snapshot for ever.
    pub orphan_grace_days: Option<u32>,
}

impl Rules {
    pub fn from_env(env: &Env) -> Result<Rules, ConfigError> {
        let defaults = Rules {
            keep_last: 7,
            daily: 0,
            weekly: 0,
            monthly: 0,
            yearly: 0,
            orphan_grace_days: None,
        };
        Rules::from_env_with(env, "", &defaults)
    }

    /// The rules under `prefix` (`COPY_` reads COPY_KEEP_LAST ...), each defaulting to
    /// `defaults`' value.
    pub fn from_env_with(env: &Env, prefix: &str, defaults: &Rules) -> Result<Rules, ConfigError> {
        let n = |var: &str, default: u32| {
            env.u64_in(&format!("{prefix}{var}"), u64::from(default), 0, 10_000)
                .map(|v| v as u32)
        };
        let grace = env.parse_with(
            &format!("{prefix}ORPHAN_GRACE_DAYS"),
            "a whole number of days from 1 to 36500",
            |s| s.parse::<u32>().ok().filter(|d| (1..=36_500).contains(d)),
        )?;
        Ok(Rules {
            keep_last: n("KEEP_LAST", defaults.keep_last)?,
            daily: n("KEEP_DAILY", defaults.daily)?,
            weekly: n("KEEP_WEEKLY", defaults.weekly)?,
            monthly: n("KEEP_MONTHLY", defaults.monthly)?,
            yearly: n("KEEP_YEARLY", defaults.yearly)?,
            orphan_grace_days: grace.or(defaults.orphan_grace_days),
        })
    }
}

/// The two things snapshot-janitor does, as reports name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotAction {
    Create,
    /// A copy of a snapshot into another region (COPY_TO).
    Copy,
    /// To the archive tier (ARCHIVE_AFTER_DAYS).
    Archive,
    /// An instance's volumes at one instant (CreateSnapshots).
    CreateSet,
    Delete,
    /// Writing a snapshot's seal: after it is made, or on an operator's word (adopt).
    Seal,
    /// The post phase of an application-consistent set (a thaw not confirmed is a failure).
    Thaw,
    /// Left alone: our tags without a valid seal.
    None,
}

impl fmt::Display for SnapshotAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SnapshotAction::Create => "create-snapshot",
            SnapshotAction::Copy => "copy-snapshot",
            SnapshotAction::Archive => "archive-snapshot",
            SnapshotAction::CreateSet => "create-snapshot-set",
            SnapshotAction::Delete => "delete-snapshot",
            SnapshotAction::Seal => "seal-snapshot",
            SnapshotAction::Thaw => "thaw",
            SnapshotAction::None => "none",
        })
    }
}
