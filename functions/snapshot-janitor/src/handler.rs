//! One invocation: for every region concurrently, observe volumes and our snapshots, plan
//! creates and retention, create then prune, and report.

use std::time::Duration;

use futures_util::future::join_all;
use jiff::Timestamp;
use serde_json::Value;

use fleetkeeper::Error;
use fleetkeeper::exec::Budget;
use fleetkeeper::report::all_failed;
use fleetkeeper::telemetry::Metrics;

use std::collections::BTreeSet;

use fleetkeeper::AwsError;

use crate::apply::{Limits, apply, apply_archive, apply_copies};
use crate::config::Config;
use crate::plan::copy::{Copy, Pending};
use crate::plan::retention::Snapshot;
use crate::plan::{
    Archive, CreatePlan, Decision, NotOurs, Trusted, decide, plan_archive, plan_copies,
    plan_create, share_deletes, sort_by_seal,
};
use crate::ports::Ebs;
pub use crate::ports::{App, Target};
use crate::report::{self, JanitorReport};
use crate::{adopt, event};

/// Time kept back from the invocation deadline to return the report.
pub const RESERVE: Duration = Duration::from_secs(20);

/// What a source region holds and what its plan is.
struct Source {
    create: CreatePlan,
    decisions: Vec<Decision>,
    archive: Vec<Archive>,
    snapshots: Vec<Snapshot>,
    /// Snapshots with our tags but no valid seal: left alone, reported.
    not_ours: Vec<NotOurs>,
    live: BTreeSet<String>,
}

/// A destination region: its copies' retention, and the copies to start there.
struct Destination {
    decisions: Vec<Decision>,
    copies: Vec<Copy>,
    pending: Vec<Pending>,
    not_ours: Vec<NotOurs>,
}

