//! Apply: carry out one region's plan, call by call through EC2's mutating bucket. A warning
//! is remembered (`fleetkeeper:warned-for`) only once it was sent; a termination happens only
//! after every volume that would go with the instance has a final snapshot requested.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Value, json};

use fleetkeeper::exec::{Budget, RateLimiter};
use fleetkeeper::seal::{KeyRing, SEAL_TAG, lease_claims};
use fleetkeeper::tags::{EXPIRES_TAG, OWNER_TAG};
use fleetkeeper::{Applied, AwsError, Mode, Plan};

use crate::model::{Act, FINAL_SNAPSHOT_TAG};
use crate::plan::{EXPIRED_TAG, WARNED_TAG};
use crate::ports::{Instances, Notifier};

/// What the warning says: what happens when, and how to extend.
pub struct Wording<'a> {
    pub grace_days: u32,
    pub extend_url: Option<&'a str>,
}

/// How this run acts: live or dry, at what time, at what pace, until when, and the seal key
/// it seals again with when it changes a lease tag.
pub struct Run<'a> {
    pub mode: Mode,
    pub now: Timestamp,
    pub limiter: &'a RateLimiter,
    pub budget: Budget,
    pub ring: &'a KeyRing,
}

pub async fn apply<I: Instances + Sync, N: Notifier + Sync>(
    ec2: &I,
    notifier: &N,
    plan: &Plan<Act>,
    tags: &BTreeMap<String, BTreeMap<String, String>>,
    wording: &Wording<'_>,
    run: &Run<'_>,
) -> Applied<Act> {
    let Run {
        mode,
        now,
        limiter,
        budget,
        ring,
    } = *run;
    let mut out = Applied::default();
    if mode.is_dry_run() {
        return out;
    }
    for p in plan.runnable() {
        if budget.is_spent() {
            out.not_started(&p.target);
            continue;
        }
        let id = p.target.as_str();
        let result = match &p.action {
            Act::Warn { expires, owner } => {
                let name = tags
                    .get(id)
                    .and_then(|t| t.get("Name"))
                    .map_or(id, String::as_str);
                let (subject, body) = warning(id, name, ec2.region(), *expires, wording);
                match notifier.send(owner, &subject, &body).await {
                    Ok(()) => {
                        limiter.acquire().await;
                        ec2.tag(id, WARNED_TAG, &expires.to_string())
                            .await
                            .map(|()| Some(json!({ "to": owner, "subject": subject })))
                    }
                    Err(e) => Err(e),
                }
            }
            Act::Expire { stop, mark } => {
                let mut r = Ok(None);
                if *stop {
                    limiter.acquire().await;
                    r = ec2.stop(id).await.map(|()| None);
                }
                if r.is_ok() && *mark {
                    limiter.acquire().await;
                    r = ec2
                        .tag(id, EXPIRED_TAG, &now.to_string())
                        .await
                        .map(|()| None);
                    // The expiry is a lease claim: sealed again, over the tags as they are now.
                    if r.is_ok() {
                        let mut after = tags.get(id).cloned().unwrap_or_default();
                        after.insert(EXPIRED_TAG.to_owned(), now.to_string());
                        r = match ring.seal(id, &lease_claims(&after)) {
                            Ok(seal) => ec2.tag(id, SEAL_TAG, &seal).await.map(|()| None),
                            Err(e) => Err(e),
                        };
                    }
                }
                r
            }
            Act::Terminate { volumes, owner } => terminate(ec2, id, volumes, owner, limiter).await,
        };
        out.record(id, p.action.clone(), result);
    }
    out
}

/// Final snapshots first; the termination only once every one was requested.
async fn terminate<I: Instances + Sync>(
    ec2: &I,
    id: &str,
    volumes: &[String],
    owner: &str,
    limiter: &RateLimiter,
) -> Result<Option<Value>, AwsError> {
    let mut snapshots = Vec::new();
    for v in volumes {
        let tags: BTreeMap<String, String> = [
            (FINAL_SNAPSHOT_TAG, "true"),
            ("fleetkeeper:instance-id", id),
            (OWNER_TAG, owner),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        limiter.acquire().await;
        let snapshot = ec2
            .snapshot(
                v,
                &format!("fleetkeeper lease-keeper: final snapshot of {v} before terminating {id}"),
                &tags,
            )
            .await?;
        snapshots.push(json!({ "volume_id": v, "snapshot_id": snapshot }));
    }
    limiter.acquire().await;
    ec2.terminate(id).await?;
    Ok(Some(json!({ "final_snapshots": snapshots })))
}

/// The warning's subject and text.
pub fn warning(
    id: &str,
    name: &str,
    region: &str,
    expires: Timestamp,
    wording: &Wording<'_>,
) -> (String, String) {
    // No tag text in the subject: the Name tag is anyone's to write, and a subject is what a
    // phishing mail leans on.
    let subject = format!("Your instance {id} expires at {expires}");
    let extend = match wording.extend_url {
        Some(url) => format!("To keep it longer, extend the lease here: {url}"),
        None => "To keep it longer, ask your platform team to extend its lease.".to_owned(),
    };
    let body = format!(
        "Your EC2 instance {name} ({id}, {region}) has a lease that ends at {expires} \
         ({EXPIRES_TAG}).\n\nThen it will be stopped. {} days later it will be terminated, \
         after a final snapshot of every volume that would go with it.\n\n{extend}\n",
        wording.grace_days
    );
    (subject, body)
}
