//! Carry out the plan, one instance at a time (an alarm names a handful at most).
//!
//! The history is written before the restart is asked for: if the tag cannot be written the
//! cap cannot be enforced, so nothing is restarted. If the restart request then fails, the
//! tag is put back as it was, so a retry of the same event is not taken for a duplicate.

use fleetkeeper::{AwsError, Mode};

use crate::config::Config;
use crate::history::EventKey;
use crate::plan::{Decision, InstancePlan};
use crate::ports::{Instances, Requested};

#[derive(Debug)]
pub enum Outcome {
    /// Restart requested (in a dry run: EC2's DryRun check passed, or nothing was sent).
    Requested(Requested),
    /// The history tag could not be written; no restart was asked for.
    NotRecorded(AwsError),
    /// The restart request failed. `restored` tells whether the history tag was put back.
    Failed { error: AwsError, restored: bool },
}

pub async fn apply<I: Instances + Sync>(
    region: &I,
    plans: &[InstancePlan],
    config: &Config,
    alarm_name: &str,
    event: EventKey,
) -> Vec<(String, Outcome)> {
    let mut out = Vec::new();
    for p in plans {
        let Decision::Restart {
            previous, history, ..
        } = &p.decision
        else {
            continue;
        };
        let dry_run = config.mode == Mode::DryRun;
        let outcome = if dry_run {
            match region
                .restart(&p.id, &config.strategy, alarm_name, event, true)
                .await
            {
                Ok(r) => Outcome::Requested(r),
                Err(error) => Outcome::Failed {
                    error,
                    restored: true,
                },
            }
        } else {
            restart(
                region,
                &p.id,
                previous.as_deref(),
                history,
                config,
                alarm_name,
                event,
            )
            .await
        };
        out.push((p.id.clone(), outcome));
    }
    out
}

async fn restart<I: Instances + Sync>(
    region: &I,
    id: &str,
    previous: Option<&str>,
    history: &str,
    config: &Config,
    alarm_name: &str,
    event: EventKey,
) -> Outcome {
    if let Err(e) = region.set_tag(id, &config.history_tag, history).await {
        return Outcome::NotRecorded(e);
    }
    match region
        .restart(id, &config.strategy, alarm_name, event, false)
        .await
    {
        Ok(r) => Outcome::Requested(r),
        Err(error) => {
            // An empty value reads as an empty history, and needs only CreateTags.
            let restored = match region
                .set_tag(id, &config.history_tag, previous.unwrap_or(""))
                .await
            {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(instance = id, error = %e, "restart failed and the history tag could not be put back: it counts one restart that did not happen");
                    false
                }
            };
            Outcome::Failed { error, restored }
        }
    }
}
