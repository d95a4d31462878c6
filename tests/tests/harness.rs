//! The harness itself: moto starts and is reached through the shared loader, every fault kind
//! of the proxy is produced in its real shape, and the shared retry settings ride over the
//! transient ones. A fault proxy stands in for what moto cannot do (throttling, 5xx, drops).

use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use fleetkeeper::AwsError;
use fleetkeeper::error::{AwsErrorKind, aws_err};
use fleetkeeper::exec::{BucketSpec, Budget, RateLimiter, buckets, run_bounded};
use fleetkeeper_tests::{Fault, FaultProxy, Moto, Rule};

/// A client from the shared loader, pointed at `endpoint`, with `attempts` per call.
async fn via<C>(endpoint: String, attempts: &str, service: &str, make: fn(&SdkConfig) -> C) -> C {
    let aws = Moto::aws(&Moto::env_for(&endpoint, &[("AWS_MAX_ATTEMPTS", attempts)])).await;
    aws.client(service, make)
}

async fn ec2_via(endpoint: &str, attempts: &str) -> aws_sdk_ec2::Client {
    via(
        endpoint.to_owned(),
        attempts,
        "EC2",
        aws_sdk_ec2::Client::new,
    )
    .await
}

async fn describe(ec2: &aws_sdk_ec2::Client) -> Result<usize, AwsError> {
    let out = ec2
        .describe_regions()
        .send()
        .await
        .map_err(aws_err("ec2:DescribeRegions"))?;
    Ok(out.regions().len())
}

/// With one attempt per call, one injected `fault` fails DescribeRegions (the error is returned
/// for the caller to check); with the shared default of three attempts, two in a row are
/// ridden over and the third attempt goes through.
async fn fails_once_rides_over_twice(proxy: &FaultProxy, fault: Fault) -> AwsError {
    proxy.clear();
    proxy.add(Rule::new(fault.clone()).on("ec2:DescribeRegions").first(1));
    let err = describe(&ec2_via(&proxy.endpoint(), "1").await)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{fault:?} must be retryable: {err}");

    proxy.clear();
    proxy.add(Rule::new(fault.clone()).on("ec2:DescribeRegions").first(2));
    let ridden = describe(&ec2_via(&proxy.endpoint(), "3").await).await;
    assert!(ridden.is_ok(), "{fault:?}: {ridden:?}");
    assert_eq!(
        proxy.count("ec2:DescribeRegions"),
        3,
        "{fault:?}: two failed, the third went through"
    );
    assert_eq!(proxy.injected("ec2:DescribeRegions"), 2);
    err
}

#[tokio::test]
async fn moto_starts_and_the_shared_loader_reaches_it() {
    let moto = Moto::start();
    let ec2 = ec2_via(&moto.endpoint(), "1").await;
    assert!(
        describe(&ec2).await.unwrap() > 10,
        "moto lists the AWS regions"
    );

    // A real write and read back: moto keeps state between calls.
    fleetkeeper_tests::ec2::launch(&ec2, 2, &[]).await;
    let count = |out: aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput| {
        out.reservations()
            .iter()
            .map(|r| r.instances().len())
            .sum::<usize>()
    };
    assert_eq!(count(ec2.describe_instances().send().await.unwrap()), 2);

    // Reset isolates one test's state from the next.
    moto.reset();
    assert_eq!(count(ec2.describe_instances().send().await.unwrap()), 0);
}

#[test]
fn missing_moto_says_to_run_make_setup() {
    let err = Moto::start_with(std::path::Path::new("/nonexistent/moto_server"))
        .err()
        .expect("starting a missing moto must fail");
    assert!(err.contains("make setup"), "{err}");
}

