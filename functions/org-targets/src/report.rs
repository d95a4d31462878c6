//! What org-targets returns to the state machine (the shared report with the step's own
//! fields), kept small whatever the organisation's size: lists are bounded, the full picture
//! is in S3.

use serde::Serialize;
use serde_json::Value;

use fleetkeeper::Mode;
use fleetkeeper::report::{Entry, Failure, Report, Status};

use crate::config::Config;
use crate::event::Function;
use crate::plan::{ByAccount, Cap, TargetOutcome, Totals};

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

impl TargetsFields {
    pub fn new(
        config: &Config,
        run: String,
        key: String,
        count: usize,
        event: Value,
        dry_run: bool,
    ) -> Self {
        TargetsFields {
            run,
            bucket: config.bucket.clone(),
            key,
            count,
            accounts: count / config.regions.len().max(1),
            regions: config.regions.clone(),
            max_concurrency: config.max_concurrency,
            tolerated_failure_percentage: config.tolerated_failure_percentage,
            max_rounds: config.max_rounds,
            apply_dry_run: dry_run,
            event,
        }
    }
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

/// The targets step: the manifest written, and the first accounts left out, with why.
pub fn targets_written(
    mode: Mode,
    fields: TargetsFields,
    function: Function,
    left_out: &[(String, String)],
) -> Report<TargetsFields> {
    let why = format!(
        "{} targets: {} accounts x {} regions, for {}",
        fields.count,
        fields.accounts,
        fields.regions.len(),
        function.name()
    );
    let manifest = format!("s3://{}/{}", fields.bucket, fields.key);
    let mut report = new(mode, fields);
    report.done(Entry::new(manifest, "write-manifest", why));
    for (id, reason) in left_out.iter().take(LISTED) {
        report.skip(Entry::new(id, "none", reason));
    }
    report
}

/// The cap step: what the plans count against the cap, the targets whose plan failed, and
/// the refusal of the whole run when the count is over the cap.
pub fn tallied(
    fields: TallyFields,
    failed: &[&TargetOutcome],
    unreadable: &[String],
    refused: Option<String>,
) -> Report<TallyFields> {
    let counted = format!(
        "{} counted by {} over {} targets",
        fields.counted, fields.cap.setting, fields.targets
    );
    let run = fields.run.clone();
    let mut report = new(Mode::DryRun, fields);
    report.planned.push(Entry::new(&run, "apply", counted));
    fail_targets(&mut report, failed, "plan");
    for u in unreadable.iter().take(LISTED) {
        report.fail(unreadable_summary(&run, u));
    }
    report.refused = refused;
    report
}

/// The summary step: what the organisation's run did (or, dry, would do, and where).
pub fn summed_up(
    function: Function,
    run: &str,
    summary_key: String,
    outcomes: &[TargetOutcome],
    totals: &Totals,
    by_account: ByAccount,
    unreadable: &[String],
) -> Report<SummaryFields> {
    let fields = SummaryFields {
        run: run.to_owned(),
        targets: outcomes.len(),
        by_status: totals.by_status.clone(),
        accounts: by_account.len(),
        by_account: by_account.into_iter().take(LISTED).collect(),
        actions_planned: totals.actions_planned,
        planned_by_action: totals.planned_by_action.clone(),
        actions_done: totals.done,
        failed_targets: totals.failed.len(),
        continued_targets: totals.continued,
        summary_key,
    };
    let mode = if totals.dry_run {
        Mode::DryRun
    } else {
        Mode::Live
    };
    let mut report = new(mode, fields);
    let ok = outcomes.len() - totals.failed.len();
    let listed = |by_action: &std::collections::BTreeMap<String, usize>| {
        by_action
            .iter()
            .map(|(a, n)| format!("{a} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if totals.dry_run {
        // A dry run shows what it would do, and where: each target's planned actions.
        for o in outcomes
            .iter()
            .filter(|o| o.planned > 0 && o.status != Status::Failed)
            .take(LISTED)
        {
            let what = listed(&o.planned_by_action);
            report.planned.push(
                Entry::new(&o.account_id, function.name(), format!("would do: {what}"))
                    .in_region(&o.region),
            );
        }
        report.skip(Entry::new(
            run,
            function.name(),
            format!(
                "dry run: {} actions planned ({}) over {ok} of {} targets; nothing changed",
                totals.actions_planned,
                listed(&totals.planned_by_action),
                outcomes.len()
            ),
        ));
    } else {
        report.done(Entry::new(
            run,
            function.name(),
            format!(
                "{ok} of {} targets without failures, {} actions done",
                outcomes.len(),
                totals.done
            ),
        ));
    }
    let failed: Vec<&TargetOutcome> = totals.failed.iter().collect();
    fail_targets(&mut report, &failed, function.name());
    for u in unreadable.iter().take(LISTED) {
        report.fail(unreadable_summary(run, u));
    }
    report
}

/// Failed targets as failures (the first few; the count is in the fields).
fn fail_targets<F>(report: &mut Report<F>, failed: &[&TargetOutcome], action: &str) {
    for o in failed.iter().take(LISTED) {
        let why = o
            .error
            .clone()
            .unwrap_or_else(|| format!("{} action(s) failed", o.failed));
        report.fail(Failure {
            target: o.account_id.clone(),
            region: Some(o.region.clone()),
            kind: None,
            action: action.to_owned(),
            error: why,
            code: None,
            // The next run tries the target again.
            retryable: true,
        });
    }
}

fn unreadable_summary(run: &str, what: &str) -> Failure {
    Failure {
        target: run.to_owned(),
        region: None,
        kind: None,
        action: "read-summary".into(),
        error: format!("a target's summary does not read: {what}"),
        code: None,
        retryable: false,
    }
}
