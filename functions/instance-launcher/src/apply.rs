//! Apply: carry a launch decision out. Only a `Launch` reaches EC2 (RunInstances with the
//! form's token, so a repeat is answered with the same instance); every EC2 error becomes the
//! caller's answer with nothing launched. And the steps of the "your instances" page.

use std::collections::BTreeMap;

use fleetkeeper::seal::{KeyRing, SEAL_TAG, lease_claims};
use fleetkeeper::{AwsError, Mode};

use crate::config::Config;
use crate::lease::{Step, extension_tags};
use crate::plan::{Decision, Launch, ec2_refusal};
use crate::ports::{Instances, Launched};
use crate::report::Outcome;

/// An EC2 failure as the caller is told it.
pub fn failed(e: AwsError) -> Outcome {
    let (status, message) = ec2_refusal(e.code());
    Outcome::Failed(status, message, e)
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
            state: i.state,
        }),
        Decision::Refuse(status, message) => Outcome::Refused(status, message),
        Decision::Launch => match ec2.run(launch, config, config.mode == Mode::DryRun).await {
            Ok(Some(l)) => Outcome::Launched(l),
            Ok(None) => Outcome::DryRun,
            Err(e) => failed(e),
        },
    }
}

/// Carry out one step of the "your instances" page. None when nothing is to be called: a dry
/// run, or a step that changes nothing (a confirmation, an instance already stopped).
/// `tags` are the instance's as observed; an extension changes lease claims, so it is sealed
/// again (in the same CreateTags) over the tags as they will be.
pub async fn apply_step<I: Instances>(
    ec2: &I,
    id: &str,
    step: &Step,
    mode: Mode,
    at: &str,
    tags: &BTreeMap<String, String>,
    ring: &KeyRing,
) -> Option<Result<(), AwsError>> {
    if mode == Mode::DryRun {
        return None;
    }
    match step {
        Step::Extend {
            expires_at,
            extensions,
            start,
        } => {
            let (set, remove) = extension_tags(*expires_at, *extensions);
            let mut after = tags.clone();
            for k in &remove {
                after.remove(*k);
            }
            after.extend(set.iter().cloned());
            let seal = match ring.seal(id, &lease_claims(&after)) {
                Ok(seal) => seal,
                Err(e) => return Some(Err(e)),
            };
            let mut set = set.to_vec();
            set.push((SEAL_TAG.to_owned(), seal));
            Some(ec2.extend(id, &set, &remove, *start).await)
        }
        Step::Stop => Some(ec2.stop(id).await),
        Step::Terminate => Some(ec2.terminate(id, at).await),
        _ => None,
    }
}
