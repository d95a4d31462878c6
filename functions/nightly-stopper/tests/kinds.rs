//! nightly-stopper's other kinds against moto (RDS DB instances, Aurora clusters, Auto Scaling
//! groups): an evening and a morning over them beside an EC2 instance, on the teams' schedules
//! from the real clock, databases before the apps; RDS's own restart stopped again; a group's
//! size recorded and restored exactly; decoys left alone (untagged, another schedule, a read
//! replica and its source, a cluster's member); a dry run; bad RESOURCES.

use std::collections::BTreeMap;

use aws_sdk_rds::types::Tag;
use fleetkeeper::exec::Budget;
use fleetkeeper::report::Entry;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper_tests::Moto;
use fleetkeeper_tests::clock::{self, rfc3339};
use fleetkeeper_tests::ec2::launch;
use fleetkeeper_tests::kinds::ecs_services;
use jiff::Timestamp;
use jiff::civil::Weekday;
use nightly_stopper::config::Config;
use nightly_stopper::handler::run;
use nightly_stopper::ports::{App, targets};
use nightly_stopper::report::StopperReport;
use serde_json::json;

const SCHEDULES: &str = r#"{
    "office-hours": {"timezone": "Europe/Berlin", "periods": [{"days": "mon-fri", "start": "07:00", "stop": "19:00"}]},
    "night-shift": {"timezone": "Europe/Berlin", "periods": [{"days": "mon-sun", "start": "18:00", "stop": "06:00"}]}
}"#;

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

fn office() -> Tag {
    tag("fleetkeeper:schedule", "office-hours")
}

async fn rds(moto: &Moto) -> aws_sdk_rds::Client {
    Moto::aws(&moto.env(&[("AWS_REGION", "eu-west-1")]))
        .await
        .client("RDS", aws_sdk_rds::Client::new)
}

async fn db_instance(rds: &aws_sdk_rds::Client, id: &str, tags: Vec<Tag>, cluster: Option<&str>) {
    let mut call = rds
        .create_db_instance()
        .db_instance_identifier(id)
        .db_instance_class("db.t3.micro")
        .set_tags(Some(tags));
    call = match cluster {
        Some(c) => call.engine("aurora-postgresql").db_cluster_identifier(c),
        None => call
            .engine("postgres")
            .allocated_storage(20)
            .master_username("fleetkeeper")
            .master_user_password("not-a-secret-moto-only"),
    };
    call.send().await.unwrap();
}

/// Every database's status, by identifier (clusters as `cluster:<id>`).
async fn statuses(rds: &aws_sdk_rds::Client) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for d in rds
        .describe_db_instances()
        .send()
        .await
        .unwrap()
        .db_instances()
    {
        out.insert(
            d.db_instance_identifier().unwrap().to_owned(),
            d.db_instance_status().unwrap().to_owned(),
        );
    }
    for c in rds
        .describe_db_clusters()
        .send()
        .await
        .unwrap()
        .db_clusters()
    {
        out.insert(
            format!("cluster:{}", c.db_cluster_identifier().unwrap()),
            c.status().unwrap().to_owned(),
        );
    }
    out
}

async fn at(moto: &Moto, extra: &[(&str, &str)], at: Timestamp) -> StopperReport {
    try_at(moto, extra, at).await.unwrap()
}

async fn try_at(
    moto: &Moto,
    extra: &[(&str, &str)],
    at: Timestamp,
) -> Result<StopperReport, String> {
    let payload = json!({"detail-type": "Scheduled Event", "source": "aws.events", "time": rfc3339(at), "detail": {}});
    with_payload(moto, extra, payload).await
}

