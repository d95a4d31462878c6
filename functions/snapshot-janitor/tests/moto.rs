//! snapshot-janitor's EBS capability against moto: what it reads (only our snapshots, only
//! tagged volumes), what it writes (tags on creation), and how deletes end (done, already
//! gone, in use by one of moto's pre-registered AMIs).

use std::collections::BTreeMap;

use fleetkeeper_tests::{Moto, clock};
use snapshot_janitor::plan::create::{MANAGED_BY_TAG, POLICY_TAG, VOLUME_TAG};
use snapshot_janitor::plan::retention::State;
use snapshot_janitor::ports::{Deleted, Ebs, Ec2Ebs};

async fn volume(ec2: &aws_sdk_ec2::Client, tags: &[(&str, &str)]) -> String {
    fleetkeeper_tests::ec2::volume(ec2, "us-east-1a", tags).await
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

    // The archive tier (moto 5.2 implements ModifySnapshotTier): the snapshot reads back as
    // archived, with its volume's size.
    assert!(!s.archived);
    ebs.archive(&ours).await.unwrap();
    let archived = &ebs.our_snapshots().await.unwrap()[0];
    assert!(archived.archived, "{archived:?}");
    assert!(archived.size_gib > 0);

    assert_eq!(ebs.delete(&ours).await.unwrap(), Deleted::Done);
    assert_eq!(ebs.delete(&ours).await.unwrap(), Deleted::AlreadyGone);
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
    match ebs.delete(&backing).await.unwrap() {
        Deleted::InUse(msg) => assert!(!msg.is_empty()),
        other => panic!("expected InUse for an AMI's snapshot, got {other:?}"),
    }
    assert!(
        ebs.our_snapshots().await.unwrap().is_empty(),
        "AMI snapshots are not ours: no managed-by tag"
    );
}

mod run {
    use super::volume;
    use fleetkeeper::exec::{Budget, RateLimiter};
    use fleetkeeper::report::{Entry, Status};
    use fleetkeeper::seal::{Keys, fleetkeeper_claims};
    use fleetkeeper::telemetry::Metrics;
    use fleetkeeper_tests::Moto;
    use fleetkeeper_tests::clock;
    use fleetkeeper_tests::seal::create_key;
    use jiff::Timestamp;
    use serde_json::json;
    use snapshot_janitor::config::Config;
    use snapshot_janitor::handler::{App, Place, run};
    use snapshot_janitor::ports::{Ebs, Ec2Ebs};
    use snapshot_janitor::report::JanitorReport;
    use std::collections::BTreeMap;

