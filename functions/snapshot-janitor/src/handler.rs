//! One invocation: for every region concurrently, observe volumes and our snapshots, plan
//! creates and retention, create then prune, and report.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use fleetkeeper::Error;
use fleetkeeper::exec::Budget;
use fleetkeeper::run::Places;
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
    /// This region's share of MAX_DELETES.
    quota: usize,
}

/// A destination region: its copies' retention, and the copies to start there.
struct Destination {
    decisions: Vec<Decision>,
    copies: Vec<Copy>,
    pending: Vec<Pending>,
    not_ours: Vec<NotOurs>,
    /// This region's share of MAX_DELETES.
    quota: usize,
}

/// How the report names a place.
fn region<E: Ebs>(t: &Target<E>) -> &str {
    t.port.region()
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
    let observed = Places::observe(&places.sources, region, |t| async move {
        let (volumes, instances, snapshots) = futures_util::join!(
            t.port.tagged_volumes(),
            t.port.tagged_instances(),
            t.port.our_snapshots()
        );
        Ok::<_, AwsError>((volumes?, instances?, snapshots?))
    })
    .await;
    if let Some(e) = observed.all_failed() {
        // Nothing could be read anywhere: fail the invocation so Lambda's Errors metric sees it.
        return Err(e.into());
    }
    let held = Places::observe(&places.destinations, region, |d| d.port.our_snapshots()).await;
    let seals = observed
        .read()
        .flat_map(|(_, _, (_, _, snapshots))| snapshots)
        .chain(held.read().flat_map(|(_, _, h)| h))
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
    let mut sources = observed.map(|_, (volumes, instances, snapshots)| {
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
        Source {
            create,
            decisions,
            archive,
            snapshots,
            not_ours,
            live,
            quota: 0,
        }
    });
    let live: BTreeSet<String> = sources
        .read()
        .flat_map(|(_, _, s)| s.live.iter().cloned())
        .collect();
    let mut destinations = held.map(|d, held| {
        let copies: Vec<Snapshot> = held.into_iter().filter(|s| s.copy_of.is_some()).collect();
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
            quota: 0,
        };
        for (t, _, s) in sources.read() {
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
        plan
    });

    // MAX_DELETES is shared over every region of the run, sources first.
    let deletes = |decisions: &[Decision]| decisions.iter().filter(|d| d.delete).count();
    let doomed: Vec<usize> = sources
        .read()
        .map(|(_, _, s)| deletes(&s.decisions))
        .chain(destinations.read().map(|(_, _, d)| deletes(&d.decisions)))
        .collect();
    let mut quotas = share_deletes(&doomed, config.max_deletes).into_iter();
    for (quota, share) in sources
        .read_mut()
        .map(|s| &mut s.quota)
        .chain(destinations.read_mut().map(|d| &mut d.quota))
        .zip(quotas.by_ref())
    {
        *quota = share;
    }

    let mode = config.mode;
    let applied = sources
        .apply(|t, s| async move {
            let limits = Limits {
                snapshots: &t.limits,
                budget,
                max_deletes: s.quota,
            };
            let out = apply(&t.port, &s.create, &s.decisions, ring, mode, &limits).await;
            let archived = apply_archive(&t.port, &s.archive, mode, &limits).await;
            (s, out, archived)
        })
        .await;
    let copied = destinations
        .apply(|t, d| async move {
            let limits = Limits {
                snapshots: &t.limits,
                budget,
                max_deletes: d.quota,
            };
            let copies = apply_copies(&t.port, &d.copies, ring, mode, &limits).await;
            let none = CreatePlan::default();
            let pruned = apply(&t.port, &none, &d.decisions, ring, mode, &limits).await;
            (d, copies, pruned)
        })
        .await;

    let mut report = report::new(config.mode);
    report.fields.time = now.to_string();
    applied.record(&mut report, |report, region, (s, out, archived)| {
        report::add_region(report, region, &s.create, &s.decisions, &out);
        report::add_archive(report, region, &s.archive, &archived);
        report::add_not_ours(report, region, &s.not_ours);
        report::add_unsealed(report, region, &out.unsealed);
    });
    copied.record(&mut report, |report, region, (d, copies, pruned)| {
        report::add_copies(report, region, &d.copies, &d.pending, &copies);
        report::add_not_ours(report, region, &d.not_ours);
        report::add_unsealed(report, region, &copies.unsealed);
        report::add_unsealed(report, region, &pruned.unsealed);
        report::add_region(
            report,
            region,
            &CreatePlan::default(),
            &d.decisions,
            &pruned,
        );
    });
    report::metrics_into(&report, metrics);
    report.log();
    Ok(report)
}