#[tokio::test]
async fn per_service_endpoint_and_s3_path_style() {
    let moto = Moto::start();
    let dead = format!("http://127.0.0.1:{}", fleetkeeper_tests::moto::free_port());
    // The global endpoint is dead; only EC2 and S3 are pointed at moto.
    let env = Moto::env_for(
        &dead,
        &[
            ("AWS_ENDPOINT_URL_EC2", &moto.endpoint()),
            ("AWS_ENDPOINT_URL_S3", &moto.endpoint()),
            ("AWS_MAX_ATTEMPTS", "1"),
        ],
    );
    let aws = Moto::aws(&env).await;
    assert!(
        describe(&aws.client("EC2", aws_sdk_ec2::Client::new))
            .await
            .is_ok()
    );
    let ssm = aws.client("SSM", aws_sdk_ssm::Client::new);
    let err = ssm
        .describe_parameters()
        .send()
        .await
        .map_err(aws_err("ssm:DescribeParameters"))
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::Dispatch, "{err}");

    // Path-style: a bucket name that is no valid host label still works against moto.
    let s3 = aws.s3();
    s3.create_bucket()
        .bucket("fleetkeeper.demo.bucket")
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("fleetkeeper.demo.bucket")
        .key("a b/c.txt")
        .body(b"hello".to_vec().into())
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket("fleetkeeper.demo.bucket")
        .key("a b/c.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"hello"
    );
}

#[tokio::test]
async fn ec2_request_limit_exceeded_is_ridden_over() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    let err = fails_once_rides_over_twice(&proxy, Fault::Throttle).await;
    assert_eq!(err.code(), Some("RequestLimitExceeded"), "{err}");
    assert!(err.is_throttling());
}

#[tokio::test]
async fn ssm_throttling_exception_is_ridden_over() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    let ssm_via =
        |attempts: &'static str| via(proxy.endpoint(), attempts, "SSM", aws_sdk_ssm::Client::new);
    ssm_via("1")
        .await
        .put_parameter()
        .name("/fleetkeeper/test")
        .value("v1")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();

    proxy.add(Rule::new(Fault::Throttle).on("ssm:GetParameter").first(1));
    let err = ssm_via("1")
        .await
        .get_parameter()
        .name("/fleetkeeper/test")
        .send()
        .await
        .map_err(aws_err("ssm:GetParameter"))
        .unwrap_err();
    assert_eq!(err.code(), Some("ThrottlingException"), "{err}");
    assert!(err.is_retryable());

    proxy.clear();
    proxy.add(Rule::new(Fault::Throttle).on("ssm:GetParameter").first(2));
    let got = ssm_via("3")
        .await
        .get_parameter()
        .name("/fleetkeeper/test")
        .send()
        .await
        .unwrap();
    assert_eq!(got.parameter().and_then(|p| p.value()), Some("v1"));
    assert_eq!(proxy.count("ssm:GetParameter"), 3);
}

#[tokio::test]
async fn route53_throttling_and_prior_request_not_complete_are_ridden_over() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    let r53_via = |attempts: &'static str| {
        via(
            proxy.endpoint(),
            attempts,
            "ROUTE_53",
            aws_sdk_route53::Client::new,
        )
    };
    for (fault, code) in [
        (Fault::Throttle, "Throttling"),
        (Fault::PriorRequestNotComplete, "PriorRequestNotComplete"),
    ] {
        proxy.clear();
        proxy.add(
            Rule::new(fault.clone())
                .on("route53:ListHostedZones")
                .first(1),
        );
        let err = r53_via("1")
            .await
            .list_hosted_zones()
            .send()
            .await
            .map_err(aws_err("route53:ListHostedZones"))
            .unwrap_err();
        assert_eq!(err.code(), Some(code), "{err}");
        assert!(err.is_retryable(), "{code} must be retryable");

        proxy.clear();
        proxy.add(Rule::new(fault).on("route53:ListHostedZones").first(2));
        r53_via("3").await.list_hosted_zones().send().await.unwrap();
        assert_eq!(proxy.count("route53:ListHostedZones"), 3, "{code}");
    }
}

#[tokio::test]
async fn server_errors_are_ridden_over() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    for status in [500u16, 503] {
        let err = fails_once_rides_over_twice(&proxy, Fault::Status(status)).await;
        assert_eq!(err.http_status, Some(status), "{err}");
    }
}

#[tokio::test]
async fn dropped_connections_are_ridden_over() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    let err = fails_once_rides_over_twice(&proxy, Fault::Drop).await;
    assert!(
        matches!(err.kind, AwsErrorKind::Dispatch | AwsErrorKind::Response),
        "{err:?}"
    );
}

