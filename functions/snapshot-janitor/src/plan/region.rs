//! One region's plan: as a source (what to create, what retention lets go, what to archive,
//! from the snapshots its seal proves ours) and as a COPY_TO destination (its copies'
//! retention and the copies to start there), and MAX_DELETES shared over the run. Pure.

use std::collections::BTreeSet;

use jiff::Timestamp;

use fleetkeeper::ec2::Instance;
use fleetkeeper::seal::KeyRing;

use crate::config::Config;
use crate::model::{Snapshot, Volume};
use crate::plan::copy::{Copy, Pending};
use crate::plan::{
    Archive, CreatePlan, Decision, NotOurs, Trusted, decide, plan_archive, plan_copies,
    plan_create, share_deletes, sort_by_seal,
};

/// What a source region holds and what its plan is.
pub struct Source {
    pub create: CreatePlan,
    pub decisions: Vec<Decision>,
    pub archive: Vec<Archive>,
    pub snapshots: Vec<Snapshot>,
    /// Snapshots with our tags but no valid seal: left alone, reported.
    pub not_ours: Vec<NotOurs>,
    pub live: BTreeSet<String>,
    /// This region's share of MAX_DELETES.
    pub quota: usize,
}

/// A destination region: its copies' retention, and the copies to start there.
pub struct Destination {
    pub decisions: Vec<Decision>,
    pub copies: Vec<Copy>,
    pub pending: Vec<Pending>,
    pub not_ours: Vec<NotOurs>,
    /// This region's share of MAX_DELETES.
    pub quota: usize,
}

impl Source {
    /// A source region's plan from what it holds.
    pub fn plan(
        volumes: Vec<Volume>,
        instances: Vec<Instance>,
        snapshots: Vec<Snapshot>,
        ring: &KeyRing,
        config: &Config,
        now: Timestamp,
    ) -> Source {
        let tz = &config.time_zone;
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
    }
}

impl Destination {
    /// A destination region's plan: retention over the copies it holds (`live` are the
    /// volumes and instances that still exist in any source), and the copies of every
    /// source's snapshots it does not hold yet.
    pub fn plan<'a>(
        region: &str,
        held: Vec<Snapshot>,
        sources: impl Iterator<Item = (&'a str, &'a Source)>,
        live: &BTreeSet<String>,
        ring: &KeyRing,
        config: &Config,
        now: Timestamp,
    ) -> Destination {
        let copies: Vec<Snapshot> = held.into_iter().filter(|s| s.copy_of.is_some()).collect();
        let Trusted {
            ours: copies,
            not_ours,
        } = sort_by_seal(copies, ring);
        let decisions = decide(&copies, live, &config.copies.rules, &config.time_zone, now);
        let key = config.copies.kms_keys.get(region).map(String::as_str);
        let mut plan = Destination {
            decisions,
            copies: Vec::new(),
            pending: Vec::new(),
            not_ours,
            quota: 0,
        };
        for (source, s) in sources {
            let p = plan_copies(source, &s.snapshots, &s.decisions, region, &copies, key);
            plan.copies.extend(p.copy);
            plan.pending.extend(p.pending);
        }
        plan
    }
}

/// MAX_DELETES over every region of the run, sources first: each gets its share.
pub fn share_run_deletes<'a>(
    sources: impl Iterator<Item = &'a mut Source>,
    destinations: impl Iterator<Item = &'a mut Destination>,
    max_deletes: usize,
) {
    let deletes = |decisions: &[Decision]| decisions.iter().filter(|d| d.delete).count();
    let mut quotas: Vec<(&mut usize, usize)> = sources
        .map(|s| {
            let n = deletes(&s.decisions);
            (&mut s.quota, n)
        })
        .chain(destinations.map(|d| {
            let n = deletes(&d.decisions);
            (&mut d.quota, n)
        }))
        .collect();
    let doomed: Vec<usize> = quotas.iter().map(|(_, n)| *n).collect();
    for ((quota, _), share) in quotas.iter_mut().zip(share_deletes(&doomed, max_deletes)) {
        **quota = share;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doomed(n: usize) -> Vec<Decision> {
        (0..n)
            .map(|i| Decision {
                id: format!("snap-{i}"),
                volume_id: "vol-1".into(),
                set_id: None,
                delete: true,
                rule: "no retention rule keeps it".into(),
                only_long_term: false,
            })
            .collect()
    }

    fn source(n: usize) -> Source {
        Source {
            create: CreatePlan::default(),
            decisions: doomed(n),
            archive: Vec::new(),
            snapshots: Vec::new(),
            not_ours: Vec::new(),
            live: BTreeSet::new(),
            quota: 0,
        }
    }

    #[test]
    fn max_deletes_goes_to_the_sources_first_then_the_destinations() {
        let mut sources = [source(2), source(3)];
        let mut destination = Destination {
            decisions: doomed(4),
            copies: Vec::new(),
            pending: Vec::new(),
            not_ours: Vec::new(),
            quota: 0,
        };
        share_run_deletes(sources.iter_mut(), [&mut destination].into_iter(), 6);
        assert_eq!(
            [sources[0].quota, sources[1].quota, destination.quota],
            [2, 3, 1]
        );
    }
}
