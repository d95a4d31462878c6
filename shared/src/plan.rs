//! Plans: what a function intends to do and why, built by a pure function of observed state,
//! configuration and time. Nothing here performs I/O.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, Env};

/// Live runs act; dry runs plan, log and change nothing. Every function reads `DRY_RUN` here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Live,
    DryRun,
}

impl Mode {
    /// `DRY_RUN=true` means a dry run; unset means live.
    pub fn from_env(env: &Env) -> Result<Mode, ConfigError> {
        Ok(if env.bool("DRY_RUN", false)? {
            Mode::DryRun
        } else {
            Mode::Live
        })
    }

    pub fn is_dry_run(self) -> bool {
        self == Mode::DryRun
    }
}

/// One intended action on one target, with the reason it was chosen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned<A> {
    pub target: String,
    pub action: A,
    pub reason: String,
}

/// A target the plan looked at and chose to leave alone, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    pub target: String,
    pub reason: String,
}

/// What a run means to do. `A` is the function's own action type; its Display is the verb
/// shown in reports (e.g. `stop`, `delete-snapshot`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan<A> {
    pub actions: Vec<Planned<A>>,
    pub skipped: Vec<Skip>,
    /// Set when a safety rule refused the whole plan: then nothing is acted on.
    pub refused: Option<String>,
}

impl<A> Default for Plan<A> {
    fn default() -> Self {
        Plan {
            actions: Vec::new(),
            skipped: Vec::new(),
            refused: None,
        }
    }
}

impl<A: fmt::Display> Plan<A> {
    /// Why `target` was planned (empty when it was not).
    pub fn reason_of(&self, target: &str) -> String {
        self.actions
            .iter()
            .find(|p| p.target == target)
            .map(|p| p.reason.clone())
            .unwrap_or_default()
    }

    pub fn new() -> Self {
        Self::default()
    }

    pub fn act(&mut self, target: impl Into<String>, action: A, reason: impl Into<String>) {
        self.actions.push(Planned {
            target: target.into(),
            action,
            reason: reason.into(),
        });
    }

    pub fn skip(&mut self, target: impl Into<String>, reason: impl Into<String>) {
        self.skipped.push(Skip {
            target: target.into(),
            reason: reason.into(),
        });
    }

    /// The safety cap (e.g. MAX_ACTIONS): a plan larger than `max` acts on nothing at all,
    /// since a surprising count usually means a wrong tag or filter, not a busy night.
    pub fn cap(mut self, max: usize, setting: &str) -> Self {
        cap_together([&mut self], max, setting);
        self
    }

    /// The actions to carry out: none when the plan was refused.
    pub fn runnable(&self) -> &[Planned<A>] {
        if self.refused.is_some() {
            &[]
        } else {
            &self.actions
        }
    }
}

/// The safety cap over the plans that make one run (one per region or account): when their
/// actions together are more than `max`, every one of them is refused, and nothing is done
/// anywhere.
pub fn cap_together<'a, A: 'a>(
    plans: impl IntoIterator<Item = &'a mut Plan<A>>,
    max: usize,
    setting: &str,
) {
    let mut plans: Vec<&mut Plan<A>> = plans.into_iter().collect();
    let where_ = if plans.len() > 1 {
        " over all regions"
    } else {
        ""
    };
    cap_counted(
        plans.iter_mut().map(|p| &mut **p),
        max,
        |_| true,
        |total| {
            format!(
                "plan has {total} actions{where_}, more than {setting}={max}; nothing was done (raise {setting} if this is intended)"
            )
        },
    );
}

/// The run-wide cap over only the actions `counted` picks (a run's terminations, say): more
/// than `max` of them over all `plans` refuses every plan, with `why(total)` as the reason.
pub fn cap_counted<'a, A: 'a>(
    plans: impl IntoIterator<Item = &'a mut Plan<A>>,
    max: usize,
    counted: impl Fn(&A) -> bool,
    why: impl FnOnce(usize) -> String,
) {
    let mut plans: Vec<&mut Plan<A>> = plans.into_iter().collect();
    let total: usize = plans
        .iter()
        .map(|p| p.actions.iter().filter(|a| counted(&a.action)).count())
        .sum();
    if total <= max {
        return;
    }
    let why = why(total);
    for p in &mut plans {
        p.refused = Some(why.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize)]
    enum Act {
        Stop,
    }

    impl fmt::Display for Act {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("stop")
        }
    }

    #[test]
    fn dry_run_is_read_the_same_way_everywhere() {
        assert_eq!(
            Mode::from_env(&Env::from_pairs([("DRY_RUN", "true")])).unwrap(),
            Mode::DryRun
        );
        assert_eq!(
            Mode::from_env(&Env::from_pairs([("DRY_RUN", "false")])).unwrap(),
            Mode::Live
        );
        assert_eq!(
            Mode::from_env(&Env::from_pairs::<&str, &str>([])).unwrap(),
            Mode::Live
        );
        let err = Mode::from_env(&Env::from_pairs([("DRY_RUN", "perhaps")])).unwrap_err();
        assert!(err.to_string().contains("DRY_RUN"));
    }

    #[test]
    fn cap_refuses_the_whole_plan() {
        let mut plan = Plan::new();
        for i in 0..3 {
            plan.act(format!("i-{i}"), Act::Stop, "office hours over");
        }
        let within = plan.clone().cap(3, "MAX_ACTIONS");
        assert!(within.refused.is_none());
        assert_eq!(within.runnable().len(), 3);
        let over = plan.cap(2, "MAX_ACTIONS");
        assert_eq!(over.runnable().len(), 0);
        assert_eq!(
            over.actions.len(),
            3,
            "the refused plan still shows what it would have done"
        );
        assert!(over.refused.unwrap().contains("MAX_ACTIONS=2"));
    }

    #[test]
    fn cap_together_counts_every_plan_of_the_run() {
        let three = || {
            let mut p = Plan::new();
            for i in 0..3 {
                p.act(format!("i-{i}"), Act::Stop, "office hours over");
            }
            p
        };
        let (mut east, mut west) = (three(), three());
        cap_together([&mut east, &mut west], 6, "MAX_ACTIONS");
        assert!(east.refused.is_none() && west.refused.is_none());
        cap_together([&mut east, &mut west], 5, "MAX_ACTIONS");
        for p in [&east, &west] {
            assert!(p.runnable().is_empty());
            let why = p.refused.as_deref().unwrap();
            assert!(
                why.contains("6 actions over all regions") && why.contains("MAX_ACTIONS=5"),
                "{why}"
            );
        }
    }
}
