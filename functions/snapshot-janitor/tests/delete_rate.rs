//! Benchmark (run by `make bench`, ignored by `cargo test`): 3,000 snapshot deletions through
//! the fault proxy playing DeleteSnapshot's token bucket, scaled up for a short run (burst 100,
//! refill 50 per second, the excess answered RequestLimitExceeded). It reports the achieved
//! deletes per second as a fraction of what the bucket allows over the same time (target at
//! least 0.9) and how many calls were throttled (target: about none, as the limiter paces them).
//! It measures pacing against moto, not CPU, so the test profile is enough.

use std::time::Instant;

use fleetkeeper::exec::{BucketSpec, Budget, RateLimiter, run_bounded};
use fleetkeeper_tests::{FaultProxy, Moto};
use snapshot_janitor::apply::{Limits, apply};
use snapshot_janitor::config::Config;
use snapshot_janitor::plan::create::CreatePlan;
use snapshot_janitor::plan::retention::decide;
use snapshot_janitor::ports::{Ebs, Ec2Ebs};

const SNAPSHOTS: usize = 3001;
const BUCKET: BucketSpec = BucketSpec::new(100, 50.0);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by make bench"]
async fn bench_3000_deletes_through_the_delete_snapshot_bucket() {
    let moto = Moto::start();
    let aws = Moto::aws(&moto.env(&[])).await;
    let ec2 = aws.client("EC2", aws_sdk_ec2::Client::new);
    let vol =
        fleetkeeper_tests::ec2::volume(&ec2, "us-east-1a", &[("fleetkeeper:backup", "daily")])
            .await;
    let seeder = Ec2Ebs::new("us-east-1".into(), ec2);
    let tags = snapshot_janitor::plan::create::managed_tags(&vol, "daily");
    let seeded = run_bounded(
        (0..SNAPSHOTS).collect(),
        8,
        None,
        Budget::unlimited(),
        |_| {
            let (seeder, vol, tags) = (&seeder, &vol, &tags);
            async move { seeder.create(vol, "bench", tags).await.is_ok() }
        },
    )
    .await;
    assert!(seeded.results.iter().all(|ok| *ok));

    let proxy = FaultProxy::start(&moto.endpoint());
    proxy.bucket("ec2:DeleteSnapshot", BUCKET);
    let paced = BUCKET.headroom(0.9);
    let burst = paced.burst.to_string();
    let rate = paced.per_second.to_string();
    let env = Moto::env_for(
        &proxy.endpoint(),
        &[
            ("KEEP_LAST", "1"),
            ("MAX_DELETES", "10000"),
            ("SNAPSHOT_RATE_BURST", &burst),
            ("SNAPSHOT_RATE_PER_SECOND", &rate),
            ("AWS_MAX_ATTEMPTS", "5"),
        ],
    );
    let config = Config::from_env(&env).unwrap();
    let aws = Moto::aws(&env).await;
    let ebs = Ec2Ebs::new(
        "us-east-1".into(),
        aws.client("EC2", aws_sdk_ec2::Client::new),
    );
    let limiter = RateLimiter::new(config.rate);

    // Observe and plan first; only the deletions are timed.
    let observe = Instant::now();
    let snapshots = ebs.our_snapshots().await.unwrap();
    let live = [vol.clone()].into_iter().collect();
    let decisions = decide(
        &snapshots,
        &live,
        &config.rules,
        &config.time_zone,
        jiff::Timestamp::now(),
    );
    let observe_secs = observe.elapsed().as_secs_f64();
    let limits = Limits {
        snapshots: &limiter,
        budget: Budget::unlimited(),
        max_deletes: config.max_deletes,
    };
    let start = Instant::now();
    let out = apply(
        &ebs,
        &CreatePlan::default(),
        &decisions,
        // Nothing is created here, so nothing is sealed.
        &fleetkeeper::seal::KeyRing::default(),
        config.mode,
        &limits,
        &config.freeze,
    )
    .await;
    let secs = start.elapsed().as_secs_f64();

    let deleted = out.applied.done.len();
    let allowed_rate = (BUCKET.burst as f64 + BUCKET.per_second * secs) / secs;
    let achieved = deleted as f64 / secs;
    let throttled = proxy.injected("ec2:DeleteSnapshot");
    println!(
        "snapshot-janitor deletes: {deleted} in {secs:.1} s = {achieved:.1}/s; the bucket (burst {}, {}/s) allows \
         {allowed_rate:.1}/s over that time: fraction {:.3}; limiter paced at burst {} and {:.1}/s; \
         throttled calls: {throttled}; failed: {}; (observing {SNAPSHOTS} snapshots took {observe_secs:.1} s, not counted)",
        BUCKET.burst,
        BUCKET.per_second,
        achieved / allowed_rate,
        paced.burst,
        paced.per_second,
        out.applied.failed.len()
    );
    assert_eq!(deleted, SNAPSHOTS - 1, "{:?}", out.applied.failed.first());
}
