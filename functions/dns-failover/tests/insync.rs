//! PENDING then INSYNC. moto answers every change INSYNC at once, so Route 53 is answered by
//! aws-smithy-mocks here: the change is PENDING on submit and for two polls, then INSYNC; and
//! a change that stays PENDING past the bounded wait is reported PENDING, not failed.

use std::time::Duration;

use aws_sdk_route53::config::{Credentials, Region};
use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsOutput;
use aws_sdk_route53::operation::get_change::GetChangeOutput;
use aws_sdk_route53::types::{ChangeInfo, ChangeStatus};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use dns_failover::config::RecordType;
use dns_failover::ports::{Dns, Route53, Upsert};
use fleetkeeper::exec::Budget;

fn info(status: ChangeStatus) -> ChangeInfo {
    ChangeInfo::builder()
        .id("/change/C2682N5HXP0BZ4")
        .status(status)
        .submitted_at(aws_smithy_types::DateTime::from_secs(1_795_338_000))
        .build()
        .unwrap()
}

fn route53(rules: &[&Rule]) -> Route53 {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::Sequential);
    for r in rules {
        interceptor = interceptor.with_rule(r);
    }
    let conf = aws_sdk_route53::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "mocks"))
        .http_client(create_mock_http_client())
        .interceptor(interceptor)
        .build();
    Route53 {
        client: aws_sdk_route53::Client::from_conf(conf),
        backoff: Duration::from_millis(10),
    }
}

fn upsert() -> Vec<Upsert> {
    vec![Upsert {
        group: "web".into(),
        name: "www.example.com.".into(),
        record_type: RecordType::A,
        ttl: 60,
        values: vec!["198.51.100.20".into()],
    }]
}

#[tokio::test]
async fn waits_from_pending_to_insync() {
    let submit = mock!(aws_sdk_route53::Client::change_resource_record_sets)
        .match_requests(|r| {
            r.hosted_zone_id() == Some("Z0EXAMPLE")
                && r.change_batch().is_some_and(|b| b.changes().len() == 1)
        })
        .then_output(|| {
            ChangeResourceRecordSetsOutput::builder()
                .change_info(info(ChangeStatus::Pending))
                .build()
        });
    let polls = mock!(aws_sdk_route53::Client::get_change)
        .match_requests(|r| r.id() == Some("C2682N5HXP0BZ4"))
        .sequence()
        .output(|| {
            GetChangeOutput::builder()
                .change_info(info(ChangeStatus::Pending))
                .build()
        })
        .times(2)
        .output(|| {
            GetChangeOutput::builder()
                .change_info(info(ChangeStatus::Insync))
                .build()
        })
        .build();
    let r53 = route53(&[&submit, &polls]);
    let s = r53.submit("Z0EXAMPLE", &upsert(), "test").await.unwrap();
    assert_eq!(
        (s.change_id.as_str(), s.status.as_str()),
        ("C2682N5HXP0BZ4", "PENDING")
    );
    let s = r53
        .wait_insync(
            s,
            Duration::from_secs(5),
            Duration::from_millis(10),
            Budget::unlimited(),
        )
        .await
        .unwrap();
    assert_eq!(s.status, "INSYNC");
    assert_eq!(polls.num_calls(), 3);
}

#[tokio::test]
async fn the_wait_is_bounded() {
    let submit = mock!(aws_sdk_route53::Client::change_resource_record_sets).then_output(|| {
        ChangeResourceRecordSetsOutput::builder()
            .change_info(info(ChangeStatus::Pending))
            .build()
    });
    let polls = mock!(aws_sdk_route53::Client::get_change)
        .sequence()
        .output(|| {
            GetChangeOutput::builder()
                .change_info(info(ChangeStatus::Pending))
                .build()
        })
        .repeatedly()
        .build();
    let r53 = route53(&[&submit, &polls]);
    let s = r53.submit("Z0EXAMPLE", &upsert(), "test").await.unwrap();
    let started = std::time::Instant::now();
    let s = r53
        .wait_insync(
            s,
            Duration::from_millis(200),
            Duration::from_millis(20),
            Budget::unlimited(),
        )
        .await
        .unwrap();
    assert_eq!(s.status, "PENDING");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(polls.num_calls() >= 3, "{}", polls.num_calls());
    // A spent budget stops the wait before the first poll.
    let s = r53
        .wait_insync(
            s,
            Duration::from_secs(60),
            Duration::from_millis(20),
            Budget::lasting(Duration::ZERO),
        )
        .await
        .unwrap();
    assert_eq!(s.status, "PENDING");
}
