//! The plan, pure: which (account, region) targets a run has, what the plan phase adds up to
//! against the organisation cap, and the organisation's summary after the apply phase.

use std::collections::BTreeMap;

use serde::Serialize;

use fleetkeeper::org::{Phase, Summary, Target};
use fleetkeeper::report::Status;

use crate::config::Config;
use crate::event::Function;

pub use crate::model::Account;

/// The run's targets, and the accounts left out with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    pub targets: Vec<Target>,
    pub left_out: Vec<(String, String)>,
}

/// Every ACTIVE account not excluded, once, crossed with every region. No target at all is an
/// error: a run that would reach nothing is a misconfiguration, not a quiet success.
pub fn targets(accounts: &[Account], config: &Config) -> Result<Targets, String> {
    let mut seen = Vec::new();
    let mut left_out = Vec::new();
    for a in accounts {
        if seen.contains(&a.id) || left_out.iter().any(|(id, _)| id == &a.id) {
            continue;
        }
        if config.exclude.contains(&a.id) {
            left_out.push((a.id.clone(), "in EXCLUDE_ACCOUNTS".to_owned()));
        } else if a.status != "ACTIVE" {
            left_out.push((a.id.clone(), format!("{} (not ACTIVE)", a.status)));
        } else {
            seen.push(a.id.clone());
        }
    }
    if seen.is_empty() {
        return Err(format!(
            "no account to target: {} found, {} left out ({})",
            accounts.len(),
            left_out.len(),
            left_out
                .iter()
                .map(|(id, why)| format!("{id}: {why}"))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    let targets = seen
        .iter()
        .flat_map(|id| {
            config.regions.iter().map(move |region| Target {
                account_id: id.clone(),
                region: region.clone(),
                role_arn: format!(
                    "arn:{}:iam::{id}:role/{}",
                    config.partition, config.member_role
                ),
            })
        })
        .collect();
    Ok(Targets { targets, left_out })
}

/// One target's outcome over all its rounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetOutcome {
    pub account_id: String,
    pub region: String,
    /// The last round's status, or failed.
    pub status: Status,
    pub rounds: u32,
    pub planned: usize,
    /// The first round's planned actions by name.
    pub planned_by_action: BTreeMap<String, usize>,
    pub done: usize,
    pub failed: usize,
    /// Work still left after the last round.
    pub remaining: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The summaries of one phase gathered per target of the manifest. A target with no summary
/// at all failed before it could write one (a crash, a timeout): it is failed, by name.
pub fn outcomes(manifest: &[Target], summaries: &[Summary], phase: Phase) -> Vec<TargetOutcome> {
    let mut by_target: BTreeMap<(&str, &str), Vec<&Summary>> = BTreeMap::new();
    for s in summaries.iter().filter(|s| s.phase == phase) {
        by_target
            .entry((s.account_id.as_str(), s.region.as_str()))
            .or_default()
            .push(s);
    }
    manifest
        .iter()
        .map(|t| {
            let Some(rounds) = by_target.get_mut(&(t.account_id.as_str(), t.region.as_str())) else {
                return TargetOutcome {
                    account_id: t.account_id.clone(),
                    region: t.region.clone(),
                    status: Status::Failed,
                    rounds: 0,
                    planned: 0,
                    planned_by_action: BTreeMap::new(),
                    done: 0,
                    failed: 1,
                    remaining: 0,
                    error: Some(format!(
                        "account {} region {}: no report: the invocation failed before writing one (see the execution's history)",
                        t.account_id, t.region
                    )),
                };
            };
            rounds.sort_by_key(|s| s.round);
            let last = rounds[rounds.len() - 1];
            TargetOutcome {
                account_id: t.account_id.clone(),
                region: t.region.clone(),
                status: last.status,
                rounds: rounds.len() as u32,
                // The first round planned the work; later rounds continue it.
                planned: rounds[0].planned,
                planned_by_action: rounds[0].planned_by_action.clone(),
                done: rounds.iter().map(|s| s.done).sum(),
                failed: rounds.iter().map(|s| s.failed).sum(),
                remaining: last.remaining,
                error: rounds.iter().find_map(|s| s.error.clone()),
            }
        })
        .collect()
}

/// Which targets the apply phase may run: only those whose plan reported. A target whose plan
/// crashed or timed out was never counted against the cap, so applying it could pass the cap;
/// one whose plan failed is not known to be reachable. Both are held back, failed by name, and
/// tried again by the next run.
pub fn cleared(manifest: &[Target], plan: &[TargetOutcome]) -> (Vec<Target>, Vec<TargetOutcome>) {
    let mut apply = Vec::new();
    let mut held = Vec::new();
    for (t, o) in manifest.iter().zip(plan) {
        if o.status == Status::Failed {
            held.push(held_back(o));
        } else {
            apply.push(t.clone());
        }
    }
    (apply, held)
}

/// A target the apply phase did not run, as a failed outcome that says why.
pub fn held_back(plan: &TargetOutcome) -> TargetOutcome {
    let why = plan
        .error
        .clone()
        .unwrap_or_else(|| format!("{} action(s) failed", plan.failed));
    TargetOutcome {
        status: Status::Failed,
        failed: plan.failed.max(1),
        error: Some(format!(
            "not applied in this run: its plan did not succeed ({why}); the next run tries it again"
        )),
        ..plan.clone()
    }
}

/// The cap: what it counts for each function, and its limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cap {
    pub setting: &'static str,
    pub limit: usize,
    /// The planned actions it counts (all of them when empty).
    pub counts: Vec<&'static str>,
    /// Also counts the work a target left for later rounds (snapshot-janitor's backlog over
    /// its own MAX_DELETES): the cap is on what the whole run would do.
    pub with_remaining: bool,
}

pub fn cap_of(function: Function, config: &Config) -> Cap {
    match function {
        Function::NightlyStopper => Cap {
            setting: "ORG_MAX_ACTIONS",
            limit: config.max_actions,
            counts: Vec::new(),
            with_remaining: false,
        },
        Function::SnapshotJanitor => Cap {
            setting: "ORG_MAX_DELETES",
            limit: config.max_deletes,
            counts: vec!["delete-snapshot"],
            with_remaining: true,
        },
    }
}

/// The plan phase added up over the organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// What the cap counts, over every target.
    pub counted: usize,
    pub cap: Cap,
    /// Why the whole run is refused (nothing is applied anywhere), if it is.
    pub refused: Option<String>,
    /// Counted actions per account, largest first: where the cap went.
    pub by_account: Vec<(String, usize)>,
}

pub fn tally(summaries: &[Summary], cap: Cap) -> Tally {
    let mut by_account: BTreeMap<String, usize> = BTreeMap::new();
    for s in summaries
        .iter()
        .filter(|s| s.phase == Phase::Plan && s.round == 0)
    {
        let n: usize = if cap.counts.is_empty() {
            s.planned_by_action.values().sum::<usize>()
        } else {
            cap.counts
                .iter()
                .map(|a| s.planned_by_action.get(*a).copied().unwrap_or(0))
                .sum::<usize>()
        } + if cap.with_remaining { s.remaining } else { 0 };
        *by_account.entry(s.account_id.clone()).or_insert(0) += n;
    }
    let counted = by_account.values().sum();
    let mut by_account: Vec<(String, usize)> =
        by_account.into_iter().filter(|(_, n)| *n > 0).collect();
    by_account.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let refused = (counted > cap.limit).then(|| {
        let top: Vec<String> = by_account
            .iter()
            .take(3)
            .map(|(a, n)| format!("{a}: {n}"))
            .collect();
        format!(
            "the organisation plan has {counted} {} over all targets, above {}={}: nothing was applied anywhere (most in {})",
            if cap.counts.is_empty() { "actions".to_owned() } else { cap.counts.join("/") },
            cap.setting,
            cap.limit,
            top.join(", ")
        )
    });
    Tally {
        counted,
        cap,
        refused,
        by_account,
    }
}

/// Per account: how many targets ended in each status.
pub type ByAccount = BTreeMap<String, BTreeMap<String, usize>>;

/// Targets the tally held back were never applied: each is failed with its plan's reason,
/// not "no report" of an apply that was never meant to run. `plan` is the plan phase's
/// outcome of each target, in the same (manifest) order; `applied` the apply list.
pub fn hold_back_unapplied(
    outcomes: &mut [TargetOutcome],
    plan: &[TargetOutcome],
    applied: &[Target],
) {
    for (o, p) in outcomes.iter_mut().zip(plan) {
        let was_applied = applied
            .iter()
            .any(|t| t.account_id == o.account_id && t.region == o.region);
        if !was_applied {
            *o = held_back(p);
        }
    }
}

/// The organisation's run summed up from its targets' outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Targets per final status.
    pub by_status: BTreeMap<String, usize>,
    /// The targets that failed, or had an action fail.
    pub failed: Vec<TargetOutcome>,
    pub done: usize,
    pub planned_by_action: BTreeMap<String, usize>,
    pub actions_planned: usize,
    /// Every target that reported was a dry run (and one did).
    pub dry_run: bool,
    /// Targets invoked more than once because work remained.
    pub continued: usize,
}

