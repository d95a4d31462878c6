//! Apply: carry out one step of "your instances" on one instance. Every EC2 error is the
//! caller's answer, with nothing else changed.

use std::collections::BTreeMap;

use fleetkeeper::seal::{KeyRing, SEAL_TAG, lease_claims};
use fleetkeeper::{AwsError, Mode};

use crate::mine::plan::{Step, extension_tags};
use crate::ports::Instances;

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