    fn entries<'a>(list: &'a [Entry], action: &str) -> Vec<&'a Entry> {
        list.iter().filter(|e| e.action == action).collect()
    }
    fn created(r: &JanitorReport) -> Vec<&Entry> {
        entries(&r.done, "create-snapshot")
    }
    fn deleted(r: &JanitorReport) -> Vec<&Entry> {
        entries(&r.done, "delete-snapshot")
    }
    fn planned_creates(r: &JanitorReport) -> Vec<&Entry> {
        entries(&r.planned, "create-snapshot")
    }
    fn skipped_volumes(r: &JanitorReport) -> Vec<&Entry> {
        entries(&r.skipped, "create-snapshot")
    }

    async fn invoke(moto: &Moto, extra: &[(&str, &str)], now: &str) -> JanitorReport {
        invoke_at(&moto.endpoint(), extra, now, Budget::unlimited()).await
    }

    async fn invoke_at(
        endpoint: &str,
        extra: &[(&str, &str)],
        now: &str,
        budget: Budget,
    ) -> JanitorReport {
        let env = Moto::env_for(endpoint, extra);
        let config = Config::from_env(&env).unwrap();
        create_key(&env).await;
        let aws = Moto::aws(&env).await;
        let places = snapshot_janitor::places(&aws, snapshot_janitor::keys(&aws, &config), &config);
        let now: Timestamp = now.parse().unwrap();
        let mut metrics = Metrics::for_function("snapshot-janitor");
        run(&places, &config, &json!({}), now, budget, &mut metrics)
            .await
            .unwrap()
    }

    async fn snapshot_count(moto: &Moto) -> usize {
        let aws = Moto::aws(&moto.env(&[])).await;
        let ec2 = aws.client("EC2", aws_sdk_ec2::Client::new);
        ec2.describe_snapshots()
            .owner_ids("self")
            .send()
            .await
            .unwrap()
            .snapshots()
            .len()
    }

    // moto stamps snapshots with the real clock, so these runs use the real time too.
    fn now() -> String {
        Timestamp::now().to_string()
    }

    /// One run with `payload` (its `time`, if any), the real clock beside it.
    async fn invoke_event(
        moto: &Moto,
        payload: serde_json::Value,
    ) -> Result<JanitorReport, fleetkeeper::Error> {
        let env = Moto::env_for(&moto.endpoint(), &[]);
        let config = Config::from_env(&env).unwrap();
        create_key(&env).await;
        let aws = Moto::aws(&env).await;
        let places = snapshot_janitor::places(&aws, snapshot_janitor::keys(&aws, &config), &config);
        let mut metrics = Metrics::for_function("snapshot-janitor");
        let clock = fleetkeeper_tests::clock::now();
        run(
            &places,
            &config,
            &payload,
            clock,
            Budget::unlimited(),
            &mut metrics,
        )
        .await
    }

    #[tokio::test]
    async fn the_events_time_decides_the_period_not_the_clock() {
        use fleetkeeper_tests::clock::{hours_after, now as clock_now, rfc3339};
        let moto = Moto::start();
        let aws = Moto::aws(&moto.env(&[])).await;
        let ec2 = aws.client("EC2", aws_sdk_ec2::Client::new);
        volume(&ec2, &[("fleetkeeper:backup", "daily")]).await;

        // Today's scheduled run takes today's snapshot; a second one today takes none.
        let today =
            json!({"detail-type": "Scheduled Event", "time": rfc3339(hours_after(clock_now(), 1))});
        let r = invoke_event(&moto, today.clone()).await.unwrap();
        assert_eq!(created(&r).len(), 1, "{:?}", r.skipped);
        assert_eq!(r.fields.time, rfc3339(hours_after(clock_now(), 1)));
        let r = invoke_event(&moto, today).await.unwrap();
        assert!(created(&r).is_empty(), "{:?}", r.done);

        // The run scheduled two days on is judged at its own time, whatever the clock says:
        // a new daily period, so a new snapshot.
        let later = hours_after(clock_now(), 49);
        let r = invoke_event(&moto, json!({"time": rfc3339(later)}))
            .await
            .unwrap();
        assert_eq!(r.fields.time, rfc3339(later));
        assert_eq!(created(&r).len(), 1, "{:?}", r.skipped);

        // A time that is not a time is refused, and nothing is created.
        let before = snapshot_count(&moto).await;
        let e = invoke_event(&moto, json!({"time": "tonight"}))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("is not an RFC 3339 time"), "{e}");
        assert_eq!(snapshot_count(&moto).await, before);
    }

    #[tokio::test]
    async fn creates_once_per_period_and_prunes_only_its_own() {
        let moto = Moto::start();
        let aws = Moto::aws(&moto.env(&[])).await;
        let ec2 = aws.client("EC2", aws_sdk_ec2::Client::new);
        let backed = volume(&ec2, &[("fleetkeeper:backup", "daily")]).await;
        let plain = volume(&ec2, &[]).await;
        ec2.create_snapshot()
            .volume_id(&plain)
            .description("someone else's")
            .send()
            .await
            .unwrap();
        let before = snapshot_count(&moto).await;

        // Dry run: the plan, nothing created.
        let dry = invoke(&moto, &[("DRY_RUN", "true")], &now()).await;
        assert_eq!(dry.status(), Status::DryRun);
        assert_eq!(planned_creates(&dry).len(), 1);
        assert_eq!(snapshot_count(&moto).await, before);

        let first = invoke(&moto, &[("KEEP_LAST", "1")], &now()).await;
        assert_eq!(first.status(), Status::Ok, "{:?}", first.failed);
        assert_eq!(created(&first).len(), 1);
        assert_eq!(created(&first)[0].target, backed);
        let rerun = invoke(&moto, &[("KEEP_LAST", "1")], &now()).await;
        assert!(
            created(&rerun).is_empty(),
            "a rerun the same day creates none"
        );
        assert!(skipped_volumes(&rerun)[0].reason.contains("already has"));
        assert!(deleted(&rerun).is_empty(), "one snapshot, the newest: kept");

        // A weekly policy on the same volume adds a second managed snapshot; KEEP_LAST=1 per
        // policy keeps both (each is the newest of its own policy), and nothing foreign goes.
        ec2.create_tags()
            .resources(&backed)
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("fleetkeeper:backup")
                    .value("weekly")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let weekly = invoke(&moto, &[("KEEP_LAST", "1")], &now()).await;
        assert_eq!(created(&weekly).len(), 1, "{weekly:?}");
        assert!(deleted(&weekly).is_empty(), "{weekly:?}");
        assert_eq!(
            snapshot_count(&moto).await,
            before + 2,
            "moto's AMI snapshots and the foreign one stay"
        );
    }

    #[tokio::test]
    async fn an_instance_is_snapshotted_as_one_set_and_pruned_as_one() {
        let moto = Moto::start();
        let aws = Moto::aws(&moto.env(&[])).await;
        let ec2 = aws.client("EC2", aws_sdk_ec2::Client::new);
        let db = fleetkeeper_tests::ec2::launch(&ec2, 1, &[("fleetkeeper:backup", "daily")]).await;
        let data = volume(&ec2, &[("fleetkeeper:backup", "daily")]).await;
        ec2.attach_volume()
            .volume_id(&data)
            .instance_id(&db[0])
            .device("/dev/sdf")
            .send()
            .await
            .unwrap();

        let today = Timestamp::now();
        let first = invoke(&moto, &[("KEEP_LAST", "1")], &today.to_string()).await;
        assert_eq!(first.status(), Status::Ok, "{:?}", first.failed);
        let sets = entries(&first.done, "create-snapshot-set");
        assert_eq!(sets.len(), 1, "{first:?}");
        assert_eq!(sets[0].target, db[0]);
        let detail = sets[0].detail.as_ref().unwrap();
        let members = detail["snapshots"].as_array().unwrap();
        assert_eq!(
            members.len(),
            2,
            "the root volume and the data volume: {detail}"
        );
        assert!(members.iter().any(|m| m["volume_id"] == data.as_str()));
        assert!(
            created(&first).is_empty(),
            "the data volume is not taken twice"
        );
        let once = skipped_volumes(&first);
        assert!(
            once.iter()
                .any(|s| s.target == data && s.reason.contains("through instance")),
            "{once:?}"
        );
        let set_id = detail["set_id"].as_str().unwrap().to_owned();

        let ours = Ec2Ebs::new("us-east-1".into(), ec2.clone())
            .our_snapshots()
            .await
            .unwrap();
        assert_eq!(ours.len(), 2);
        assert!(
            ours.iter()
                .all(|s| s.set_id.as_deref() == Some(set_id.as_str()))
        );

        let rerun = invoke(&moto, &[("KEEP_LAST", "1")], &today.to_string()).await;
        assert!(entries(&rerun.done, "create-snapshot-set").is_empty());

        // The next day a new set; the run after sees it and lets the old one go, whole.
        let tomorrow = (today + jiff::SignedDuration::from_hours(24)).to_string();
        let next = invoke(&moto, &[("KEEP_LAST", "1")], &tomorrow).await;
        assert_eq!(entries(&next.done, "create-snapshot-set").len(), 1);
        assert!(
            deleted(&next).is_empty(),
            "the new set is not seen yet: {next:?}"
        );
        let after = invoke(&moto, &[("KEEP_LAST", "1")], &tomorrow).await;
        let gone: Vec<&str> = deleted(&after).iter().map(|e| e.target.as_str()).collect();
        let old: Vec<&str> = members
            .iter()
            .map(|m| m["snapshot_id"].as_str().unwrap())
            .collect();
        assert_eq!(gone.len(), 2, "{after:?}");
        assert!(old.iter().all(|id| gone.contains(id)));
    }

    #[tokio::test]
    async fn snapshots_are_copied_once_to_another_region_with_their_own_retention() {
        let moto = Moto::start();
        let aws = Moto::aws(&moto.env(&[])).await;
        let ec2 = aws.client("EC2", aws_sdk_ec2::Client::new);
        let vol = volume(
            &ec2,
            &[("fleetkeeper:backup", "daily"), ("Name", "db-data")],
        )
        .await;
        let settings = [
            ("COPY_TO", "eu-west-1"),
            ("KEEP_LAST", "3"),
            ("COPY_KEEP_LAST", "1"),
        ];
        let today = Timestamp::now();
        let day = |n: i64| (today + jiff::SignedDuration::from_hours(24 * n)).to_string();

        // The first run takes the snapshot; the run after copies it (a snapshot is copied once seen
        // completed).
        let first = invoke(&moto, &settings, &day(0)).await;
        assert_eq!(created(&first).len(), 1);
        assert!(entries(&first.done, "copy-snapshot").is_empty());
        let second = invoke(&moto, &settings, &day(0)).await;
        let copies = entries(&second.done, "copy-snapshot");
        assert_eq!(copies.len(), 1, "{second:?}");
        assert_eq!(copies[0].region.as_deref(), Some("eu-west-1"));
        let source_id = created(&first)[0].detail.as_ref().unwrap()["snapshot_id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(copies[0].target, source_id);
        let west = Ec2Ebs::new(
            "eu-west-1".into(),
            Moto::aws(&moto.env(&[("AWS_REGION", "eu-west-1")]))
                .await
                .client("EC2", aws_sdk_ec2::Client::new),
        );
        let held = west.our_snapshots().await.unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].copy_of.as_deref(), Some(source_id.as_str()));
        assert_eq!(held[0].tags["fleetkeeper:source-region"], "us-east-1");
        assert_eq!(held[0].tags["Name"], "db-data");
        assert_eq!(held[0].volume_id, vol);

        // A rerun copies nothing again.
        let third = invoke(&moto, &settings, &day(0)).await;
        assert!(
            entries(&third.done, "copy-snapshot").is_empty(),
            "{third:?}"
        );

        // A newer snapshot (moto stamps the real time, so it is made here rather than by a
        // run on another day) is copied; COPY_KEEP_LAST=1 then lets the older copy go in
        // eu-west-1, while the source region keeps both (KEEP_LAST=3).
        let east = Ec2Ebs::new("us-east-1".into(), ec2.clone());
        let tags = snapshot_janitor::plan::create::managed_tags(&vol, "daily");
        let newer = east.create(&vol, "newer", &tags).await.unwrap();
        let ring = create_key(&moto.env(&[])).await;
        east.seal(
            &newer,
            &ring.seal(&newer, &fleetkeeper_claims(&tags)).unwrap(),
            &BTreeMap::new(),
        )
        .await
        .unwrap();
        let copied = invoke(&moto, &settings, &day(0)).await;
        assert_eq!(
            entries(&copied.done, "copy-snapshot").len(),
            1,
            "{copied:?}"
        );
        let pruned = invoke(&moto, &settings, &day(0)).await;
        let gone: Vec<&Entry> = deleted(&pruned);
        assert_eq!(gone.len(), 1, "{pruned:?}");
        assert_eq!(gone[0].region.as_deref(), Some("eu-west-1"));
        assert_eq!(west.our_snapshots().await.unwrap().len(), 1);
        let sources: Vec<_> = east
            .our_snapshots()
            .await
            .unwrap()
            .into_iter()
            .filter(|s| s.copy_of.is_none())
            .collect();
        assert_eq!(sources.len(), 2, "{sources:?}");
    }

    /// A volume with `n` managed snapshots of today (as an earlier run would have left them).
    async fn volume_with_history(moto: &Moto, n: usize) -> String {
        use snapshot_janitor::ports::{Ebs, Ec2Ebs};
        let aws = Moto::aws(&moto.env(&[])).await;
        let ec2 = aws.client("EC2", aws_sdk_ec2::Client::new);
        let vol = volume(&ec2, &[("fleetkeeper:backup", "daily")]).await;
        let ebs = Ec2Ebs::new("us-east-1".into(), ec2);
        let tags = snapshot_janitor::plan::create::managed_tags(&vol, "daily");
        // Sealed, as the janitor seals what it makes.
        let ring = create_key(&moto.env(&[])).await;
        for _ in 0..n {
            let id = ebs.create(&vol, "history", &tags).await.unwrap();
            let seal = ring.seal(&id, &fleetkeeper_claims(&tags)).unwrap();
            ebs.seal(&id, &seal, &BTreeMap::new()).await.unwrap();
        }
        vol
    }

    async fn managed_count(moto: &Moto) -> usize {
        use snapshot_janitor::ports::{Ebs, Ec2Ebs};
        let aws = Moto::aws(&moto.env(&[])).await;
        let ebs = Ec2Ebs::new(
            "us-east-1".into(),
            aws.client("EC2", aws_sdk_ec2::Client::new),
        );
        ebs.our_snapshots().await.unwrap().len()
    }

    #[tokio::test]
    async fn max_deletes_is_one_budget_over_every_region() {
        use snapshot_janitor::ports::Ebs;
        let moto = Moto::start();
        let env = Moto::env_for(
            &moto.endpoint(),
            &[
                ("REGIONS", "eu-west-1,us-east-2"),
                ("KEEP_LAST", "1"),
                ("MAX_DELETES", "2"),
            ],
        );
        let config = Config::from_env(&env).unwrap();
        let aws = Moto::aws(&env).await;
        let clients = aws.regional("EC2", &config.regions, aws_sdk_ec2::Client::new);
        let places = App {
            sources: clients
                .iter()
                .map(|(region, client)| Place {
                    port: Ec2Ebs::new(region.clone(), client.clone()),
                    limits: RateLimiter::new(config.rate),
                })
                .collect(),
            destinations: Vec::new(),
            keys: Keys::Fixed(create_key(&env).await),
        };
        let targets: &[Place<Ec2Ebs>] = &places.sources;
        // Three managed snapshots of one volume in each region: two may go in each.
        for (t, (region, ec2)) in targets.iter().zip(&clients) {
            let az = format!("{region}a");
            let vol =
                fleetkeeper_tests::ec2::volume(ec2, &az, &[("fleetkeeper:backup", "daily")]).await;
            let tags = snapshot_janitor::plan::create::managed_tags(&vol, "daily");
            let ring = create_key(&env).await;
            for _ in 0..3 {
                let id = t.port.create(&vol, "history", &tags).await.unwrap();
                let seal = ring.seal(&id, &fleetkeeper_claims(&tags)).unwrap();
                t.port.seal(&id, &seal, &BTreeMap::new()).await.unwrap();
            }
        }
        let run_once = async || {
            let mut metrics = Metrics::for_function("snapshot-janitor");
            let now: Timestamp = now().parse().unwrap();
            run(
                &places,
                &config,
                &json!({}),
                now,
                Budget::unlimited(),
                &mut metrics,
            )
            .await
            .unwrap()
        };
        let first = run_once().await;
        assert_eq!(
            deleted(&first).len(),
            2,
            "MAX_DELETES=2 for the whole run: {first:?}"
        );
        assert_eq!(
            first.remaining_count(),
            2,
            "the rest is left for the next run"
        );
        assert_eq!(first.status(), Status::Partial);
        let second = run_once().await;
        assert_eq!(deleted(&second).len(), 2, "{second:?}");
        assert_eq!(second.remaining_count(), 0);
        for t in targets {
            assert_eq!(
                t.port.our_snapshots().await.unwrap().len(),
                1,
                "the newest stays"
            );
        }
    }

    #[tokio::test]
    async fn a_budget_that_ends_mid_run_is_resumed_by_the_next_run() {
        let moto = Moto::start();
        volume_with_history(&moto, 30).await;
        // 5 deletions a second and 2 seconds of budget: about 15 of the 29 go this run.
        let slow = [
            ("KEEP_LAST", "1"),
            ("SNAPSHOT_RATE_BURST", "5"),
            ("SNAPSHOT_RATE_PER_SECOND", "5"),
        ];
        let budget = Budget::lasting(std::time::Duration::from_secs(2));
        let first = invoke_at(&moto.endpoint(), &slow, &now(), budget).await;
        assert!(first.remaining.is_some(), "{first:?}");
        assert_eq!(first.status(), Status::Partial);
        assert!(
            first.remaining_count() > 0 && !deleted(&first).is_empty(),
            "{} deleted, {} left",
            deleted(&first).len(),
            first.remaining_count()
        );
        assert_eq!(deleted(&first).len() + first.remaining_count(), 29);

        let second = invoke_at(&moto.endpoint(), &slow, &now(), Budget::unlimited()).await;
        assert!(second.remaining.is_none());
        assert_eq!(
            deleted(&second).len(),
            first.remaining_count(),
            "the next run finishes the job"
        );
        assert_eq!(managed_count(&moto).await, 1, "the newest stays");
    }

    /// Snapshot `id`'s tags.
    async fn tags_of(moto: &Moto, id: &str) -> std::collections::BTreeMap<String, String> {
        let aws = Moto::aws(&moto.env(&[])).await;
        let ec2 = aws.client("EC2", aws_sdk_ec2::Client::new);
        let out = ec2
            .describe_snapshots()
            .snapshot_ids(id)
            .send()
            .await
            .unwrap();
        out.snapshots()[0]
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
            .collect()
    }

    async fn exists(moto: &Moto, id: &str) -> bool {
        let aws = Moto::aws(&moto.env(&[])).await;
        let ec2 = aws.client("EC2", aws_sdk_ec2::Client::new);
        ec2.describe_snapshots()
            .snapshot_ids(id)
            .send()
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn every_tag_copied_onto_a_foreign_snapshot_protects_nothing_of_it() {
        use fleetkeeper_tests::seal::copy_every_tag;
        let moto = Moto::start();
        let aws = Moto::aws(&moto.env(&[])).await;
        let ec2 = aws.client("EC2", aws_sdk_ec2::Client::new);
        volume(&ec2, &[("fleetkeeper:backup", "daily")]).await;
        // The janitor takes today's snapshot itself, and seals it.
        let first = invoke(&moto, &[], &now()).await;
        let genuine = created(&first)[0].detail.as_ref().unwrap()["snapshot_id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            tags_of(&moto, &genuine)
                .await
                .contains_key("fleetkeeper:seal")
        );
        // Someone's manual pre-migration backup gets every tag of the genuine one, the seal
        // included; another gets the tags without the seal.
        let theirs = volume(&ec2, &[("Name", "pre-migration")]).await;
        let mut foreign = Vec::new();
        for _ in 0..2 {
            let id = ec2
                .create_snapshot()
                .volume_id(&theirs)
                .description("before the migration: keep")
                .send()
                .await
                .unwrap()
                .snapshot_id()
                .unwrap()
                .to_owned();
            copy_every_tag(&ec2, &genuine, &id).await;
            foreign.push(id);
        }
        ec2.delete_tags()
            .resources(&foreign[1])
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("fleetkeeper:seal")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        // KEEP_LAST=0 and no daily rule, the day after tomorrow: retention lets every snapshot
        // of ours go but the newest of the volume, which always stays.
        let later = clock::rfc3339(clock::hours_after(clock::now(), 50));
        // moto stamps start times to the second: a second apart, the run's new snapshot is
        // the newest for certain.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let env = [
            ("KEEP_LAST", "0"),
            ("KEEP_DAILY", "0"),
            ("KEEP_WEEKLY", "0"),
            ("KEEP_MONTHLY", "0"),
            ("KEEP_YEARLY", "0"),
        ];
        let r = invoke_at_time(&moto, &env, &later).await;
        // The foreign ones: untouched, reported, counted.
        for id in &foreign {
            assert!(exists(&moto, id).await, "{id} must survive");
            let skip = r.skipped.iter().find(|e| &e.target == id).expect(id);
            assert!(
                skip.reason
                    .starts_with("fleetkeeper tags without a valid seal: not ours"),
                "{}",
                skip.reason
            );
        }
        assert_eq!((r.fields.forged, r.fields.unsealed), (1, 1), "{r:?}");
        // A foreign snapshot never covered the new day's period (it would have suppressed
        // that backup): a new day's snapshot was taken, and sealed.
        assert_eq!(created(&r).len(), 1, "{r:?}");
        let new = created(&r)[0].detail.as_ref().unwrap()["snapshot_id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(tags_of(&moto, &new).await.contains_key("fleetkeeper:seal"));
        // The genuine one is still ours: once the new one is the newest, retention lets it go.
        // The control that proves the test can fail.
        let r = invoke_at_time(&moto, &env, &later).await;
        assert_eq!(deleted(&r).len(), 1, "{r:?}");
        assert_eq!(deleted(&r)[0].target, genuine);
        assert!(!exists(&moto, &genuine).await);
        for id in &foreign {
            assert!(
                exists(&moto, id).await,
                "{id} must survive the second run too"
            );
        }
    }

    async fn invoke_at_time(moto: &Moto, extra: &[(&str, &str)], time: &str) -> JanitorReport {
        let env = Moto::env_for(&moto.endpoint(), extra);
        let config = Config::from_env(&env).unwrap();
        create_key(&env).await;
        let aws = Moto::aws(&env).await;
        let places = snapshot_janitor::places(&aws, snapshot_janitor::keys(&aws, &config), &config);
        let mut metrics = Metrics::for_function("snapshot-janitor");
        run(
            &places,
            &config,
            &json!({"time": time}),
            clock::now(),
            Budget::unlimited(),
            &mut metrics,
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn snapshots_made_before_seals_are_kept_until_adopted() {
        let moto = Moto::start();
        let aws = Moto::aws(&moto.env(&[])).await;
        let ec2 = aws.client("EC2", aws_sdk_ec2::Client::new);
        // Three snapshots an earlier version made: our tags, no seal.
        let vol = volume(&ec2, &[("fleetkeeper:backup", "daily")]).await;
        let ebs = Ec2Ebs::new("us-east-1".into(), ec2.clone());
        let tags = snapshot_janitor::plan::create::managed_tags(&vol, "daily");
        let mut old = Vec::new();
        for _ in 0..3 {
            old.push(
                ebs.create(&vol, "fleetkeeper snapshot-janitor: before seals", &tags)
                    .await
                    .unwrap(),
            );
        }
        let r = invoke(&moto, &[("KEEP_LAST", "1")], &now()).await;
        assert!(deleted(&r).is_empty(), "unsealed: never deleted {r:?}");
        assert_eq!(r.fields.unsealed, 3);

        // Adopt lists them with what EC2 says of them, and changes nothing.
        let adopt = |ids: Option<Vec<String>>| {
            let payload = match ids {
                Some(ids) => json!({"action": "adopt", "ids": ids}),
                None => json!({"action": "adopt"}),
            };
            let moto = &moto;
            async move {
                let env = moto.env(&[]);
                let config = Config::from_env(&env).unwrap();
                let aws = Moto::aws(&env).await;
                let places =
                    snapshot_janitor::places(&aws, snapshot_janitor::keys(&aws, &config), &config);
                let mut metrics = Metrics::for_function("snapshot-janitor");
                run(
                    &places,
                    &config,
                    &payload,
                    clock::now(),
                    Budget::unlimited(),
                    &mut metrics,
                )
                .await
            }
        };
        let listed = adopt(None).await.unwrap();
        assert_eq!(listed.planned.len(), 3, "{listed:?}");
        assert!(listed.done.is_empty());
        let facts = listed.planned[0].detail.as_ref().unwrap();
        assert_eq!(
            facts["description"],
            "fleetkeeper snapshot-janitor: before seals"
        );
        assert_eq!(facts["volume_id"], vol.as_str());

        // An id that is not ours refuses the whole request: nothing is sealed.
        let e = adopt(Some(vec![old[0].clone(), "snap-0123456789abcdef0".into()]))
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("snap-0123456789abcdef0: no snapshot with snapshot-janitor's tags"),
            "{e}"
        );
        assert!(
            !tags_of(&moto, &old[0])
                .await
                .contains_key("fleetkeeper:seal")
        );

        // Adopted on an operator's word: sealed, and retention manages them from then on.
        let done = adopt(Some(old.clone())).await.unwrap();
        assert_eq!(done.done.len(), 3, "{done:?}");
        let again = adopt(Some(vec![old[0].clone()])).await.unwrap();
        assert!(again.skipped[0].reason.contains("already sealed"));
        // KEEP_LAST=1 over the four that are now ours (the three adopted, and the one the first
        // run took; moto stamps them all in the same second): three go, one stays.
        let r = invoke(&moto, &[("KEEP_LAST", "1")], &now()).await;
        assert_eq!(r.fields.unsealed, 0);
        assert_eq!(deleted(&r).len(), 3, "{r:?}");
        assert_eq!(managed_count(&moto).await, 1);
    }

    #[tokio::test]
    async fn without_the_seal_key_nothing_is_done_and_the_report_says_why() {
        let moto = Moto::start();
        let aws = Moto::aws(&moto.env(&[])).await;
        let ec2 = aws.client("EC2", aws_sdk_ec2::Client::new);
        volume(&ec2, &[("fleetkeeper:backup", "daily")]).await;
        let before = snapshot_count(&moto).await;
        let env = moto.env(&[]);
        let config = Config::from_env(&env).unwrap();
        let places = snapshot_janitor::places(&aws, snapshot_janitor::keys(&aws, &config), &config);
        let mut metrics = Metrics::for_function("snapshot-janitor");
        let r = run(
            &places,
            &config,
            &json!({}),
            clock::now(),
            Budget::unlimited(),
            &mut metrics,
        )
        .await
        .unwrap();
        assert_eq!(r.status(), Status::Failed);
        assert!(r.done.is_empty());
        let f = &r.failed[0];
        assert_eq!(f.target, "fleetkeeper/seal-key");
        assert!(
            f.error.contains("SEAL_SECRET") && f.error.contains("nothing was created"),
            "{}",
            f.error
        );
        assert_eq!(snapshot_count(&moto).await, before);
    }

    #[tokio::test]
    async fn same_end_state_with_20_percent_of_calls_throttled() {
        use fleetkeeper_tests::{Fault, FaultProxy, Rule};
        let moto = Moto::start();
        volume_with_history(&moto, 12).await;
        let proxy = FaultProxy::start(&moto.endpoint());
        proxy.add(Rule::new(Fault::Throttle).on("ec2:").rate(0.2));
        let report = invoke_at(
            &proxy.endpoint(),
            &[("KEEP_LAST", "3"), ("AWS_MAX_ATTEMPTS", "10")],
            &now(),
            Budget::unlimited(),
        )
        .await;
        assert_eq!(report.status(), Status::Ok, "{:?}", report.failed);
        assert_eq!(deleted(&report).len(), 9);
        assert_eq!(managed_count(&moto).await, 3);
        let throttled: u64 = proxy.counts().keys().map(|a| proxy.injected(a)).sum();
        assert!(
            throttled > 0,
            "the proxy throttled nothing: {:?}",
            proxy.counts()
        );
    }
}

/// Organisation mode, one target: the member role assumed (moto keeps the member account's
/// state apart), a plan that changes nothing, an apply that snapshots in the member account
/// only, the summary answered and written with the report; a malformed target refused.
#[tokio::test(flavor = "multi_thread")]
async fn serves_one_organisation_target_in_its_member_account() {
    use fleetkeeper::exec::Budget;
    use fleetkeeper::lambda::{Boot, Invocation};
    use fleetkeeper::org::Answer;
    use fleetkeeper::telemetry::Metrics;
    use serde_json::{Value, json};

    const MEMBER: &str = "111111111111";
    let role = format!("arn:aws:iam::{MEMBER}:role/fleetkeeper-member");
    let moto = Moto::start();
    let env = moto.env(&[("REGIONS", "us-east-1")]);
    // The seal key is in the management account, read with the function's own role.
    fleetkeeper_tests::seal::create_key(&env).await;
    let aws = Moto::aws(&env).await;
    aws.s3()
        .create_bucket()
        .bucket("runs")
        .send()
        .await
        .unwrap();
    let member = aws
        .assume_role_now(&role, "seed", "us-east-1")
        .await
        .unwrap();
    let member_ec2 = member.client("EC2", aws_sdk_ec2::Client::new);
    let own_ec2 = aws.client("EC2", aws_sdk_ec2::Client::new);
    let vol = volume(&member_ec2, &[("fleetkeeper:backup", "daily")]).await;
    let ours = |ec2: aws_sdk_ec2::Client| async move {
        let out = ec2
            .describe_snapshots()
            .owner_ids("self")
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name(format!("tag:{MANAGED_BY_TAG}"))
                    .values("snapshot-janitor")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        out.snapshots().len()
    };

    let boot = Boot {
        env: env.clone(),
        aws: aws.clone(),
        function_name: "snapshot-janitor".into(),
    };
    let lambda = snapshot_janitor::init(&boot).await.unwrap();
    // Tomorrow's 02:00 run, from the real clock.
    let at = clock::tomorrow_at("02:00", "UTC");
    let run = format!("snapshot-janitor/{}", clock::run_stamp(at));
    let request = |phase: &str| {
        json!({
            "target": {"account_id": MEMBER, "region": "us-east-1", "role_arn": role},
            "phase": phase, "run": run, "bucket": "runs",
            "event": {"time": clock::rfc3339(at)}
        })
    };
    let mut metrics = Metrics::for_function("snapshot-janitor");
    let mut call = async |payload: Value| {
        let inv = Invocation {
            payload,
            now: clock::now(),
            budget: Budget::unlimited(),
            metrics: &mut metrics,
        };
        snapshot_janitor::handle(&lambda, inv).await
    };

    let Answer::Target(plan) = call(request("plan")).await.unwrap() else {
        panic!("a target request is answered with a summary")
    };
    assert_eq!(
        (plan.status.to_string().as_str(), plan.account_id.as_str()),
        ("dry-run", MEMBER)
    );
    assert_eq!(
        plan.planned_by_action.get("create-snapshot"),
        Some(&1),
        "{plan:?}"
    );
    assert_eq!(ours(member_ec2.clone()).await, 0, "a plan changes nothing");

    let Answer::Target(applied) = call(request("apply")).await.unwrap() else {
        panic!("a target request is answered with a summary")
    };
    assert_eq!(
        (applied.status.to_string().as_str(), applied.done),
        ("ok", 1),
        "{applied:?}"
    );
    assert_eq!(
        ours(member_ec2.clone()).await,
        1,
        "snapshot of {vol} in the member account"
    );
    assert_eq!(
        ours(own_ec2).await,
        0,
        "nothing in the function's own account"
    );
    let written = aws
        .s3()
        .get_object()
        .bucket("runs")
        .key(format!("runs/{run}/apply/{MEMBER}-us-east-1-0.json"))
        .send()
        .await
        .unwrap();
    let body: Value =
        serde_json::from_slice(&written.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(body["summary"]["done"], 1);
    assert_eq!(body["report"]["function"], "snapshot-janitor");

    // A role in another account is refused before anything is assumed or written.
    let mut bad = request("apply");
    bad["target"]["role_arn"] = "arn:aws:iam::222222222222:role/fleetkeeper-member".into();
    let e = call(bad).await.unwrap_err().to_string();
    assert!(e.contains("target.role_arn"), "{e}");
}