pub fn sum_up(outcomes: &[TargetOutcome]) -> Totals {
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut planned_by_action: BTreeMap<String, usize> = BTreeMap::new();
    for o in outcomes {
        *by_status.entry(o.status.to_string()).or_insert(0) += 1;
        for (action, n) in &o.planned_by_action {
            *planned_by_action.entry(action.clone()).or_insert(0) += n;
        }
    }
    Totals {
        by_status,
        failed: outcomes
            .iter()
            .filter(|o| o.status == Status::Failed || o.failed > 0)
            .cloned()
            .collect(),
        done: outcomes.iter().map(|o| o.done).sum(),
        actions_planned: planned_by_action.values().sum(),
        planned_by_action,
        dry_run: outcomes
            .iter()
            .all(|o| matches!(o.status, Status::DryRun | Status::Failed))
            && outcomes.iter().any(|o| o.status == Status::DryRun),
        continued: outcomes.iter().filter(|o| o.rounds > 1).count(),
    }
}

pub fn by_account(outcomes: &[TargetOutcome]) -> ByAccount {
    let mut out = ByAccount::new();
    for o in outcomes {
        *out.entry(o.account_id.clone())
            .or_default()
            .entry(o.status.to_string())
            .or_insert(0) += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetkeeper::Env;

    fn config(exclude: &str) -> Config {
        Config::from_env(&Env::of(&[
            ("ACCOUNT_IDS", "111111111111"),
            ("REGIONS", "us-east-1,eu-west-1"),
            ("BUCKET", "org-runs"),
            ("EXCLUDE_ACCOUNTS", exclude),
            ("ORG_MAX_DELETES", "10"),
        ]))
        .unwrap()
    }

    fn account(id: &str, status: &str) -> Account {
        Account {
            id: id.into(),
            name: format!("acct-{id}"),
            status: status.into(),
        }
    }

    #[test]
    fn active_accounts_not_excluded_crossed_with_regions() {
        let accounts = [
            account("111111111111", "ACTIVE"),
            account("222222222222", "SUSPENDED"),
            account("333333333333", "ACTIVE"),
            account("444444444444", "ACTIVE"),
            account("111111111111", "ACTIVE"),
        ];
        let t = targets(&accounts, &config("444444444444")).unwrap();
        let labels: Vec<String> = t.targets.iter().map(|t| t.label()).collect();
        assert_eq!(
            labels,
            [
                "111111111111/us-east-1",
                "111111111111/eu-west-1",
                "333333333333/us-east-1",
                "333333333333/eu-west-1"
            ]
        );
        assert_eq!(
            t.targets[2].role_arn,
            "arn:aws:iam::333333333333:role/fleetkeeper-member"
        );
        assert_eq!(
            t.left_out,
            [
                (
                    "222222222222".to_owned(),
                    "SUSPENDED (not ACTIVE)".to_owned()
                ),
                ("444444444444".to_owned(), "in EXCLUDE_ACCOUNTS".to_owned()),
            ]
        );
        let e = targets(&[account("222222222222", "SUSPENDED")], &config("")).unwrap_err();
        assert!(
            e.contains("no account to target") && e.contains("SUSPENDED"),
            "{e}"
        );
        assert!(targets(&[], &config("")).is_err());
    }

    fn summary(
        account: &str,
        region: &str,
        phase: Phase,
        round: u32,
        deletes: usize,
        done: usize,
        remaining: usize,
    ) -> Summary {
        Summary {
            account_id: account.into(),
            region: region.into(),
            phase,
            round,
            status: if remaining > 0 {
                Status::Partial
            } else {
                Status::Ok
            },
            planned: deletes + 1,
            planned_by_action: [
                ("delete-snapshot".to_owned(), deletes),
                ("create-snapshot".to_owned(), 1),
            ]
            .into(),
            done,
            skipped: 0,
            failed: 0,
            remaining,
            error: None,
            ms: 0,
        }
    }

    #[test]
    fn the_cap_counts_its_actions_over_the_organisation() {
        let c = config("");
        let plan = [
            summary("111111111111", "us-east-1", Phase::Plan, 0, 4, 0, 0),
            summary("111111111111", "eu-west-1", Phase::Plan, 0, 3, 0, 0),
            summary("333333333333", "us-east-1", Phase::Plan, 0, 3, 0, 0),
        ];
        let t = tally(&plan, cap_of(Function::SnapshotJanitor, &c));
        assert_eq!((t.counted, t.refused.is_none()), (10, true));
        assert_eq!(t.by_account[0], ("111111111111".to_owned(), 7));
        let more = [
            plan.to_vec(),
            vec![summary(
                "333333333333",
                "eu-west-1",
                Phase::Plan,
                0,
                1,
                0,
                0,
            )],
        ]
        .concat();
        let t = tally(&more, cap_of(Function::SnapshotJanitor, &c));
        let refused = t.refused.unwrap();
        assert!(
            refused.contains("11 delete-snapshot") && refused.contains("ORG_MAX_DELETES=10"),
            "{refused}"
        );
        // nightly-stopper counts every planned action.
        let t = tally(&plan, cap_of(Function::NightlyStopper, &c));
        assert_eq!(t.counted, 13);
    }

    #[test]
    fn a_target_whose_plan_did_not_report_is_held_back_from_the_apply() {
        let manifest = targets(&[account("111111111111", "ACTIVE")], &config(""))
            .unwrap()
            .targets;
        // us-east-1 planned; eu-west-1's plan crashed before writing its summary.
        let plans = [summary(
            "111111111111",
            "us-east-1",
            Phase::Plan,
            0,
            3,
            0,
            0,
        )];
        let o = outcomes(&manifest, &plans, Phase::Plan);
        let (apply, held) = cleared(&manifest, &o);
        assert_eq!(
            apply.iter().map(Target::label).collect::<Vec<_>>(),
            ["111111111111/us-east-1"]
        );
        assert_eq!(held.len(), 1);
        assert_eq!(
            (held[0].region.as_str(), held[0].status),
            ("eu-west-1", Status::Failed)
        );
        let why = held[0].error.as_deref().unwrap();
        assert!(
            why.starts_with("not applied in this run: its plan did not succeed (account 111111111111 region eu-west-1: no report")
                && why.ends_with("the next run tries it again"),
            "{why}"
        );
    }

    #[test]
    fn outcomes_add_rounds_up_and_name_targets_without_a_report() {
        let manifest = targets(&[account("111111111111", "ACTIVE")], &config(""))
            .unwrap()
            .targets;
        let applied = [
            summary("111111111111", "us-east-1", Phase::Apply, 1, 0, 40, 0),
            summary("111111111111", "us-east-1", Phase::Apply, 0, 100, 60, 40),
            summary("111111111111", "us-east-1", Phase::Plan, 0, 100, 0, 0),
        ];
        let o = outcomes(&manifest, &applied, Phase::Apply);
        assert_eq!(
            (o[0].rounds, o[0].planned, o[0].done, o[0].remaining),
            (2, 101, 100, 0)
        );
        assert_eq!(o[0].status, Status::Ok);
        assert_eq!(o[1].status, Status::Failed);
        assert!(
            o[1].error
                .as_ref()
                .unwrap()
                .contains("account 111111111111 region eu-west-1: no report")
        );
        let counts = by_account(&o);
        assert_eq!(counts["111111111111"]["ok"], 1);
        assert_eq!(counts["111111111111"]["failed"], 1);
    }
}
