//! Apply: carry a launch decision out. Only a `Launch` reaches EC2 (RunInstances with the
//! form's token, so a repeat is answered with the same instance); every EC2 error becomes the
//! caller's answer with nothing launched.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::Timestamp;

use fleetkeeper::http::Refusal;
use fleetkeeper::{AwsError, Mode};

use crate::config::Config;
use crate::launch::plan::{Decision, decide, ec2_refusal};
use crate::launch::quota::{self, Slot};
use crate::launch::report::Outcome;
use crate::model::{Launch, Who};
use crate::ports::{Claims, Instances, Launched, Written};

/// Conditional writes a launch tries before it gives up: each lost write means another
/// launch of the same caller's took a place, so a caller's own burst settles within these.
const CLAIM_TRIES: u32 = 25;

/// Takes a place in `who`'s quota for `launch`, or says why not. `live` are the tokens of
/// their sealed live instances, `seen` of all theirs in any state. A dry run reads the book
/// but writes nothing.
pub async fn take_place<C: Claims>(
    claims: &C,
    who: &Who,
    (live, seen): (&BTreeSet<String>, &BTreeSet<String>),
    launch: &Launch,
    config: &Config,
    now: Timestamp,
) -> Result<Decision, AwsError> {
    for attempt in 0..CLAIM_TRIES {
        let (book, version) = claims.read(who).await?;
        let next = match quota::take(&book, live, seen, &launch.token, now, config.max_per_owner) {
            Slot::Full { held } => return Ok(decide(None, held, who.name(), config)),
            Slot::Take(next) => next,
        };
        if config.mode == Mode::DryRun {
            return Ok(Decision::Launch);
        }
        match claims.write(who, &next, version.as_deref()).await? {
            Written::Done => return Ok(Decision::Launch),
            Written::Conflict => tokio::time::sleep(backoff(attempt, &launch.token)).await,
        }
    }
    Ok(Decision::Refuse(Refusal::new(
        503,
        format!(
            "too many launches for {} at once: nothing was launched; try again in a moment",
            who.name()
        ),
    )))
}

/// A short wait that grows with the attempt, spread by the token so that launches which
/// collided do not collide again in step.
fn backoff(attempt: u32, token: &str) -> Duration {
    let spread = token.bytes().fold(attempt, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u32::from(b))
    });
    Duration::from_millis(u64::from(10 + attempt.min(8) * 10 + spread % 40))
}

/// Gives `launch`'s place back after its launch failed. Best effort: a claim left behind
/// lapses by itself after [`quota::CLAIM_TTL`].
pub async fn give_back<C: Claims>(claims: &C, who: &Who, launch: &Launch) {
    for attempt in 0..CLAIM_TRIES {
        let Ok((book, version)) = claims.read(who).await else {
            return;
        };
        let Some(next) = quota::release(&book, &launch.token) else {
            return;
        };
        match claims.write(who, &next, version.as_deref()).await {
            Ok(Written::Conflict) => tokio::time::sleep(backoff(attempt, &launch.token)).await,
            _ => return,
        }
    }
}

/// An EC2 failure as the caller is told it.
pub fn failed(e: AwsError) -> Outcome {
    Outcome::Failed(ec2_refusal(e.code()), e)
}

pub async fn apply<I: Instances>(
    ec2: &I,
    decision: Decision,
    launch: &Launch,
    config: &Config,
) -> Outcome {
    match decision {
        Decision::Earlier(i) => Outcome::Earlier(Launched {
            id: i.id,
            state: i.state.to_string(),
        }),
        Decision::Refuse(refusal) => Outcome::Refused(refusal),
        Decision::Launch => match ec2.run(launch, config, config.mode == Mode::DryRun).await {
            Ok(Some(l)) => Outcome::Launched(l),
            Ok(None) => Outcome::DryRun,
            Err(e) => failed(e),
        },
    }
}
