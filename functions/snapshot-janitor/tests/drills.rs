//! Restore drills against moto: a backup restored to a volume, measured and deleted, in its
//! own region and in a copy region; a drill volume a run could not delete (DeleteVolume failed
//! through the fault proxy: what a crash leaves) deleted by the next run; every tag of it
//! copied onto a foreign volume, which is never touched. moto makes volumes available at once.

use fleetkeeper::exec::Budget;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper_tests::seal::create_key;
use fleetkeeper_tests::{Fault, FaultProxy, Moto, Rule, clock};
use serde_json::{Value, json};
use snapshot_janitor::config::Config;
use snapshot_janitor::handler::run;
use snapshot_janitor::report::JanitorReport;

const DRILL_TAG: &str = "fleetkeeper:restore-drill";

/// One run through `endpoint`, now, drilling every day; its report and metrics.
async fn invoke(endpoint: &str, extra: &[(&str, &str)]) -> (JanitorReport, Value) {
    let mut pairs = vec![("RESTORE_DRILL_DAYS", "1"), ("DRILL_POLL_MS", "20")];
    pairs.extend_from_slice(extra);
    let env = Moto::env_for(endpoint, &pairs);
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

async fn ec2_in(moto: &Moto, region: &str) -> aws_sdk_ec2::Client {
    Moto::aws(&moto.env(&[("AWS_REGION", region)]))
        .await
        .client("EC2", aws_sdk_ec2::Client::new)
}

/// The volumes of a region that carry the drill tag.
async fn drill_volumes(ec2: &aws_sdk_ec2::Client) -> Vec<String> {
    ec2.describe_volumes()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag-key")
                .values(DRILL_TAG)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .volumes()
        .iter()
        .map(|v| v.volume_id().unwrap().to_owned())
        .collect()
}

async fn backed_up_volume(ec2: &aws_sdk_ec2::Client) -> String {
    ec2.create_volume()
        .availability_zone("us-east-1a")
        .size(8)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Volume)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("fleetkeeper:backup")
                        .value("daily")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .volume_id()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_restores_measures_and_deletes_in_the_home_and_a_copy_region() {
    let moto = Moto::start();
    let east = ec2_in(&moto, "us-east-1").await;
    let west = ec2_in(&moto, "us-west-2").await;
    backed_up_volume(&east).await;
    let copies = [("COPY_TO", "us-west-2")];
    // The first run takes the snapshot and drills it; the second copies it and drills the copy.
    let (first, _) = invoke(&moto.endpoint(), &copies).await;
    let (second, metrics) = invoke(&moto.endpoint(), &copies).await;
    let drills = first
        .fields
        .restore_drills
        .iter()
        .chain(&second.fields.restore_drills)
        .collect::<Vec<_>>();
    for region in ["us-east-1", "us-west-2"] {
        let ok = drills
            .iter()
            .find(|d| d.region == region && d.status == "ok")
            .unwrap_or_else(|| panic!("no drill in {region}: {drills:?}"));
        assert!(ok.seconds_to_available.is_some(), "{ok:?}");
        assert!(ok.volume_id.is_some());
    }
    let copy_drill = drills.iter().find(|d| d.region == "us-west-2").unwrap();
    let copy = west
        .describe_snapshots()
        .snapshot_ids(&copy_drill.snapshot_id)
        .send()
        .await
        .unwrap();
    let tags = copy.snapshots()[0].tags();
    assert!(
        tags.iter().any(|t| t.key() == Some("fleetkeeper:copy-of")),
        "the copy region drills the copy"
    );
    assert!(
        tags.iter()
            .any(|t| t.key() == Some("fleetkeeper:consistency") && t.value() == Some("crash")),
        "a copy says how consistent its source is"
    );
    assert!(drill_volumes(&east).await.is_empty(), "deleted after");
    assert!(drill_volumes(&west).await.is_empty(), "deleted after");
    assert_eq!(metrics["RestoreDrillFailures"], 0.0);
    assert!(metrics["RestoreDrillSeconds"].is_f64(), "{metrics}");
    // Without RESTORE_DRILL_DAYS no drill is made.
    let (off, _) = invoke(&moto.endpoint(), &[("RESTORE_DRILL_DAYS", "0")]).await;
    assert!(off.fields.restore_drills.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_left_drill_volume_is_cleaned_up_and_a_forged_one_never_touched() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    let east = ec2_in(&moto, "us-east-1").await;
    backed_up_volume(&east).await;
    // The run restores, then cannot delete its drill volume: left, as after a crash.
    proxy.add(Rule::new(Fault::Status(500)).on("ec2:DeleteVolume"));
    let (first, metrics) = invoke(&proxy.endpoint(), &[("AWS_MAX_ATTEMPTS", "1")]).await;
    let left = drill_volumes(&east).await;
    assert_eq!(left.len(), 1, "{:?}", first.fields.restore_drills);
    let failed = &first.fields.restore_drills[0];
    assert_eq!(failed.status, "failed");
    assert!(
        failed
            .reason
            .as_deref()
            .unwrap()
            .contains("was not deleted")
    );
    assert_eq!(metrics["RestoreDrillFailures"], 1.0);
    assert!(first.failed.iter().any(|f| f.action == "restore-drill"));

    // Someone copies every tag of it, seal included, onto a volume of their own.
    let theirs = east
        .create_volume()
        .availability_zone("us-east-1a")
        .size(8)
        .send()
        .await
        .unwrap()
        .volume_id()
        .unwrap()
        .to_owned();
    let genuine = east
        .describe_volumes()
        .volume_ids(&left[0])
        .send()
        .await
        .unwrap();
    let tags = genuine.volumes()[0].tags().to_vec();
    assert!(
        tags.iter().any(|t| t.key() == Some("fleetkeeper:seal")),
        "sealed"
    );
    east.create_tags()
        .resources(&theirs)
        .set_tags(Some(tags))
        .send()
        .await
        .unwrap();

    // The next run, with drills turned off since, still cleans up after the earlier one.
    proxy.clear();
    let (next, metrics) = invoke(&proxy.endpoint(), &[("RESTORE_DRILL_DAYS", "0")]).await;
    assert_eq!(metrics["RestoreDrillFailures"], 0.0);
    let remaining = drill_volumes(&east).await;
    assert_eq!(
        remaining,
        std::slice::from_ref(&theirs),
        "ours deleted, theirs kept"
    );
    let cleaned = next
        .fields
        .restore_drills
        .iter()
        .find(|d| d.volume_id.as_deref() == Some(left[0].as_str()))
        .unwrap();
    assert_eq!(cleaned.status, "ok", "{cleaned:?}");
    let kept = next
        .fields
        .restore_drills
        .iter()
        .find(|d| d.volume_id.as_deref() == Some(theirs.as_str()))
        .unwrap();
    assert_eq!(kept.status, "not-ours");
    assert_eq!(metrics["ForgedTags"], 1.0);
}
