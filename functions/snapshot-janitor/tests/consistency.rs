//! Application-consistent sets against moto, through the fault proxy, which records the order
//! of the calls. moto's SSM accepts any document and answers every command invocation
//! "Success", so a phase that fails is the proxy rewriting GetCommandInvocation's answer, and a
//! CreateSnapshots that fails is the proxy throttling it: what moto cannot be made to do.

use std::collections::BTreeMap;

use fleetkeeper::exec::Budget;
use fleetkeeper::report::Entry;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper_tests::seal::create_key;
use fleetkeeper_tests::{Fault, FaultProxy, Moto, Rule, clock};
use serde_json::{Value, json};
use snapshot_janitor::config::Config;
use snapshot_janitor::handler::run;
use snapshot_janitor::report::JanitorReport;

const DOCUMENT: &str = "fleetkeeper-freeze";

struct World {
    moto: Moto,
    proxy: FaultProxy,
    ec2: aws_sdk_ec2::Client,
    /// Asks for application consistency.
    db: String,
    /// Asks for nothing but a daily set.
    web: String,
}

async fn world() -> World {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    let aws = Moto::aws(&moto.env(&[])).await;
    let ec2 = aws.client("EC2", aws_sdk_ec2::Client::new);
    let db = fleetkeeper_tests::ec2::launch(
        &ec2,
        1,
        &[
            ("fleetkeeper:backup", "daily"),
            ("fleetkeeper:backup-consistency", "application"),
        ],
    )
    .await
    .remove(0);
    let web = fleetkeeper_tests::ec2::launch(&ec2, 1, &[("fleetkeeper:backup", "daily")])
        .await
        .remove(0);
    World {
        moto,
        proxy,
        ec2,
        db,
        web,
    }
}

impl World {
    /// One run through the proxy, now, with the freeze settings and `extra`; its report and
    /// its metrics.
    async fn run(&self, extra: &[(&str, &str)]) -> (JanitorReport, Value) {
        let mut pairs = vec![
            ("CONSISTENCY_DOCUMENT", DOCUMENT),
            ("COMMAND_POLL_MS", "10"),
            ("PRE_TIMEOUT_SECONDS", "2"),
        ];
        pairs.extend_from_slice(extra);
        let env = Moto::env_for(&self.proxy.endpoint(), &pairs);
        let config = Config::from_env(&env).unwrap();
        create_key(&env).await;
        let aws = Moto::aws(&env).await;
        let places = snapshot_janitor::places(&aws, snapshot_janitor::keys(&aws, &config), &config);
        let mut metrics = Metrics::for_function("snapshot-janitor");
        let now = clock::now();
        let report = run(
            &places,
            &config,
            &json!({}),
            now,
            Budget::unlimited(),
            &mut metrics,
        )
        .await
        .unwrap();
        let line = metrics.lines(now).remove(0);
        (report, serde_json::from_str(&line).unwrap())
    }

    /// The phases sent to `instance`, in order, as the proxy saw them go (moto's record of a
    /// command without Targets names every instance it has).
    fn phases(&self, instance: &str) -> Vec<String> {
        self.proxy
            .bodies("ssm:SendCommand")
            .iter()
            .map(|b| serde_json::from_str::<Value>(b).unwrap())
            .filter(|c| c["InstanceIds"] == json!([instance]))
            .map(|c| {
                assert_eq!(c["DocumentName"], DOCUMENT, "only the configured document");
                c["Parameters"]["phase"][0].as_str().unwrap().to_owned()
            })
            .collect()
    }

    /// The tags of each snapshot of `instance`.
    async fn snapshots_of(&self, instance: &str) -> Vec<BTreeMap<String, String>> {
        let out = self
            .ec2
            .describe_snapshots()
            .owner_ids("self")
            .send()
            .await
            .unwrap();
        out.snapshots()
            .iter()
            .map(|s| {
                s.tags()
                    .iter()
                    .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
                    .collect::<BTreeMap<_, _>>()
            })
            .filter(|t| t.get("fleetkeeper:instance-id").map(String::as_str) == Some(instance))
            .collect()
    }

    /// A phase's answer rewritten to `status`: the next `n` GetCommandInvocation calls.
    fn phase_answers(&self, status: &str, n: u32) {
        self.proxy.add(
            Rule::new(Fault::Rewrite {
                from: "\"Success\"".into(),
                to: format!("\"{status}\""),
            })
            .on("ssm:GetCommandInvocation")
            .first(n),
        );
    }
}

