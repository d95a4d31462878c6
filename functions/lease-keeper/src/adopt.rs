//! `{"action": "adopt"}`: the upgrade path, and leases an administrator writes by hand.
//! Instances leased before seals, or by hand, carry the lease tags and no seal, so they are
//! never stopped or terminated. Adopt lists them with what agrees with their tags (EC2's own
//! launch time, instance type and launch template), and with `"ids"` seals exactly those, on
//! an operator's word. An id that is not a leased instance, or whose seal does not verify, is
//! refused by name, and then nothing is sealed. `TERMINATE_TAGGED=true` lets an adopted lease
//! that instance-launcher did not launch be terminated at the end of its grace.

use futures_util::future::join_all;
use jiff::Timestamp;
use serde_json::json;

use fleetkeeper::Error;
use fleetkeeper::ec2::Instance;
use fleetkeeper::report::{Entry, Failure, all_failed};
use fleetkeeper::seal::{Adopt, Keys, Proof, SEAL_TAG, lease_claims};
use fleetkeeper::tags::{EXPIRES_TAG, OWNER_TAG, TOKEN_TAG};
use fleetkeeper::telemetry::Metrics;

use crate::config::Config;
use crate::ports::{Instances, Place};
use crate::report::{self, LeaseReport};

pub async fn run<I: Instances + Sync>(
    targets: &[Place<I>],
    keys: &Keys,
    config: &Config,
    adopt: Adopt,
    at: Timestamp,
    metrics: &mut Metrics,
) -> Result<LeaseReport, Error> {
    let leased = join_all(targets.iter().map(|t| t.port.leased())).await;
    if let Some(e) = all_failed(&leased) {
        return Err(e.clone().into());
    }
    let met = leased.iter().flatten().flatten().map(|i| &i.tags);
    let ring = keys.ring_for(met).await.map_err(|e| {
        Error::input(format!(
            "the seal key {} cannot be read ({e}): nothing can be adopted",
            keys.name()
        ))
    })?;
    let mut report = report::new(config.mode, at.to_string());
    let mut found: Vec<(&Place<I>, &Instance, Proof)> = Vec::new();
    for (t, l) in targets.iter().zip(&leased) {
        match l {
            Ok(instances) => found.extend(instances.iter().map(|i| {
                let proof = ring.check(&i.id, &i.tags, &lease_claims(&i.tags));
                (t, i, proof)
            })),
            Err(e) => report.place_unreadable(t.port.region(), e),
        }
    }
    match adopt {
        Adopt::List => {
            for (t, i, proof) in &found {
                let region = t.port.region();
                match proof {
                    Proof::Valid => {}
                    Proof::Forged => report.skip(
                        Entry::new(&i.id, "none", proof.reason().unwrap_or_default())
                            .in_region(region),
                    ),
                    Proof::Unsealed | Proof::UnknownKey(_) => report.planned.push(
                        Entry::new(
                            &i.id,
                            "seal-lease",
                            format!(
                                "{}; adopt it with {{\"action\": \"adopt\", \"ids\": [\"{}\"]}} if its launch and tags say it is a lease",
                                proof.reason().unwrap_or_default(),
                                i.id
                            ),
                        )
                        .in_region(region)
                        .with_detail(facts(i)),
                    ),
                }
            }
        }
        Adopt::Seal(ids) => {
            let mut refused = Vec::new();
            let mut chosen: Vec<&(&Place<I>, &Instance, Proof)> = Vec::new();
            for id in &ids {
                match found.iter().find(|(_, i, _)| &i.id == id) {
                    None => refused.push(format!(
                        "{id}: no instance with a lease ({EXPIRES_TAG}) in {}",
                        targets
                            .iter()
                            .map(|t| t.port.region())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                    Some((_, _, Proof::Forged)) => refused.push(format!(
                        "{id}: its seal does not verify (lease tags copied from another instance or altered); if the lease truly is yours, remove its {SEAL_TAG} tag and adopt it again"
                    )),
                    Some(f) if !chosen.iter().any(|c| c.1.id == f.1.id) => chosen.push(f),
                    Some(_) => {}
                }
            }
            if !refused.is_empty() {
                return Err(Error::input(format!(
                    "adopt refused, nothing was sealed: {}",
                    refused.join("; ")
                )));
            }
            for (t, i, proof) in chosen {
                let region = t.port.region();
                let entry = |why: &str| {
                    Entry::new(&i.id, "seal-lease", why)
                        .in_region(region)
                        .with_detail(facts(i))
                };
                if proof.is_valid() {
                    report.skip(entry("already sealed: a lease of ours"));
                    continue;
                }
                let why = "sealed on an operator's word (adopt): its lease is kept from now on";
                if config.mode.is_dry_run() {
                    report.planned.push(entry(why));
                    continue;
                }
                let sealed = match ring.seal(&i.id, &lease_claims(&i.tags)) {
                    Ok(seal) => t.port.tag(&i.id, SEAL_TAG, &seal).await,
                    Err(e) => Err(e),
                };
                match sealed {
                    Ok(()) => report.done(entry(why)),
                    Err(e) => report.fail(Failure::aws(&i.id, "seal-lease", &e).in_region(region)),
                }
            }
        }
    }
    report::metrics_into(&report, metrics);
    report.log();
    Ok(report)
}

/// What agrees with a lease's tags: EC2's own record of the instance.
fn facts(i: &Instance) -> serde_json::Value {
    json!({
        "state": i.state,
        "instance_type": i.instance_type,
        "launched_at": i.launched_at.map(|t| t.to_string()),
        "launch_template": i.tags.get("aws:ec2launchtemplate:id"),
        "owner": i.tags.get(OWNER_TAG),
        "expires_at": i.tags.get(EXPIRES_TAG),
        "launched_by_instance_launcher": i.tags.contains_key(TOKEN_TAG),
    })
}