#[tokio::test]
async fn latency_is_added() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    let ec2 = ec2_via(&proxy.endpoint(), "1").await;
    describe(&ec2).await.unwrap(); // warm moto's EC2 backend
    proxy.add(Rule::new(Fault::Latency(Duration::from_millis(400))).on("ec2:"));
    let t = Instant::now();
    describe(&ec2).await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(
        proxy.injected("ec2:DescribeRegions"),
        0,
        "latency is not an error"
    );
}

#[tokio::test]
async fn rate_based_faults_hit_about_that_share() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    let ec2 = ec2_via(&proxy.endpoint(), "1").await;
    proxy.add(
        Rule::new(Fault::Status(500))
            .on("ec2:DescribeRegions")
            .rate(0.5),
    );
    let mut failed = 0;
    for _ in 0..40 {
        if describe(&ec2).await.is_err() {
            failed += 1;
        }
    }
    assert_eq!(failed as u64, proxy.injected("ec2:DescribeRegions"));
    assert!((8..=32).contains(&failed), "{failed} of 40");
}

#[tokio::test]
async fn token_bucket_throttles_the_excess_and_the_shared_limiter_avoids_it() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    let ec2 = ec2_via(&proxy.endpoint(), "1").await;
    describe(&ec2).await.unwrap();
    // Ten quick calls against a bucket of 3 that barely refills: most are throttled.
    proxy.bucket(
        "ec2:DescribeRegions",
        BucketSpec {
            burst: 3,
            per_second: 0.2,
        },
    );
    let mut throttled = 0;
    for _ in 0..10 {
        if let Err(e) = describe(&ec2).await {
            assert_eq!(e.code(), Some("RequestLimitExceeded"));
            throttled += 1;
        }
    }
    assert!(throttled >= 5, "only {throttled} of 10 throttled");

    // The proxy plays StartInstances' real bucket (5 burst, 2/s); the shared limiter paces the
    // same ten calls at 90% of it: none is throttled. (Paced at exactly 100%, about half were:
    // AWS counts on arrival, and a call that arrives a millisecond early is refused.)
    let bucket = buckets::EC2_START_INSTANCES;
    proxy.clear();
    proxy.bucket("ec2:DescribeRegions", bucket);
    let limiter = RateLimiter::new(bucket.headroom(0.9));
    let batch = run_bounded(
        (0..10).collect(),
        4,
        Some(&limiter),
        Budget::unlimited(),
        |_: u32| {
            let ec2 = ec2.clone();
            async move { describe(&ec2).await }
        },
    )
    .await;
    let errors: Vec<_> = batch
        .results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let injected = proxy.injected("ec2:DescribeRegions");
    assert!(
        injected <= 2,
        "the limiter should keep throttling rare, got {injected}"
    );
    assert_eq!(proxy.count("ec2:DescribeRegions"), 10 + injected);
}

#[tokio::test]
async fn s3_slow_down_is_ridden_over() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    let endpoint = proxy.endpoint();
    let s3_via = |attempts: &'static str| {
        let endpoint = endpoint.clone();
        async move {
            Moto::aws(&Moto::env_for(&endpoint, &[("AWS_MAX_ATTEMPTS", attempts)]))
                .await
                .s3()
        }
    };
    s3_via("1")
        .await
        .create_bucket()
        .bucket("renditions")
        .send()
        .await
        .unwrap();
    let action = "s3:GET/renditions";
    proxy.add(Rule::new(Fault::Throttle).on(action).first(1));
    let err = s3_via("1")
        .await
        .list_objects_v2()
        .bucket("renditions")
        .send()
        .await
        .map_err(aws_err("s3:ListObjectsV2"))
        .unwrap_err();
    assert_eq!(err.code(), Some("SlowDown"), "{err}");
    assert!(err.is_throttling());

    proxy.clear();
    proxy.add(Rule::new(Fault::Throttle).on(action).first(2));
    s3_via("3")
        .await
        .list_objects_v2()
        .bucket("renditions")
        .send()
        .await
        .unwrap();
    assert_eq!(proxy.count(action), 3);
}
