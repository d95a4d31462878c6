//! One invocation: the evaluation time, every region's leased instances (concurrently), the
//! termination protection of those that could go, plan, the run-wide termination cap, apply,
//! report.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use fleetkeeper::Error;
use fleetkeeper::exec::Budget;
use fleetkeeper::run::Places;
use fleetkeeper::telemetry::Metrics;

use fleetkeeper::seal::Keys;

use crate::adopt;
use crate::apply::{Run, Wording, apply};
use crate::config::Config;
use crate::event;
use crate::plan::{cap_terminations, may_terminate, plan, sort_by_seal};
pub use crate::ports::Place;
use crate::ports::{Instances, Notifier};
use crate::report::{self, LeaseReport};

/// Kept back from the invocation deadline to return the report.
pub const RESERVE: Duration = Duration::from_secs(10);

#[allow(clippy::too_many_arguments)]
pub async fn run<I: Instances + Sync, N: Notifier + Sync>(
    targets: &[Place<I>],
    notifier: &N,
    keys: &Keys,
    config: &Config,
    payload: &Value,
    now: Timestamp,
    budget: Budget,
    metrics: &mut Metrics,
) -> Result<LeaseReport, Error> {
    let at = event::parse(payload)?.unwrap_or(now);
    if let Some(adopt) = event::adopt(payload)? {
        return adopt::run(targets, keys, config, adopt, at, metrics).await;
    }
    let leased = Places::observe(targets, |t| t.port.region(), |t| t.port.leased()).await;
    if let Some(e) = leased.all_failed() {
        return Err(e.into());
    }
    // Only a lease whose seal verifies is acted on: its tags are anyone's to write.
    let ring = match keys
        .ring_for(leased.read().flat_map(|(_, _, l)| l).map(|i| &i.tags))
        .await
    {
        Ok(ring) => ring,
        Err(e) => {
            let report = report::no_key(config.mode, at.to_string(), keys.name(), &e);
            report::metrics_into(&report, metrics);
            report.log();
            return Ok(report);
        }
    };
    let ring = &ring;
    // A second look: termination protection, read only for what could be terminated now.
    let observed = leased
        .look_again(|t, l| async move {
            let sorted = sort_by_seal(l, ring);
            let mut protected = Vec::new();
            for i in sorted.ours.iter().filter(|i| may_terminate(i, config, at)) {
                if t.port.protected(&i.id).await? {
                    protected.push(i.id.clone());
                }
            }
            Ok((sorted, protected))
        })
        .await;
    let mut planned = observed.map(|_, (sorted, protected)| {
        let plan = plan(&sorted.ours, &protected, config, at);
        (sorted, plan)
    });
    cap_terminations(planned.read_mut().map(|(_, p)| p), config.max_terminations);
    let wording = &Wording {
        grace_days: config.grace_days,
        extend_url: config.extend_url.as_deref(),
    };
    let applied = planned
        .apply(|t, (sorted, plan)| async move {
            let tags: BTreeMap<String, BTreeMap<String, String>> = sorted
                .ours
                .iter()
                .map(|i| (i.id.clone(), i.tags.clone()))
                .collect();
            let run = Run {
                mode: config.mode,
                now: at,
                limiter: &t.limits,
                budget,
                ring,
            };
            let out = apply(&t.port, notifier, &plan, &tags, wording, &run).await;
            (sorted.not_ours, plan, out)
        })
        .await;
    let mut report = report::new(config.mode, at.to_string());
    applied.record(&mut report, |report, region, (not_ours, plan, out)| {
        report::add_not_ours(report, region, &not_ours);
        report.add_plan(Some(region), &plan);
        report.add_applied(Some(region), &plan, &out);
    });
    report::metrics_into(&report, metrics);
    report.log();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::fake::{FakeInstances, FakeNotifier};
    use fleetkeeper::ec2::{AttachedVolume, Instance};
    use fleetkeeper::exec::RateLimiter;
    use fleetkeeper::seal::{Key, KeyRing, SEAL_TAG, lease_claims};
    use fleetkeeper::tags::{EXPIRES_TAG, OWNER_TAG, TOKEN_TAG};
    use fleetkeeper::{AwsError, Env};
    use serde_json::json;

    fn ring() -> KeyRing {
        KeyRing::new(Key::new("v1", vec![7; 32]).unwrap())
    }

    fn config(extra: &[(&str, &str)]) -> Config {
        let mut pairs = vec![
            ("SENDER", "fleet@example.com"),
            ("OWNER_DOMAINS", "example.com"),
            ("SEAL_SECRET", "fleetkeeper/seal"),
        ];
        pairs.extend_from_slice(extra);
        Config::from_env(&Env::of(&pairs)).unwrap()
    }

    fn now() -> Timestamp {
        "2026-12-10T12:00:00Z".parse().unwrap()
    }

    /// A lease instance-launcher made (sealed), ended at `expires`.
    fn leased(id: &str, state: &str, expires: &str) -> Instance {
        let mut tags: std::collections::BTreeMap<String, String> = [
            (EXPIRES_TAG, expires),
            (OWNER_TAG, "jane@example.com"),
            (TOKEN_TAG, "fk-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let seal = ring().seal(id, &lease_claims(&tags)).unwrap();
        tags.insert(SEAL_TAG.to_owned(), seal);
        Instance {
            id: id.into(),
            state: state.into(),
            tags,
            volumes: vec![AttachedVolume {
                volume_id: format!("vol-{id}"),
                device: "/dev/xvda".into(),
                boot: true,
                delete_on_termination: true,
            }],
            ..Default::default()
        }
    }

    /// Every tag of `genuine`, seal included, copied onto another instance.
    fn forged(genuine: &Instance, id: &str) -> Instance {
        Instance {
            id: id.into(),
            ..genuine.clone()
        }
    }

    fn targets(regions: Vec<FakeInstances>, config: &Config) -> Vec<Place<FakeInstances>> {
        regions
            .into_iter()
            .map(|port| Place {
                port,
                limits: RateLimiter::new(config.rate),
            })
            .collect()
    }

    async fn invoke(
        targets: &[Place<FakeInstances>],
        notifier: &FakeNotifier,
        config: &Config,
        payload: Value,
    ) -> Result<LeaseReport, Error> {
        let keys = Keys::Fixed(ring());
        let mut metrics = Metrics::for_function("lease-keeper");
        let budget = Budget::unlimited();
        run(
            targets,
            notifier,
            &keys,
            config,
            &payload,
            now(),
            budget,
            &mut metrics,
        )
        .await
    }

    fn denied() -> AwsError {
        AwsError::service("ec2:DescribeInstances", "UnauthorizedOperation", "denied")
    }

    #[tokio::test]
    async fn an_ended_lease_is_stopped_and_a_forged_copy_is_left_alone() {
        let config = config(&[]);
        let genuine = leased("i-1", "running", "2026-12-10T08:00:00Z");
        let copy = forged(&genuine, "i-9");
        let regions = vec![
            FakeInstances::holding("eu-west-1", vec![genuine, copy]),
            FakeInstances {
                unreadable: Some(denied()),
                ..FakeInstances::holding("us-east-1", vec![])
            },
        ];
        let targets = targets(regions, &config);
        let notifier = FakeNotifier::default();
        let r = invoke(&targets, &notifier, &config, json!({}))
            .await
            .unwrap();
        let west = &targets[0].port;
        assert_eq!(west.changes_to("i-1")[0], "stop i-1");
        assert!(west.changes_to("i-9").is_empty(), "{:?}", west.changes());
        assert_eq!(r.fields.forged, 1, "{r:?}");
        assert_eq!(r.failed.len(), 1);
        assert_eq!(r.failed[0].region.as_deref(), Some("us-east-1"));
    }

    #[tokio::test]
    async fn max_terminations_counts_every_region_of_the_run() {
        let config = config(&[("MAX_TERMINATIONS", "1")]);
        let over = |id: &str| {
            let mut i = leased(id, "stopped", "2026-11-01T08:00:00Z");
            i.tags.insert(
                "fleetkeeper:expired-at".into(),
                "2026-11-01T08:00:00Z".into(),
            );
            let claims = lease_claims(&i.tags);
            i.tags
                .insert(SEAL_TAG.into(), ring().seal(id, &claims).unwrap());
            i
        };
        let regions = vec![
            FakeInstances::holding("eu-west-1", vec![over("i-1")]),
            FakeInstances::holding("us-east-1", vec![over("i-2")]),
        ];
        let targets = targets(regions, &config);
        let r = invoke(&targets, &FakeNotifier::default(), &config, json!({}))
            .await
            .unwrap();
        assert!(
            r.refused.as_deref().unwrap().contains("MAX_TERMINATIONS=1"),
            "{r:?}"
        );
        assert!(targets.iter().all(|t| t.port.changes().is_empty()));
        let lifted = self::config(&[("MAX_TERMINATIONS", "2")]);
        invoke(&targets, &FakeNotifier::default(), &lifted, json!({}))
            .await
            .unwrap();
        assert_eq!(
            targets[1].port.changes(),
            ["snapshot vol-i-2", "terminate i-2"],
            "a final snapshot first, then the termination"
        );
    }

    #[tokio::test]
    async fn bad_input_and_no_region_read_fail_the_invocation() {
        let config = config(&[]);
        let notifier = FakeNotifier::default();
        let one = targets(vec![FakeInstances::holding("eu-west-1", vec![])], &config);
        let err = invoke(&one, &notifier, &config, json!({"time": 7}))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Input(_)), "{err}");
        let dark = targets(
            vec![FakeInstances {
                unreadable: Some(denied()),
                ..FakeInstances::holding("eu-west-1", vec![])
            }],
            &config,
        );
        let err = invoke(&dark, &notifier, &config, json!({}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("UnauthorizedOperation"), "{err}");
    }
}
