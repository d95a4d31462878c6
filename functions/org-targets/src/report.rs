//! What org-targets returns to the state machine (the shared report with the step's own
//! fields), kept small whatever the organisation's size: lists are bounded, the full picture
//! is in S3.

use serde::Serialize;
use serde_json::Value;

use fleetkeeper::Mode;
use fleetkeeper::report::Report;

use crate::plan::{ByAccount, Cap, TargetOutcome};

pub const FUNCTION: &str = "org-targets";
/// The most targets or accounts a step's output lists (Step Functions passes at most 256 KB).
pub const LISTED: usize = 50;

/// The targets step: where the manifest is and how the map runs over it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetsFields {
    pub run: String,
    pub bucket: String,
    pub key: String,
    pub count: usize,
    pub accounts: usize,
    pub regions: Vec<String>,
    pub max_concurrency: u64,
    pub tolerated_failure_percentage: u64,
    pub max_rounds: u64,
    /// The run's event asked for a dry run: the apply phase is one too.
    pub apply_dry_run: bool,
    /// Passed to every target.
    pub event: Value,
}

/// The cap step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TallyFields {
    pub run: String,
    pub targets: usize,
    pub counted: usize,
    pub cap: Cap,
    /// The accounts with the most counted actions.
    pub by_account: Vec<(String, usize)>,
    pub failed_targets: usize,
    /// The apply phase's list: only the targets whose plan reported.
    pub apply_key: String,
    pub apply_targets: usize,
    /// Targets held back from the apply phase (their plan crashed, timed out or failed).
    pub held_back: usize,
}

/// The summary step: the organisation's run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryFields {
    pub run: String,
    pub targets: usize,
    /// Targets per final status.
    pub by_status: std::collections::BTreeMap<String, usize>,
    /// Targets per account and status (the first accounts; all of them in the S3 summary).
    pub by_account: ByAccount,
    pub accounts: usize,
    /// Actions planned over the organisation (each target's first round), and by action: what
    /// a dry run would do everywhere.
    pub actions_planned: usize,
    pub planned_by_action: std::collections::BTreeMap<String, usize>,
    /// Actions done over the organisation, over all rounds.
    pub actions_done: usize,
    pub failed_targets: usize,
    /// Targets invoked more than once because work remained.
    pub continued_targets: usize,
    pub summary_key: String,
}

/// The full summary written to S3.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FullSummary<'a> {
    pub run: &'a str,
    pub by_account: &'a ByAccount,
    pub targets: &'a [TargetOutcome],
}

pub fn new<F>(mode: Mode, fields: F) -> Report<F> {
    Report::with_fields(FUNCTION, mode, fields)
}
