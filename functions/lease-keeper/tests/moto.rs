//! lease-keeper end to end against moto: a lease warned by e-mail (moto's SES keeps what it
//! sends, read back here), stopped at expiry, terminated after the grace with final snapshots
//! taken first; a dry run changes nothing; a failed snapshot keeps the instance. The fault
//! proxy fails CreateSnapshot (moto never does).

use fleetkeeper::exec::{Budget, RateLimiter};
use fleetkeeper::report::Status;
use fleetkeeper::seal::{Keys, SecretKeys};
use fleetkeeper::telemetry::Metrics;
use fleetkeeper_tests::clock::{self, hours_after, minutes_after, rfc3339};
use fleetkeeper_tests::ec2::{instance_state, instance_tag, launch};
use fleetkeeper_tests::seal::{create_key, seal_lease};
use fleetkeeper_tests::{Fault, FaultProxy, Moto, Rule};
use jiff::Timestamp;
use jiff::civil::Weekday;
use lease_keeper::config::Config;
use lease_keeper::handler::{Place, run};
use lease_keeper::ports::{Ec2Instances, Mailer};
use lease_keeper::report::LeaseReport;
use serde_json::{Value, json};

const SENDER: &str = "fleet@example.com";

struct World {
    moto: Moto,
    proxy: FaultProxy,
    ec2: aws_sdk_ec2::Client,
}

/// The seal key, read from moto's Secrets Manager as the function reads it.
fn keys(aws: &fleetkeeper::aws::Aws) -> Keys {
    Keys::Secret(SecretKeys::new(
        aws.client("SECRETS_MANAGER", aws_sdk_secretsmanager::Client::new),
        fleetkeeper::seal::DEFAULT_SECRET,
    ))
}

/// The lease's end, from the real clock: the next Tuesday noon (UTC) after today, so every
/// event time of a test is after the instances moto launches with the real clock.
fn lease_end() -> Timestamp {
    clock::at(clock::next(Weekday::Tuesday, "UTC"), "12:00", "UTC")
}

impl World {
    async fn run(&self, at: Timestamp, extra: &[(&str, &str)]) -> LeaseReport {
        let mut pairs = vec![
            ("REGIONS", "us-east-1"),
            ("SENDER", SENDER),
            ("OWNER_DOMAINS", "example.com"),
        ];
        pairs.extend_from_slice(extra);
        let env = Moto::env_for(&self.proxy.endpoint(), &pairs);
        let config = Config::from_env(&env).unwrap();
        let aws = Moto::aws(&env).await;
        let targets = vec![Place {
            port: Ec2Instances::new(
                "us-east-1".into(),
                aws.client("EC2", aws_sdk_ec2::Client::new),
            ),
            limits: RateLimiter::new(config.rate),
        }];
        let mailer = Mailer::Email {
            client: aws.client("SESV2", aws_sdk_sesv2::Client::new),
            sender: SENDER.into(),
        };
        let mut metrics = Metrics::for_function("lease-keeper");
        let event = json!({"detail-type": "Scheduled Event", "time": rfc3339(at)});
        let now = clock::now();
        run(
            &targets,
            &mailer,
            &keys(&aws),
            &config,
            &event,
            now,
            Budget::unlimited(),
            &mut metrics,
        )
        .await
        .unwrap()
    }