async fn with_payload(
    moto: &Moto,
    extra: &[(&str, &str)],
    payload: serde_json::Value,
) -> Result<StopperReport, String> {
    let mut vars = vec![
        ("REGIONS", "eu-west-1"),
        ("SCHEDULES", SCHEDULES),
        ("RESOURCES", "ec2,rds,aurora"),
    ];
    vars.extend_from_slice(extra);
    let env = Moto::env_for(&moto.endpoint(), &vars);
    let config = Config::from_env(&env).map_err(|e| e.to_string())?;
    let aws = Moto::aws(&env).await;
    let stopper = App::new(
        targets(&aws, &config).await,
        aws.client("SSM", aws_sdk_ssm::Client::new),
    );
    let mut metrics = Metrics::for_function("nightly-stopper");
    run(
        &stopper,
        &config,
        &payload,
        clock::now(),
        Budget::unlimited(),
        &mut metrics,
    )
    .await
    .map_err(|e| e.to_string())
}

fn of_kind<'a>(entries: &'a [Entry], kind: &str) -> Vec<&'a str> {
    let mut v: Vec<&str> = entries
        .iter()
        .filter(|e| e.kind.as_deref() == Some(kind))
        .map(|e| e.target.as_str())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn databases_and_clusters_stop_in_the_evening_and_start_in_the_morning() {
    let moto = Moto::start();
    let rds = rds(&moto).await;
    // Scheduled: a DB instance and an Aurora cluster (with its member instance).
    db_instance(&rds, "reports-db", vec![office()], None).await;
    rds.create_db_cluster()
        .db_cluster_identifier("orders")
        .engine("aurora-postgresql")
        .master_username("fleetkeeper")
        .master_user_password("not-a-secret-moto-only")
        .tags(office())
        .send()
        .await
        .unwrap();
    db_instance(&rds, "orders-1", vec![office()], Some("orders")).await;
    // Decoys: untagged, another schedule (running in the evening), a read replica and its source.
    db_instance(&rds, "untagged-db", vec![], None).await;
    db_instance(
        &rds,
        "night-db",
        vec![tag("fleetkeeper:schedule", "night-shift")],
        None,
    )
    .await;
    db_instance(&rds, "main-db", vec![office()], None).await;
    rds.create_db_instance_read_replica()
        .db_instance_identifier("main-db-replica")
        .source_db_instance_identifier("main-db")
        .tags(office())
        .send()
        .await
        .unwrap();
    let ec2 = Moto::aws(&moto.env(&[("AWS_REGION", "eu-west-1")]))
        .await
        .client("EC2", aws_sdk_ec2::Client::new);
    let web = launch(&ec2, 1, &[("fleetkeeper:schedule", "office-hours")]).await;

    let tue = clock::next(Weekday::Tuesday, "Europe/Berlin");
    let evening = clock::at(tue, "19:05", "Europe/Berlin");
    let later = clock::at(tue, "19:10", "Europe/Berlin");
    let morning = clock::at(tue.tomorrow().unwrap(), "07:05", "Europe/Berlin");
    let after_breakfast = clock::at(tue.tomorrow().unwrap(), "07:10", "Europe/Berlin");

    // A dry run plans and changes nothing (RDS has no DryRun flag). With order none every
    // kind is planned at once.
    let before = statuses(&rds).await;
    let at_once = SCHEDULES.replace(
        r#""office-hours": {"timezone""#,
        r#""office-hours": {"order": "none", "timezone""#,
    );
    let dry = at(
        &moto,
        &[("DRY_RUN", "true"), ("SCHEDULES", at_once.as_str())],
        evening,
    )
    .await;
    assert_eq!(of_kind(&dry.planned, "rds"), ["reports-db"]);
    assert_eq!(of_kind(&dry.planned, "aurora"), ["orders"]);
    assert_eq!(of_kind(&dry.planned, "ec2"), [web[0].as_str()]);
    assert_eq!(statuses(&rds).await, before, "nothing changed");
    let unchecked = dry.fields.dry_run_unchecked.as_deref().unwrap_or_default();
    assert!(
        unchecked.starts_with("rds, aurora: ") && unchecked.contains("no DryRun flag"),
        "{unchecked}"
    );

    // The evening: the app stops first; the databases wait for it, and stop at the next run.
    let first = at(&moto, &[], evening).await;
    assert_eq!(
        first.fields.dry_run_unchecked, None,
        "a live run makes the calls"
    );
    assert_eq!(of_kind(&first.done, "ec2"), [web[0].as_str()]);
    assert!(of_kind(&first.done, "rds").is_empty());
    let waiting = first
        .skipped
        .iter()
        .find(|e| e.target == "reports-db")
        .unwrap();
    assert!(
        waiting
            .reason
            .starts_with("waiting for office-hours's instances to stop first"),
        "{}",
        waiting.reason
    );
    let r = at(&moto, &[], later).await;
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    assert_eq!(of_kind(&r.done, "rds"), ["reports-db"]);
    assert_eq!(of_kind(&r.done, "aurora"), ["orders"]);
    let after = statuses(&rds).await;
    assert_eq!(after["reports-db"], "stopped");
    assert_eq!(after["cluster:orders"], "stopped");
    for decoy in ["untagged-db", "night-db", "main-db", "main-db-replica"] {
        assert_eq!(after[decoy], before[decoy], "{decoy} left alone");
    }
    let why = |id: &str| {
        r.skipped
            .iter()
            .find(|e| e.target == id)
            .map(|e| e.reason.clone())
            .unwrap_or_default()
    };
    assert!(
        why("orders-1").contains("member of DB cluster orders"),
        "{}",
        why("orders-1")
    );
    assert!(
        why("main-db").contains("read replica"),
        "{}",
        why("main-db")
    );
    assert!(why("main-db-replica").contains("read replica of main-db"));
    assert!(r.skipped.iter().all(|e| e.target != "untagged-db"));
    // The last action is remembered on the database, as on an instance.
    let tags = rds
        .list_tags_for_resource()
        .resource_name(
            rds.describe_db_instances()
                .db_instance_identifier("reports-db")
                .send()
                .await
                .unwrap()
                .db_instances()[0]
                .db_instance_arn()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        tags.tag_list()
            .iter()
            .any(|t| t.key() == Some("fleetkeeper:last-action")
                && t.value().unwrap().starts_with("stopped ")),
        "{:?}",
        tags.tag_list()
    );

    // A rerun the same evening changes nothing.
    let again = at(&moto, &[], later).await;
    assert!(of_kind(&again.done, "rds").is_empty() && of_kind(&again.done, "aurora").is_empty());

    // In the morning office hours open and the night shift's hours end. The databases start
    // first; the app waits for them, and starts at the next run, once they are available.
    let m = at(&moto, &[], morning).await;
    assert_eq!(of_kind(&m.done, "rds"), ["night-db", "reports-db"]);
    assert!(of_kind(&m.done, "ec2").is_empty());
    let app = at(&moto, &[], after_breakfast).await;
    assert_eq!(of_kind(&app.done, "ec2"), [web[0].as_str()]);
    let action = |id: &str| {
        m.done
            .iter()
            .find(|e| e.target == id)
            .unwrap()
            .action
            .clone()
    };
    assert_eq!(
        (action("reports-db"), action("night-db")),
        ("start".into(), "stop".into())
    );
    assert_eq!(of_kind(&m.done, "aurora"), ["orders"]);
    let after = statuses(&rds).await;
    assert_eq!(after["reports-db"], "available");
    assert_eq!(after["cluster:orders"], "available");
}