pub async fn run<E: Ebs + Sync>(
    places: &App<E>,
    config: &Config,
    payload: &Value,
    clock: Timestamp,
    budget: Budget,
    metrics: &mut Metrics,
) -> Result<JanitorReport, Error> {
    let request = event::parse(payload)?;
    // One clock per run: the period, retention ages and copy and archive decisions are all
    // judged at the event's time (the scheduled time), the system clock only without one.
    let now = request.at.unwrap_or(clock);
    if let Some(ids) = request.adopt {
        return adopt::run(places, config, ids, now, metrics).await;
    }
    let tz = &config.time_zone;
    // Observe every region first: the seals met name the key versions to fetch, and
    // MAX_DELETES is shared over the whole run.
    let observed = join_all(places.sources.iter().map(|t| async move {
        let (volumes, instances, snapshots) = futures_util::join!(
            t.port.tagged_volumes(),
            t.port.tagged_instances(),
            t.port.our_snapshots()
        );
        Ok::<_, AwsError>((volumes?, instances?, snapshots?))
    }))
    .await;
    if let Some(e) = all_failed(&observed) {
        // Nothing could be read anywhere: fail the invocation so Lambda's Errors metric sees it.
        return Err(e.clone().into());
    }
    let held = join_all(places.destinations.iter().map(|d| d.port.our_snapshots())).await;
    let seals = observed
        .iter()
        .flatten()
        .flat_map(|(_, _, snapshots)| snapshots)
        .chain(held.iter().flatten().flatten())
        .map(|s| &s.tags);
    let ring = match places.keys.ring_for(seals).await {
        Ok(ring) => ring,
        Err(e) => {
            return Ok(report::no_key(
                config.mode,
                now,
                places.keys.name(),
                &e,
                metrics,
            ));
        }
    };
    let ring = &ring;
    let sources: Vec<Result<Source, AwsError>> = observed
        .into_iter()
        .map(|o| {
            let (volumes, instances, snapshots) = o?;
            // Copies held here (were this region once a destination) are not sources.
            let snapshots: Vec<Snapshot> = snapshots
                .into_iter()
                .filter(|s| s.copy_of.is_none())
                .collect();
            // Only what its seal proves ours is planned for; the rest is left alone.
            let Trusted {
                ours: snapshots,
                not_ours,
            } = sort_by_seal(snapshots, ring);
            let create = plan_create(&volumes, &instances, &snapshots, tz, now)
                .without_tags(&config.copy_tags_exclude);
            // What still exists: a gone volume's (or instance's) newest snapshot has a grace.
            let live: BTreeSet<String> = volumes
                .iter()
                .map(|v| v.id.clone())
                .chain(instances.iter().map(|i| i.id.clone()))
                .collect();
            let decisions = decide(&snapshots, &live, &config.rules, tz, now);
            let archive = plan_archive(&snapshots, &decisions, config.archive_after_days, now);
            Ok(Source {
                create,
                decisions,
                archive,
                snapshots,
                not_ours,
                live,
            })
        })
        .collect();
    let live: BTreeSet<String> = sources
        .iter()
        .flatten()
        .flat_map(|s| s.live.clone())
        .collect();
    let destinations: Vec<Result<Destination, AwsError>> = places
        .destinations
        .iter()
        .zip(held)
        .map(|(d, held)| {
            let copies: Vec<Snapshot> = held?.into_iter().filter(|s| s.copy_of.is_some()).collect();
            let Trusted {
                ours: copies,
                not_ours,
            } = sort_by_seal(copies, ring);
            let decisions = decide(&copies, &live, &config.copies.rules, tz, now);
            let key = config
                .copies
                .kms_keys
                .get(d.port.region())
                .map(String::as_str);
            let mut plan = Destination {
                decisions,
                copies: Vec::new(),
                pending: Vec::new(),
                not_ours,
            };
            for (t, s) in places.sources.iter().zip(&sources) {
                let Ok(s) = s else { continue };
                let p = plan_copies(
                    t.port.region(),
                    &s.snapshots,
                    &s.decisions,
                    d.port.region(),
                    &copies,
                    key,
                );
                plan.copies.extend(p.copy);
                plan.pending.extend(p.pending);
            }
            Ok(plan)
        })
        .collect();

    let doomed: Vec<usize> = sources
        .iter()
        .map(|p| {
            p.as_ref()
                .map_or(0, |s| s.decisions.iter().filter(|d| d.delete).count())
        })
        .chain(destinations.iter().map(|p| {
            p.as_ref()
                .map_or(0, |d| d.decisions.iter().filter(|d| d.delete).count())
        }))
        .collect();
    let mut quotas = share_deletes(&doomed, config.max_deletes).into_iter();
    let source_quotas: Vec<usize> = quotas.by_ref().take(sources.len()).collect();
    let destination_quotas: Vec<usize> = quotas.collect();

    let applied = join_all(places.sources.iter().zip(&sources).zip(source_quotas).map(
        |((t, s), quota)| async move {
            let s = s.as_ref().ok()?;
            let limits = Limits {
                snapshots: &t.limits,
                budget,
                max_deletes: quota,
            };
            let out = apply(&t.port, &s.create, &s.decisions, ring, config.mode, &limits).await;
            let archived = apply_archive(&t.port, &s.archive, config.mode, &limits).await;
            Some((out, archived))
        },
    ))
    .await;
    let copied = join_all(
        places
            .destinations
            .iter()
            .zip(&destinations)
            .zip(destination_quotas)
            .map(|((t, d), quota)| async move {
                let d = d.as_ref().ok()?;
                let limits = Limits {
                    snapshots: &t.limits,
                    budget,
                    max_deletes: quota,
                };
                let copies = apply_copies(&t.port, &d.copies, ring, config.mode, &limits).await;
                let none = CreatePlan::default();
                let pruned = apply(&t.port, &none, &d.decisions, ring, config.mode, &limits).await;
                Some((copies, pruned))
            }),
    )
    .await;

    let mut report = report::new(config.mode);
    report.fields.time = now.to_string();
    for ((t, s), out) in places.sources.iter().zip(&sources).zip(&applied) {
        match (s, out) {
            (Ok(s), Some((out, archived))) => {
                let region = t.port.region();
                report::add_region(&mut report, region, &s.create, &s.decisions, out);
                report::add_archive(&mut report, region, &s.archive, archived);
                report::add_not_ours(&mut report, region, &s.not_ours);
                report::add_unsealed(&mut report, region, &out.unsealed);
            }
            (Err(e), _) => report.place_unreadable(t.port.region(), e),
            (Ok(_), None) => unreachable!("a region that was read was applied"),
        }
    }
    for ((t, d), out) in places.destinations.iter().zip(&destinations).zip(&copied) {
        match (d, out) {
            (Ok(d), Some((copies, pruned))) => {
                let region = t.port.region();
                report::add_copies(&mut report, region, &d.copies, &d.pending, copies);
                report::add_not_ours(&mut report, region, &d.not_ours);
                report::add_unsealed(&mut report, region, &copies.unsealed);
                report::add_unsealed(&mut report, region, &pruned.unsealed);
                report::add_region(
                    &mut report,
                    region,
                    &CreatePlan::default(),
                    &d.decisions,
                    pruned,
                )
            }
            (Err(e), _) => report.place_unreadable(t.port.region(), e),
            (Ok(_), None) => unreachable!("a region that was read was applied"),
        }
    }
    report::metrics_into(&report, metrics);
    report.log();
    Ok(report)
}