    /// The e-mails moto's SES has sent.
    fn mail(&self) -> Vec<Value> {
        let (status, body) = self.moto.request("GET", "/moto-api/data.json").unwrap();
        assert_eq!(status, 200);
        let data: Value = serde_json::from_str(&body).unwrap();
        data["ses"]["Message"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    async fn state(&self, id: &str) -> String {
        instance_state(&self.ec2, id).await
    }

    async fn final_snapshots(&self, id: &str) -> Vec<aws_sdk_ec2::types::Snapshot> {
        let out = self
            .ec2
            .describe_snapshots()
            .owner_ids("self")
            .send()
            .await
            .unwrap();
        out.snapshots()
            .iter()
            .filter(|s| {
                s.tags()
                    .iter()
                    .any(|t| t.key() == Some("fleetkeeper:instance-id") && t.value() == Some(id))
            })
            .cloned()
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn warn_stop_then_terminate_with_final_snapshots() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    let aws = Moto::aws(&moto.env(&[])).await;
    let ec2 = aws.client("EC2", aws_sdk_ec2::Client::new);
    aws.client("SESV2", aws_sdk_sesv2::Client::new)
        .create_email_identity()
        .email_identity(SENDER)
        .send()
        .await
        .unwrap();
    let w = World { moto, proxy, ec2 };
    let end = lease_end();
    let expires = rfc3339(end);
    let lease = [
        ("Name", "build-box"),
        ("fleetkeeper:expires-at", expires.as_str()),
        ("fleetkeeper:owner", "jane@example.com"),
        ("fleetkeeper:launch-token", "fk-demo"),
    ];
    let id = launch(&w.ec2, 1, &lease).await.remove(0);
    // Sealed as instance-launcher seals what it launches.
    let ring = create_key(&w.moto.env(&[])).await;
    seal_lease(&w.ec2, &ring, &id).await;
    let untouched = launch(&w.ec2, 1, &[("Name", "no-lease")]).await.remove(0);

    // Ten hours before the end: one warning, by e-mail, remembered on the instance.
    let r = w.run(hours_after(end, -10), &[]).await;
    assert_eq!(r.status(), Status::Ok, "{:?}", r.failed);
    assert_eq!(r.done.len(), 1);
    assert_eq!(r.done[0].action, "warn");
    let mail = w.mail();
    assert_eq!(mail.len(), 1);
    assert_eq!(
        mail[0]["destinations"]["ToAddresses"][0],
        "jane@example.com"
    );
    assert_eq!(mail[0]["source"], SENDER);
    // The subject names the instance by id, never by a tag anyone can write.
    let subject = mail[0]["subject"].as_str().unwrap();
    assert!(
        subject.contains(&id) && !subject.contains("build-box"),
        "{subject}"
    );
    let body = mail[0]["body"].as_str().unwrap();
    assert!(
        body.contains(&rfc3339(end)) && body.contains("7 days later"),
        "{body}"
    );
    assert_eq!(
        instance_tag(&w.ec2, &id, "fleetkeeper:warned-for")
            .await
            .as_deref(),
        Some(rfc3339(end).as_str())
    );
    let again = w.run(hours_after(end, -9), &[]).await;
    assert!(again.done.is_empty());
    assert_eq!(w.mail().len(), 1, "warned once");

    // Expired: stopped, and when it is remembered.
    let r = w.run(minutes_after(end, 30), &[]).await;
    assert_eq!(r.done[0].action, "stop", "{r:?}");
    assert_eq!(w.state(&id).await, "stopped");
    assert_eq!(
        instance_tag(&w.ec2, &id, "fleetkeeper:expired-at")
            .await
            .as_deref(),
        Some(rfc3339(minutes_after(end, 30)).as_str())
    );

    // After the grace, a dry run plans the termination and changes nothing.
    let later = hours_after(end, 7 * 24 + 1);
    let dry = w.run(later, &[("DRY_RUN", "true")]).await;
    assert_eq!(dry.status(), Status::DryRun);
    assert_eq!(dry.planned[0].action, "terminate");
    assert_eq!(w.state(&id).await, "stopped");
    assert!(w.final_snapshots(&id).await.is_empty());

    // The final snapshot cannot be taken: the instance is kept.
    w.proxy.add(
        Rule::new(Fault::Status(500))
            .on("ec2:CreateSnapshot")
            .first(20),
    );
    let r = w.run(later, &[]).await;
    assert_eq!(r.failed.len(), 1, "{r:?}");
    assert_eq!(r.failed[0].action, "terminate");
    assert_eq!(
        w.state(&id).await,
        "stopped",
        "not terminated without its snapshot"
    );
    assert_eq!(w.proxy.count("ec2:TerminateInstances"), 0);

    // Then it can: the snapshot first, tagged, then the termination.
    w.proxy.clear();
    let r = w.run(later, &[]).await;
    assert_eq!(r.status(), Status::Ok, "{:?}", r.failed);
    assert_eq!(r.done[0].action, "terminate");
    let finals = &r.done[0].detail.as_ref().unwrap()["final_snapshots"];
    assert_eq!(
        finals.as_array().unwrap().len(),
        1,
        "the root volume goes with it"
    );
    let snaps = w.final_snapshots(&id).await;
    assert_eq!(snaps.len(), 1);
    let tag = |k: &str| {
        snaps[0]
            .tags()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .map(str::to_owned)
    };
    assert_eq!(tag("fleetkeeper:final-snapshot").as_deref(), Some("true"));
    assert_eq!(
        tag("fleetkeeper:owner").as_deref(),
        Some("jane@example.com")
    );
    assert!(matches!(
        w.state(&id).await.as_str(),
        "terminated" | "shutting-down"
    ));
    assert_eq!(
        w.state(&untouched).await,
        "running",
        "no lease, never touched"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn more_terminations_than_allowed_change_nothing() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    let ec2 = Moto::aws(&moto.env(&[]))
        .await
        .client("EC2", aws_sdk_ec2::Client::new);
    let end = lease_end();
    let (expires, expired) = (rfc3339(end), rfc3339(minutes_after(end, 30)));
    let lease = [
        ("fleetkeeper:expires-at", expires.as_str()),
        ("fleetkeeper:expired-at", expired.as_str()),
        ("fleetkeeper:owner", "jane@example.com"),
        ("fleetkeeper:launch-token", "fk-demo"),
    ];
    let ids = launch(&ec2, 3, &lease).await;
    let ring = create_key(&moto.env(&[])).await;
    for id in &ids {
        seal_lease(&ec2, &ring, id).await;
    }
    ec2.stop_instances()
        .set_instance_ids(Some(ids.clone()))
        .send()
        .await
        .unwrap();
    let w = World { moto, proxy, ec2 };
    let r = w
        .run(hours_after(end, 19 * 24), &[("MAX_TERMINATIONS", "2")])
        .await;
    assert_eq!(r.status(), Status::Refused, "{r:?}");
    assert!(r.refused.as_deref().unwrap().contains("MAX_TERMINATIONS=2"));
    for id in &ids {
        assert_eq!(w.state(id).await, "stopped");
    }
    assert_eq!(w.proxy.count("ec2:CreateSnapshot"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_no_sender_the_warning_goes_to_the_alerts_topic() {
    let moto = Moto::start();
    let aws = Moto::aws(&moto.env(&[])).await;
    let ec2 = aws.client("EC2", aws_sdk_ec2::Client::new);
    let sns = aws.client("SNS", aws_sdk_sns::Client::new);
    let topic = sns.create_topic().name("alerts").send().await.unwrap();
    let arn = topic.topic_arn().unwrap().to_owned();
    let expires = rfc3339(lease_end());
    let id = launch(
        &ec2,
        1,
        &[
            ("fleetkeeper:expires-at", expires.as_str()),
            ("fleetkeeper:owner", "jane@example.com"),
        ],
    )
    .await
    .remove(0);
    let ring = create_key(&moto.env(&[])).await;
    seal_lease(&ec2, &ring, &id).await;
    let env = Moto::env_for(
        &moto.endpoint(),
        &[("REGIONS", "us-east-1"), ("ALERTS_TOPIC_ARN", &arn)],
    );
    let config = Config::from_env(&env).unwrap();
    let targets = vec![Place {
        port: Ec2Instances::new("us-east-1".into(), ec2.clone()),
        limits: RateLimiter::new(config.rate),
    }];
    let mailer = Mailer::Topic {
        client: sns,
        arn: arn.clone(),
    };
    let mut metrics = Metrics::for_function("lease-keeper");
    let event = json!({"time": rfc3339(hours_after(lease_end(), -6))});
    let r = run(
        &targets,
        &mailer,
        &keys(&aws),
        &config,
        &event,
        clock::now(),
        Budget::unlimited(),
        &mut metrics,
    )
    .await
    .unwrap();
    assert_eq!(r.done.len(), 1, "{r:?}");
    assert_eq!(r.done[0].action, "warn");
    // moto keeps what each topic was sent.
    let (_, body) = moto.request("GET", "/moto-api/data.json").unwrap();
    let data: Value = serde_json::from_str(&body).unwrap();
    let text = data["sns"].to_string();
    assert!(
        text.contains("To jane@example.com") && text.contains(&id),
        "{text:.2000}"
    );
}

/// The strongest forgery: every tag of a genuine, sealed, expired lease (seal included)
/// copied onto someone else's instance. The foreign one is untouched and reported; the
/// genuine one is stopped exactly as before (the control that proves the test can fail). A
/// lease written by hand is kept until adopted, then acted on.
#[tokio::test(flavor = "multi_thread")]
async fn copied_lease_tags_stop_nothing_and_hand_made_leases_wait_for_adoption() {
    use fleetkeeper_tests::seal::copy_every_instance_tag;
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    let aws = Moto::aws(&moto.env(&[])).await;
    let ec2 = aws.client("EC2", aws_sdk_ec2::Client::new);
    aws.client("SESV2", aws_sdk_sesv2::Client::new)
        .create_email_identity()
        .email_identity(SENDER)
        .send()
        .await
        .unwrap();
    let w = World { moto, proxy, ec2 };
    let end = lease_end();
    let expires = rfc3339(end);
    let lease = [
        ("fleetkeeper:expires-at", expires.as_str()),
        ("fleetkeeper:owner", "jane@example.com"),
        ("fleetkeeper:launch-token", "fk-demo"),
    ];
    let genuine = launch(&w.ec2, 1, &lease).await.remove(0);
    let ring = create_key(&w.moto.env(&[])).await;
    seal_lease(&w.ec2, &ring, &genuine).await;
    let foreign = launch(&w.ec2, 1, &[("Name", "payments-db")])
        .await
        .remove(0);
    copy_every_instance_tag(&w.ec2, &genuine, &foreign).await;
    let by_hand = launch(&w.ec2, 1, &lease).await.remove(0);

    let r = w.run(minutes_after(end, 30), &[]).await;
    assert_eq!(r.done.len(), 1, "{r:?}");
    assert_eq!(
        (r.done[0].target.as_str(), r.done[0].action.as_str()),
        (genuine.as_str(), "stop")
    );
    assert_eq!(w.state(&genuine).await, "stopped");
    for id in [&foreign, &by_hand] {
        assert_eq!(w.state(id).await, "running", "{id} must be left alone");
        let skip = r.skipped.iter().find(|s| &s.target == id).expect(id);
        assert!(
            skip.reason
                .starts_with("fleetkeeper tags without a valid seal: not ours"),
            "{}",
            skip.reason
        );
    }
    assert_eq!((r.fields.forged, r.fields.unsealed), (1, 1));
    // The expiry mark sealed the genuine lease again: it is still ours.
    let again = w.run(minutes_after(end, 40), &[]).await;
    assert_eq!(again.fields.forged, 1, "only the foreign one: {again:?}");

    // The hand-made lease: listed by adopt with what EC2 says of it, then adopted and stopped.
    let adopt = |payload: Value| {
        let w = &w;
        async move {
            let env = Moto::env_for(
                &w.moto.endpoint(),
                &[
                    ("REGIONS", "us-east-1"),
                    ("SENDER", SENDER),
                    ("OWNER_DOMAINS", "example.com"),
                ],
            );
            let config = Config::from_env(&env).unwrap();
            let aws = Moto::aws(&env).await;
            let targets = vec![Place {
                port: Ec2Instances::new(
                    "us-east-1".into(),
                    aws.client("EC2", aws_sdk_ec2::Client::new),
                ),
                limits: RateLimiter::new(config.rate),
            }];
            let mailer = Mailer::Topic {
                client: aws.client("SNS", aws_sdk_sns::Client::new),
                arn: "arn:aws:sns:us-east-1:123456789012:unused".into(),
            };
            let mut metrics = Metrics::for_function("lease-keeper");
            run(
                &targets,
                &mailer,
                &keys(&aws),
                &config,
                &payload,
                clock::now(),
                Budget::unlimited(),
                &mut metrics,
            )
            .await
        }
    };
    let listed = adopt(json!({"action": "adopt"})).await.unwrap();
    let planned: Vec<&str> = listed.planned.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(planned, [by_hand.as_str()], "{listed:?}");
    assert_eq!(
        listed.planned[0].detail.as_ref().unwrap()["owner"],
        "jane@example.com"
    );
    let refused = adopt(json!({"action": "adopt", "ids": [foreign, by_hand]}))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("its seal does not verify"),
        "{refused}"
    );
    assert!(refused.to_string().contains("nothing was sealed"));
    let done = adopt(json!({"action": "adopt", "ids": [by_hand]}))
        .await
        .unwrap();
    assert_eq!(done.done.len(), 1, "{done:?}");
    let r = w.run(minutes_after(end, 50), &[]).await;
    assert_eq!(w.state(&by_hand).await, "stopped", "{r:?}");
    assert_eq!(w.state(&foreign).await, "running");
}