/// A cluster in a global database, in `region` (the first member of a global database is its
/// primary, later ones its secondaries).
async fn global_member(moto: &Moto, region: &str, id: &str, global: &str, tags: Vec<Tag>) {
    let rds = Moto::aws(&moto.env(&[("AWS_REGION", region)]))
        .await
        .client("RDS", aws_sdk_rds::Client::new);
    rds.create_db_cluster()
        .db_cluster_identifier(id)
        .engine("aurora-postgresql")
        .global_cluster_identifier(global)
        .set_tags(Some(tags))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_global_databases_secondary_is_skipped_and_its_primary_stops() {
    let moto = Moto::start();
    let rds = rds(&moto).await;
    for global in ["orders-global", "billing-global"] {
        rds.create_global_cluster()
            .global_cluster_identifier(global)
            .engine("aurora-postgresql")
            .send()
            .await
            .unwrap();
    }
    // orders: primary elsewhere, its secondary here; billing: primary here, secondary elsewhere.
    global_member(
        &moto,
        "eu-central-1",
        "orders-frankfurt",
        "orders-global",
        vec![],
    )
    .await;
    global_member(
        &moto,
        "eu-west-1",
        "orders-dublin",
        "orders-global",
        vec![office()],
    )
    .await;
    global_member(
        &moto,
        "eu-west-1",
        "billing-dublin",
        "billing-global",
        vec![office()],
    )
    .await;
    global_member(
        &moto,
        "eu-central-1",
        "billing-frankfurt",
        "billing-global",
        vec![],
    )
    .await;
    let tue = clock::next(Weekday::Tuesday, "Europe/Berlin");
    let r = at(&moto, &[], clock::at(tue, "19:05", "Europe/Berlin")).await;
    assert_eq!(of_kind(&r.done, "aurora"), ["billing-dublin"], "{r:?}");
    let skipped = r
        .skipped
        .iter()
        .find(|e| e.target == "orders-dublin")
        .expect("the secondary is reported");
    assert!(
        skipped
            .reason
            .contains("secondary cluster of the Aurora global database orders-global"),
        "{}",
        skipped.reason
    );
    let after = statuses(&rds).await;
    assert_eq!(after["cluster:orders-dublin"], "available");
    assert_eq!(after["cluster:billing-dublin"], "stopped");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_resources_fail_the_cold_start_and_ec2_alone_is_todays_behaviour() {
    let moto = Moto::start();
    let rds = rds(&moto).await;
    db_instance(&rds, "reports-db", vec![office()], None).await;
    let err = try_at(&moto, &[("RESOURCES", "ec2,lambda")], clock::now())
        .await
        .unwrap_err();
    assert!(err.contains("RESOURCES"), "{err}");
    let tue = clock::next(Weekday::Tuesday, "Europe/Berlin");
    let evening = clock::at(tue, "19:05", "Europe/Berlin");
    let r = at(&moto, &[("RESOURCES", "ec2")], evening).await;
    assert!(r.planned.iter().all(|e| e.kind.as_deref() == Some("ec2")));
    assert_eq!(statuses(&rds).await["reports-db"], "available");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_rds_restarted_itself_is_stopped_again_and_a_persons_start_is_not() {
    let moto = Moto::start();
    let rds = rds(&moto).await;
    db_instance(&rds, "reports-db", vec![office()], None).await;
    db_instance(&rds, "analyst-db", vec![office()], None).await;
    let tue = clock::next(Weekday::Tuesday, "Europe/Berlin");
    at(&moto, &[], clock::at(tue, "19:05", "Europe/Berlin")).await;
    assert_eq!(statuses(&rds).await["reports-db"], "stopped");

    // RDS starts reports-db itself (moto never does: the test plays RDS), and says so; a
    // person starts analyst-db.
    for id in ["reports-db", "analyst-db"] {
        rds.start_db_instance()
            .db_instance_identifier(id)
            .send()
            .await
            .unwrap();
    }
    let arn = rds
        .describe_db_instances()
        .db_instance_identifier("reports-db")
        .send()
        .await
        .unwrap()
        .db_instances()[0]
        .db_instance_arn()
        .unwrap()
        .to_owned();
    let mut event = fleetkeeper_tests::event("nightly-stopper", "rds-auto-start");
    event["time"] = rfc3339(clock::at(tue, "21:00", "Europe/Berlin")).into();
    event["detail"]["SourceArn"] = arn.clone().into();
    event["account"] = arn.split(':').nth(4).unwrap().into();
    let remembered = with_payload(&moto, &[], event.clone()).await.unwrap();
    assert_eq!(remembered.fields.action, "rds-restart");
    assert_eq!(remembered.done.len(), 1, "{remembered:?}");
    assert_eq!(remembered.done[0].target, "reports-db");

    // The next evaluation stops reports-db again; analyst-db's start was a person's.
    let r = at(&moto, &[], clock::at(tue, "21:05", "Europe/Berlin")).await;
    assert_eq!(of_kind(&r.done, "rds"), ["reports-db"], "{:?}", r.skipped);
    let after = statuses(&rds).await;
    assert_eq!(after["reports-db"], "stopped");
    assert_eq!(after["analyst-db"], "available");
    let why = r
        .skipped
        .iter()
        .find(|e| e.target == "analyst-db")
        .map(|e| e.reason.as_str())
        .unwrap_or_default();
    assert!(why.starts_with("started by hand"), "{why}");

    // Another RDS event is refused, and an event for a database without the tag changes nothing.
    let mut other = event.clone();
    other["detail"]["EventID"] = "RDS-EVENT-0088".into();
    let err = with_payload(&moto, &[], other).await.unwrap_err();
    assert!(err.contains("RDS-EVENT-0154"), "{err}");
    db_instance(&rds, "untagged-db", vec![], None).await;
    let mut untagged = event;
    untagged["detail"]["SourceArn"] = arn.replace("reports-db", "untagged-db").into();
    untagged["detail"]["SourceIdentifier"] = "untagged-db".into();
    let r = with_payload(&moto, &[], untagged).await.unwrap();
    assert!(r.done.is_empty());
    assert!(
        r.skipped[0].reason.contains("not ours to stop"),
        "{:?}",
        r.skipped
    );
}

async fn asg(moto: &Moto) -> aws_sdk_autoscaling::Client {
    Moto::aws(&moto.env(&[("AWS_REGION", "eu-west-1")]))
        .await
        .client("AUTO_SCALING", aws_sdk_autoscaling::Client::new)
}

async fn group(
    asg: &aws_sdk_autoscaling::Client,
    name: &str,
    size: (i32, i32, i32),
    schedule: Option<&str>,
) {
    let mut call = asg
        .create_auto_scaling_group()
        .auto_scaling_group_name(name)
        .launch_configuration_name("fleetkeeper-test")
        .min_size(size.0)
        .desired_capacity(size.1)
        .max_size(size.2)
        .availability_zones("eu-west-1a");
    if let Some(s) = schedule {
        call = call.tags(
            aws_sdk_autoscaling::types::Tag::builder()
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .key("fleetkeeper:schedule")
                .value(s)
                .propagate_at_launch(false)
                .build(),
        );
    }
    call.send().await.unwrap();
}

/// name -> (min, desired, max, the size tag).
async fn sizes(
    asg: &aws_sdk_autoscaling::Client,
) -> BTreeMap<String, (i32, i32, i32, Option<String>)> {
    let out = asg.describe_auto_scaling_groups().send().await.unwrap();
    out.auto_scaling_groups()
        .iter()
        .map(|g| {
            let tag = g
                .tags()
                .iter()
                .find(|t| t.key() == Some("fleetkeeper:asg-size"))
                .and_then(|t| t.value().map(str::to_owned));
            (
                g.auto_scaling_group_name().unwrap().to_owned(),
                (
                    g.min_size().unwrap(),
                    g.desired_capacity().unwrap(),
                    g.max_size().unwrap(),
                    tag,
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_is_scaled_to_zero_and_back_to_exactly_its_size_that_evening() {
    let moto = Moto::start();
    let asg = asg(&moto).await;
    asg.create_launch_configuration()
        .launch_configuration_name("fleetkeeper-test")
        .image_id("ami-12c6146b")
        .instance_type("t3.micro")
        .send()
        .await
        .unwrap();
    group(&asg, "web", (2, 3, 6), Some("office-hours")).await;
    group(&asg, "batch", (1, 1, 2), None).await;
    group(&asg, "night", (1, 2, 4), Some("night-shift")).await;
    // Someone sizes web by hand during the day: that size is what comes back.
    asg.update_auto_scaling_group()
        .auto_scaling_group_name("web")
        .min_size(1)
        .desired_capacity(4)
        .send()
        .await
        .unwrap();
    let asg_only = [("RESOURCES", "asg")];
    let tue = clock::next(Weekday::Tuesday, "Europe/Berlin");
    let r = at(&moto, &asg_only, clock::at(tue, "19:05", "Europe/Berlin")).await;
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    assert_eq!(of_kind(&r.done, "asg"), ["web"]);
    let evening = sizes(&asg).await;
    assert_eq!(evening["web"], (0, 0, 6, Some("1,4,6".to_owned())));
    assert_eq!(evening["batch"], (1, 1, 2, None), "untagged: left alone");
    assert_eq!(evening["night"], (1, 2, 4, None), "in its hours");
    // A rerun changes nothing; the morning restores exactly what was recorded.
    let again = at(&moto, &asg_only, clock::at(tue, "19:10", "Europe/Berlin")).await;
    assert!(of_kind(&again.done, "asg").is_empty());
    let wed = tue.tomorrow().unwrap();
    let m = at(&moto, &asg_only, clock::at(wed, "07:05", "Europe/Berlin")).await;
    assert_eq!(of_kind(&m.done, "asg"), ["night", "web"]);
    let morning = sizes(&asg).await;
    assert_eq!(
        (morning["web"].0, morning["web"].1, morning["web"].2),
        (1, 4, 6)
    );
    assert_eq!(
        morning["night"].1, 0,
        "the night shift's group stops in the morning"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_and_its_scalable_target_go_to_zero_and_come_back_exactly() {
    use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
    let moto = Moto::start();
    let env = moto.env(&[("AWS_REGION", "eu-west-1")]);
    let aws = Moto::aws(&env).await;
    let ecs = aws.client("ECS", aws_sdk_ecs::Client::new);
    let scaling = aws.client(
        "APPLICATION_AUTO_SCALING",
        aws_sdk_applicationautoscaling::Client::new,
    );
    ecs_services(
        &ecs,
        "preview",
        &[
            ("api", 4, Some("office-hours")),
            ("worker", 3, Some("office-hours")),
            ("other", 2, None),
        ],
    )
    .await;
    scaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id("service/preview/api")
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(2)
        .max_capacity(10)
        .send()
        .await
        .unwrap();
    let state = || async {
        let out = ecs
            .describe_services()
            .cluster("preview")
            .services("api")
            .services("worker")
            .services("other")
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .send()
            .await
            .unwrap();
        let mut m = BTreeMap::new();
        for s in out.services() {
            let tag = s
                .tags()
                .iter()
                .find(|t| t.key() == Some("fleetkeeper:ecs-size"))
                .and_then(|t| t.value().map(str::to_owned));
            m.insert(
                s.service_name().unwrap().to_owned(),
                (s.desired_count(), tag),
            );
        }
        let target = scaling
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .send()
            .await
            .unwrap();
        let t = &target.scalable_targets()[0];
        (m, (t.min_capacity(), t.max_capacity()))
    };
    let ecs_only = [("RESOURCES", "ecs")];
    let tue = clock::next(Weekday::Tuesday, "Europe/Berlin");
    let r = at(&moto, &ecs_only, clock::at(tue, "19:05", "Europe/Berlin")).await;
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    assert_eq!(of_kind(&r.done, "ecs").len(), 2, "{:?}", r.skipped);
    let (evening, bounds) = state().await;
    assert_eq!(evening["api"], (0, Some("4,2,10".to_owned())));
    assert_eq!(evening["worker"], (0, Some("3".to_owned())));
    assert_eq!(evening["other"], (2, None), "untagged: left alone");
    assert_eq!(
        bounds,
        (0, 0),
        "the target goes to 0/0, or it would scale the service back"
    );
    let m = at(
        &moto,
        &ecs_only,
        clock::at(tue.tomorrow().unwrap(), "07:05", "Europe/Berlin"),
    )
    .await;
    assert_eq!(of_kind(&m.done, "ecs").len(), 2);
    let (morning, bounds) = state().await;
    assert_eq!(morning["api"].0, 4);
    assert_eq!(morning["worker"].0, 3);
    assert_eq!(bounds, (2, 10), "restored exactly");
}
