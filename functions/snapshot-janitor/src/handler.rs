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
use crate::plan::{CreatePlan, Destination, Source, share_run_deletes};
pub use crate::ports::{App, Place};
use crate::ports::{Commands, Drills, Ebs};
use crate::report::{self, JanitorReport};
use crate::{adopt, drill, event};

/// Time kept back from the invocation deadline to return the report.
pub const RESERVE: Duration = Duration::from_secs(20);

/// How the report names a place.
fn region<E: Ebs>(t: &Place<E>) -> &str {
    t.port.region()
}

pub async fn run<E: Ebs + Commands + Drills + Sync>(
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
        Source::plan(volumes, instances, snapshots, ring, config, now)
    });
    let live: BTreeSet<String> = sources
        .read()
        .flat_map(|(_, _, s)| s.live.iter().cloned())
        .collect();
    let mut destinations = held.map(|d, held| {
        let sources = sources.read().map(|(t, _, s)| (t.port.region(), s));
        Destination::plan(d.port.region(), held, sources, &live, ring, config, now)
    });

    // MAX_DELETES is shared over every region of the run, sources first.
    share_run_deletes(
        sources.read_mut(),
        destinations.read_mut(),
        config.max_deletes,
    );

    let mode = config.mode;
    let applied = sources
        .apply(|t, s| async move {
            let limits = Limits {
                snapshots: &t.limits,
                budget,
                max_deletes: s.quota,
            };
            let freeze = &config.freeze;
            let out = apply(
                &t.port,
                &s.create,
                &s.decisions,
                ring,
                mode,
                &limits,
                freeze,
            )
            .await;
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
            let freeze = &config.freeze;
            let pruned = apply(&t.port, &none, &d.decisions, ring, mode, &limits, freeze).await;
            (d, copies, pruned)
        })
        .await;

    // Backups first; the drills get the time they left.
    let drills = drill::run_all(places, config, ring, now, budget).await;

    let mut report = report::new(config.mode);
    report.fields.time = now.to_string();
    report::add_drills(&mut report, drills);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::model::{
        BACKUP_TAG, MANAGED_BY, MANAGED_BY_TAG, POLICY_TAG, Snapshot, State, Volume,
    };
    use crate::ports::fake::FakeEbs;
    use fleetkeeper::exec::RateLimiter;
    use fleetkeeper::seal::{Key, KeyRing, Keys, SEAL_TAG, fleetkeeper_claims};
    use fleetkeeper::{AwsError, Env};
    use serde_json::json;
    use std::collections::BTreeMap;

    fn ring() -> KeyRing {
        KeyRing::new(Key::new("v1", vec![3; 32]).unwrap())
    }

    fn now() -> Timestamp {
        "2026-12-10T02:00:00Z".parse().unwrap()
    }

    fn volume(id: &str) -> Volume {
        Volume {
            id: id.into(),
            instance_id: None,
            tags: [(BACKUP_TAG.to_owned(), "daily".to_owned())].into(),
        }
    }

    /// A daily snapshot the janitor took (sealed) `days_ago` days before now.
    fn ours(id: &str, volume_id: &str, days_ago: i64) -> Snapshot {
        let mut tags: BTreeMap<String, String> = [
            (MANAGED_BY_TAG, MANAGED_BY),
            (POLICY_TAG, "daily"),
            ("fleetkeeper:volume-id", volume_id),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let seal = ring().seal(id, &fleetkeeper_claims(&tags)).unwrap();
        tags.insert(SEAL_TAG.to_owned(), seal);
        Snapshot {
            id: id.into(),
            volume_id: volume_id.into(),
            policy: "daily".into(),
            state: State::Completed,
            started: now() - jiff::SignedDuration::from_hours(24 * days_ago),
            managed: true,
            tags,
            ..Default::default()
        }
    }

    fn app(config: &Config, sources: Vec<FakeEbs>) -> App<FakeEbs> {
        App {
            sources: sources
                .into_iter()
                .map(|port| Place {
                    port,
                    limits: RateLimiter::new(config.rate),
                })
                .collect(),
            destinations: Vec::new(),
            keys: Keys::Fixed(ring()),
        }
    }

    async fn invoke(
        app: &App<FakeEbs>,
        config: &Config,
        payload: Value,
    ) -> Result<JanitorReport, Error> {
        let mut metrics = Metrics::for_function("snapshot-janitor");
        run(
            app,
            config,
            &payload,
            now(),
            Budget::unlimited(),
            &mut metrics,
        )
        .await
    }

    fn denied() -> AwsError {
        AwsError::service("ec2:DescribeVolumes", "UnauthorizedOperation", "denied")
    }

    /// Three old daily snapshots of `volume_id` in a region (two past KEEP_LAST=1).
    fn region(name: &str, volume_id: &str) -> FakeEbs {
        let snapshots = (1..=3)
            .map(|d| ours(&format!("snap-{volume_id}-{d}"), volume_id, d))
            .collect();
        FakeEbs::holding(name, vec![volume(volume_id)], snapshots)
    }

    #[tokio::test]
    async fn max_deletes_is_shared_by_every_region_and_a_forged_copy_is_kept() {
        let config =
            Config::from_env(&Env::of(&[("KEEP_LAST", "1"), ("MAX_DELETES", "3")])).unwrap();
        let mut west = region("eu-west-1", "vol-1");
        // Every tag of the oldest genuine snapshot, seal included, on one it never took.
        let forged = Snapshot {
            id: "snap-forged".into(),
            ..west.snapshots[2].clone()
        };
        west.snapshots.push(forged);
        let app = app(&config, vec![west, region("us-east-1", "vol-2")]);
        let r = invoke(&app, &config, json!({})).await.unwrap();
        let (west, east) = (&app.sources[0].port, &app.sources[1].port);
        assert_eq!(west.deleted(), ["snap-vol-1-2", "snap-vol-1-3"]);
        assert_eq!(east.deleted().len(), 1, "MAX_DELETES=3 over both regions");
        assert_eq!(west.created(), ["vol-1"], "today's snapshot is taken first");
        assert!(!west.deleted().contains(&"snap-forged".to_owned()));
        assert_eq!(r.remaining_count(), 1, "{r:?}");
    }

    #[tokio::test]
    async fn an_unreadable_region_is_reported_and_the_others_go_on() {
        let config = Config::from_env(&Env::of(&[("KEEP_LAST", "1")])).unwrap();
        let dark = FakeEbs {
            unreadable: Some(denied()),
            ..region("us-east-1", "vol-2")
        };
        let app = app(&config, vec![region("eu-west-1", "vol-1"), dark]);
        let r = invoke(&app, &config, json!({})).await.unwrap();
        assert_eq!(app.sources[0].port.deleted().len(), 2);
        assert!(app.sources[1].port.deleted().is_empty());
        assert!(app.sources[1].port.created().is_empty());
        assert_eq!(r.failed.len(), 1, "{r:?}");
        assert_eq!(r.failed[0].region.as_deref(), Some("us-east-1"));
    }

    #[tokio::test]
    async fn bad_input_and_no_region_read_fail_the_invocation() {
        let config = Config::from_env(&Env::of(&[])).unwrap();
        let app = app(&config, vec![region("eu-west-1", "vol-1")]);
        let err = invoke(&app, &config, json!("snapshot now"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Input(_)), "{err}");
        assert!(app.sources[0].port.created().is_empty());
        let dark = FakeEbs {
            unreadable: Some(denied()),
            ..region("eu-west-1", "vol-1")
        };
        let dark = self::app(&config, vec![dark]);
        let err = invoke(&dark, &config, json!({})).await.unwrap_err();
        assert!(err.to_string().contains("UnauthorizedOperation"), "{err}");
    }
}