fn entry<'a>(list: &'a [Entry], action: &str, target: &str) -> Option<&'a Entry> {
    list.iter()
        .find(|e| e.action == action && e.target == target)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_application_consistent_set_is_frozen_snapshotted_and_thawed_in_that_order() {
    let w = world().await;
    let (report, metrics) = w.run(&[]).await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    // pre, the db's CreateSnapshots, post: the two commands surround exactly one set.
    let seq = w.proxy.sequence();
    let sent: Vec<usize> = (0..seq.len())
        .filter(|i| seq[*i] == "ssm:SendCommand")
        .collect();
    assert_eq!(sent.len(), 2, "{seq:?}");
    let between = seq[sent[0]..sent[1]]
        .iter()
        .filter(|a| *a == "ec2:CreateSnapshots")
        .count();
    assert_eq!(between, 1, "{seq:?}");
    assert_eq!(w.phases(&w.db), ["pre", "post"]);
    // The instance without the tag never gets a command, and its set says crash.
    assert!(w.phases(&w.web).is_empty());
    let db = w.snapshots_of(&w.db).await;
    assert!(!db.is_empty());
    for tags in &db {
        assert_eq!(tags["fleetkeeper:consistency"], "application");
        let ms: u64 = tags["fleetkeeper:freeze-ms"].parse().unwrap();
        assert!(ms < 60_000, "{ms}");
        assert!(
            tags.contains_key("fleetkeeper:seal"),
            "sealed over the freeze time"
        );
    }
    for tags in w.snapshots_of(&w.web).await {
        assert_eq!(tags["fleetkeeper:consistency"], "crash");
        assert!(!tags.contains_key("fleetkeeper:freeze-ms"));
    }
    let set = entry(&report.done, "create-snapshot-set", &w.db).unwrap();
    let detail = set.detail.as_ref().unwrap();
    assert_eq!(detail["consistency"], "application");
    assert!(detail["freeze_ms"].is_u64(), "{detail}");
    assert_eq!(metrics["ThawFailures"], 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_pre_phase_skips_the_set_or_takes_it_crash_consistent_and_says_so() {
    let w = world().await;
    w.phase_answers("Failed", 1);
    let (report, _) = w.run(&[]).await;
    let failed = report
        .failed
        .iter()
        .find(|f| f.target == w.db && f.action == "create-snapshot-set")
        .unwrap_or_else(|| panic!("{:?}", report.failed));
    assert!(
        failed.error.contains("the pre phase failed"),
        "{}",
        failed.error
    );
    assert!(
        failed.error.contains("ON_PRE_FAILURE=skip"),
        "{}",
        failed.error
    );
    assert!(
        w.snapshots_of(&w.db).await.is_empty(),
        "no snapshot this period"
    );
    assert_eq!(w.phases(&w.db), ["pre", "post"], "thawed all the same");
    // The next run, told to fall back: taken, crash-consistent, and said.
    w.phase_answers("Failed", 1);
    let (report, _) = w.run(&[("ON_PRE_FAILURE", "crash-consistent")]).await;
    let set = entry(&report.done, "create-snapshot-set", &w.db)
        .unwrap_or_else(|| panic!("{:?}", report.failed));
    let detail = set.detail.as_ref().unwrap();
    assert_eq!(detail["consistency"], "crash");
    assert!(
        detail["note"]
            .as_str()
            .unwrap()
            .contains("taken crash-consistent")
    );
    for tags in w.snapshots_of(&w.db).await {
        assert_eq!(tags["fleetkeeper:consistency"], "crash");
    }
    assert_eq!(w.phases(&w.db), ["pre", "post", "pre", "post"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_snapshots_that_fails_still_thaws() {
    let w = world().await;
    w.proxy
        .add(Rule::new(Fault::Throttle).on("ec2:CreateSnapshots"));
    let (report, _) = w.run(&[("AWS_MAX_ATTEMPTS", "1")]).await;
    assert!(
        report
            .failed
            .iter()
            .any(|f| f.target == w.db && f.action == "create-snapshot-set"),
        "{:?}",
        report.failed
    );
    assert_eq!(w.phases(&w.db), ["pre", "post"]);
    assert!(w.snapshots_of(&w.db).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_phase_that_fails_is_tried_again_then_alarmed() {
    let w = world().await;
    // The pre phase's answer goes through; every answer after it says Failed.
    w.proxy.add(
        Rule::new(Fault::Latency(std::time::Duration::ZERO))
            .on("ssm:GetCommandInvocation")
            .first(1),
    );
    w.phase_answers("Failed", 100);
    let (report, metrics) = w.run(&[]).await;
    assert_eq!(w.phases(&w.db), ["pre", "post", "post"], "retried once");
    let thaw = report
        .failed
        .iter()
        .find(|f| f.target == w.db && f.action == "thaw")
        .unwrap_or_else(|| panic!("{:?}", report.failed));
    assert!(thaw.error.contains("may still be frozen"), "{}", thaw.error);
    assert_eq!(metrics["ThawFailures"], 1.0);
    // The set itself was taken, application-consistent (the freeze held while it was).
    assert!(entry(&report.done, "create-snapshot-set", &w.db).is_some());
    drop(w.moto);
}
