//! snapshot-janitor's EBS capability against moto: what it reads (only our snapshots, only
//! tagged volumes), what it writes (tags on creation), and how deletes end (done, already
//! gone, in use by one of moto's pre-registered AMIs, dry run).

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use fleetkeeper_tests::Moto;
use snapshot_janitor::create::{MANAGED_BY_TAG, POLICY_TAG, VOLUME_TAG};
use snapshot_janitor::ebs::{Deleted, Ebs, Ec2Ebs};
use snapshot_janitor::retention::State;

async fn volume(ec2: &aws_sdk_ec2::Client, tags: &[(&str, &str)]) -> String {
    let mut req = ec2.create_volume().availability_zone("us-east-1a").size(8);
    if !tags.is_empty() {
        let mut spec = TagSpecification::builder().resource_type(ResourceType::Volume);
        for (k, v) in tags {
            spec = spec.tags(Tag::builder().key(*k).value(*v).build());
        }
        req = req.tag_specifications(spec.build());
    }
    req.send().await.unwrap().volume_id().unwrap().to_owned()
}

#[tokio::test]
async fn reads_only_ours_writes_tags_and_deletes_carefully() {
    let moto = Moto::start();
    let aws = Moto::aws(&moto.env(&[])).await;
    let ec2 = aws.client("EC2", aws_sdk_ec2::Client::new);
    let ebs = Ec2Ebs::new("us-east-1".into(), ec2.clone());

    let tagged = volume(
        &ec2,
        &[("fleetkeeper:backup", "daily"), ("Name", "db-data")],
    )
    .await;
    let untagged = volume(&ec2, &[("Name", "scratch")]).await;
    let vols = ebs.tagged_volumes().await.unwrap();
    assert_eq!(vols.len(), 1);
    assert_eq!(vols[0].id, tagged);
    assert_eq!(vols[0].tags["Name"], "db-data");

    let tags: BTreeMap<String, String> = [
        (MANAGED_BY_TAG, "snapshot-janitor"),
        (POLICY_TAG, "daily"),
        (VOLUME_TAG, tagged.as_str()),
        ("Name", "db-data"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let ours = ebs
        .create(&tagged, "fleetkeeper snapshot-janitor: test", &tags)
        .await
        .unwrap();
    // A foreign snapshot with the very same description is never ours.
    ec2.create_snapshot()
        .volume_id(&untagged)
        .description("fleetkeeper snapshot-janitor: test")
        .send()
        .await
        .unwrap();

    let snaps = ebs.our_snapshots().await.unwrap();
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    let s = &snaps[0];
    assert_eq!(
        (s.id.as_str(), s.volume_id.as_str(), s.policy.as_str()),
        (ours.as_str(), tagged.as_str(), "daily")
    );
    assert!(s.managed);
    assert_eq!(
        s.state,
        State::Completed,
        "moto completes snapshots at once"
    );

    // Dry run: EC2 says it would succeed, nothing goes.
    assert_eq!(ebs.delete(&ours, true).await.unwrap(), Deleted::Done);
    assert_eq!(ebs.our_snapshots().await.unwrap().len(), 1);
    assert_eq!(ebs.delete(&ours, false).await.unwrap(), Deleted::Done);
    assert_eq!(
        ebs.delete(&ours, false).await.unwrap(),
        Deleted::AlreadyGone
    );
    assert!(ebs.our_snapshots().await.unwrap().is_empty());

    // moto pre-registers AMIs backed by snapshots this account owns: deleting one of those
    // answers InvalidSnapshot.InUse, which is reported, not fatal.
    let owned = ec2
        .describe_snapshots()
        .owner_ids("self")
        .send()
        .await
        .unwrap();
    let owned: Vec<String> = owned
        .snapshots()
        .iter()
        .filter_map(|s| s.snapshot_id().map(str::to_owned))
        .collect();
    let images = ec2.describe_images().send().await.unwrap();
    let backing = images
        .images()
        .iter()
        .flat_map(|i| i.block_device_mappings())
        .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()))
        .find(|id| owned.iter().any(|o| o == id))
        .expect("moto backs its AMIs with snapshots owned by self")
        .to_owned();
    match ebs.delete(&backing, false).await.unwrap() {
        Deleted::InUse(msg) => assert!(!msg.is_empty()),
        other => panic!("expected InUse for an AMI's snapshot, got {other:?}"),
    }
    assert!(
        ebs.our_snapshots().await.unwrap().is_empty(),
        "AMI snapshots are not ours: no managed-by tag"
    );
}
