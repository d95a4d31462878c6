//! `{"action": "adopt"}`: the upgrade path and hand-made snapshots. Snapshots made before
//! seals (or tagged by hand) carry our tags and no seal, so the janitor keeps them and never
//! deletes them. Adopt lists them with what agrees with their tags (EC2's own description,
//! volume and start time, which no tag can change), and with `"ids"` seals exactly those, on
//! an operator's word. An id that is not a snapshot with our tags, or whose seal does not
//! verify, is refused by name, and then nothing is sealed.

use std::collections::BTreeMap;

use futures_util::future::join_all;
use jiff::Timestamp;
use serde_json::json;

use fleetkeeper::Error;
use fleetkeeper::report::{Entry, Failure};
use fleetkeeper::seal::{Proof, SEAL_TAG, fleetkeeper_claims};
use fleetkeeper::telemetry::Metrics;

use crate::config::Config;
use crate::event::Adopt;
use crate::plan::retention::Snapshot;
use crate::ports::{App, Ebs};
use crate::report::{self, JanitorReport, SnapshotAction};

pub async fn run<E: Ebs + Sync>(
    places: &App<E>,
    config: &Config,
    adopt: Adopt,
    now: Timestamp,
    metrics: &mut Metrics,
) -> Result<JanitorReport, Error> {
    let regions = places.regions();
    let held = join_all(regions.iter().map(|t| t.port.our_snapshots())).await;
    if let Some(e) = fleetkeeper::report::all_failed(&held) {
        return Err(e.clone().into());
    }
    let met = held.iter().flatten().flatten().map(|s| &s.tags);
    let ring = places.keys.ring_for(met).await.map_err(|e| {
        Error::input(format!(
            "the seal key {} cannot be read ({e}): nothing can be adopted",
            places.keys.name()
        ))
    })?;
    // Every snapshot with our tags, with its region and what its seal proves.
    let mut found: Vec<(&str, &Snapshot, Proof)> = Vec::new();
    let mut report = report::new(config.mode);
    report.fields.time = now.to_string();
    for (t, h) in regions.iter().zip(&held) {
        match h {
            Ok(snaps) => found.extend(snaps.iter().map(|s| {
                let proof = ring.check(&s.id, &s.tags, &fleetkeeper_claims(&s.tags));
                (t.port.region(), s, proof)
            })),
            Err(e) => report.place_unreadable(t.port.region(), e),
        }
    }
    match adopt {
        Adopt::List => list(&mut report, &found),
        Adopt::Seal(ids) => {
            let chosen = choose(&found, &ids, places)?;
            for (region, s) in chosen {
                seal(&mut report, places, &ring, region, s, config).await;
            }
        }
    }
    report::metrics_into(&report, metrics);
    report.log();
    Ok(report)
}

/// What agrees with a snapshot's tags: EC2's own record of it.
fn facts(s: &Snapshot) -> serde_json::Value {
    json!({
        "description": s.description,
        "volume_id": s.volume_id,
        "started": s.started.to_string(),
        "policy": s.policy,
        "set_id": s.set_id,
        "instance_id": s.instance_id,
        "copy_of": s.copy_of,
    })
}

/// The candidates, planned (nothing changes); forged seals are named, never offered.
fn list(report: &mut JanitorReport, found: &[(&str, &Snapshot, Proof)]) {
    for (region, s, proof) in found {
        match proof {
            Proof::Valid => {}
            Proof::Forged => report.skip(
                Entry::new(&s.id, SnapshotAction::None, proof.reason().unwrap_or_default())
                    .in_region(region),
            ),
            Proof::Unsealed | Proof::UnknownKey(_) => report.planned.push(
                Entry::new(
                    &s.id,
                    SnapshotAction::Seal,
                    format!(
                        "{}; adopt it with {{\"action\": \"adopt\", \"ids\": [\"{}\"]}} if its description, volume and start time say it is ours",
                        proof.reason().unwrap_or_default(),
                        s.id
                    ),
                )
                .in_region(region)
                .with_detail(facts(s)),
            ),
        }
    }
}

/// The snapshots named, each once; any id that cannot be adopted refuses the whole request.
fn choose<'a, E: Ebs>(
    found: &'a [(&'a str, &'a Snapshot, Proof)],
    ids: &[String],
    places: &App<E>,
) -> Result<Vec<(&'a str, &'a Snapshot)>, Error> {
    let mut chosen = Vec::new();
    let mut refused = Vec::new();
    for id in ids {
        let matches: Vec<&(&str, &Snapshot, Proof)> =
            found.iter().filter(|(_, s, _)| &s.id == id).collect();
        match matches.first() {
            None => {
                let regions: Vec<&str> = places.regions().iter().map(|t| t.port.region()).collect();
                refused.push(format!(
                    "{id}: no snapshot with snapshot-janitor's tags in {}",
                    regions.join(", ")
                ))
            }
            Some((_, _, Proof::Forged)) => refused.push(format!(
                "{id}: its seal does not verify (tags copied from another snapshot or altered); if it truly is ours, remove its {SEAL_TAG} tag and adopt it again"
            )),
            Some((region, s, _)) => {
                if !chosen.iter().any(|(_, c): &(&str, &Snapshot)| c.id == s.id) {
                    chosen.push((*region, *s));
                }
            }
        }
    }
    if !refused.is_empty() {
        return Err(Error::input(format!(
            "adopt refused, nothing was sealed: {}",
            refused.join("; ")
        )));
    }
    Ok(chosen)
}

async fn seal<E: Ebs + Sync>(
    report: &mut JanitorReport,
    places: &App<E>,
    ring: &fleetkeeper::seal::KeyRing,
    region: &str,
    s: &Snapshot,
    config: &Config,
) {
    let proof = ring.check(&s.id, &s.tags, &fleetkeeper_claims(&s.tags));
    let entry = |why: &str| {
        Entry::new(&s.id, SnapshotAction::Seal, why)
            .in_region(region)
            .with_detail(facts(s))
    };
    if proof.is_valid() {
        report.skip(entry("already sealed: ours"));
        return;
    }
    let why = "sealed on an operator's word (adopt): retention manages it from now on";
    if config.mode.is_dry_run() {
        report.planned.push(entry(why));
        return;
    }
    let target = places
        .regions()
        .into_iter()
        .find(|t| t.port.region() == region)
        .expect("the region it was found in");
    let result = match ring.seal(&s.id, &fleetkeeper_claims(&s.tags)) {
        Ok(value) => target.port.seal(&s.id, &value, &BTreeMap::new()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => report.done(entry(why)),
        Err(e) => report.fail(Failure::aws(&s.id, SnapshotAction::Seal, &e).in_region(region)),
    }
}
