//! fleet-census against moto: every kind a schedule keeps is counted by kind, by schedule and
//! stopped, through the real SDK reads; untagged resources are not; kinds outside RESOURCES are
//! not read at all.

use fleet_census::Lambda;
use fleet_census::config::Config;
use fleet_census::handler::run;
use fleet_census::ports::Ec2Fleet;
use fleetkeeper::kinds::KindClients;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper_tests::Moto;
use fleetkeeper_tests::ec2::launch;
use fleetkeeper_tests::kinds::ecs_services;

const REGION: &str = "eu-west-1";

async fn census(moto: &Moto, resources: &str) -> fleet_census::report::CensusReport {
    let env = moto.env(&[("AWS_REGION", REGION), ("RESOURCES", resources)]);
    let config = Config::from_env(&env).unwrap();
    let aws = Moto::aws(&env).await;
    let sdk = aws.sdk_for("EC2");
    let lambda = Lambda {
        fleets: vec![Ec2Fleet::new(
            REGION.into(),
            aws_sdk_ec2::Client::new(&sdk),
            KindClients::new(&sdk),
        )],
        config,
        function_name: "fleet-census".into(),
    };
    let mut metrics = Metrics::for_function("fleet-census");
    let report = run(
        &lambda.fleets,
        &lambda.config,
        &lambda.function_name,
        serde_json::json!({}),
        &mut metrics,
    )
    .await
    .unwrap();
    let lines = metrics.lines(jiff::Timestamp::now()).join("\n");
    for kind in resources.split(',') {
        assert!(
            lines.contains(&format!("\"ResourceKind\":\"{kind}\"")),
            "ScheduledResources for {kind}: {lines}"
        );
    }
    report
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_is_counted_by_schedule_and_untagged_ones_are_not() {
    let moto = Moto::start();
    let aws = Moto::aws(&moto.env(&[("AWS_REGION", REGION)])).await;
    let ec2 = aws.client("EC2", aws_sdk_ec2::Client::new);
    let rds = aws.client("RDS", aws_sdk_rds::Client::new);
    let asg = aws.client("AUTO_SCALING", aws_sdk_autoscaling::Client::new);
    let ecs = aws.client("ECS", aws_sdk_ecs::Client::new);
    launch(&ec2, 2, &[("fleetkeeper:schedule", "office-hours")]).await;
    launch(&ec2, 1, &[]).await;

    let rds_tag = |v: &str| {
        aws_sdk_rds::types::Tag::builder()
            .key("fleetkeeper:schedule")
            .value(v)
            .build()
    };
    for (id, tags) in [
        ("reports-db", vec![rds_tag("office-hours")]),
        ("night-db", vec![rds_tag("night-shift")]),
        ("untagged-db", vec![]),
    ] {
        rds.create_db_instance()
            .db_instance_identifier(id)
            .db_instance_class("db.t3.micro")
            .engine("postgres")
            .allocated_storage(20)
            .master_username("fleetkeeper")
            .master_user_password("not-a-secret-moto-only")
            .set_tags(Some(tags))
            .send()
            .await
            .unwrap();
    }
    rds.stop_db_instance()
        .db_instance_identifier("night-db")
        .send()
        .await
        .unwrap();
    rds.create_db_cluster()
        .db_cluster_identifier("orders")
        .engine("aurora-postgresql")
        .master_username("fleetkeeper")
        .master_user_password("not-a-secret-moto-only")
        .tags(rds_tag("office-hours"))
        .send()
        .await
        .unwrap();

    asg.create_launch_configuration()
        .launch_configuration_name("census")
        .image_id("ami-12c6146b")
        .instance_type("t3.micro")
        .send()
        .await
        .unwrap();
    for (name, desired, tagged) in [("web", 0, true), ("batch", 1, false)] {
        let mut call = asg
            .create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .launch_configuration_name("census")
            .min_size(0)
            .desired_capacity(desired)
            .max_size(4)
            .availability_zones("eu-west-1a");
        if tagged {
            call = call.tags(
                aws_sdk_autoscaling::types::Tag::builder()
                    .resource_id(name)
                    .resource_type("auto-scaling-group")
                    .key("fleetkeeper:schedule")
                    .value("office-hours")
                    .propagate_at_launch(false)
                    .build(),
            );
        }
        call.send().await.unwrap();
    }

    ecs_services(
        &ecs,
        "preview",
        &[("api", 2, Some("office-hours")), ("other", 2, None)],
    )
    .await;

    let r = census(&moto, "ec2,rds,aurora,asg,ecs").await;
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    let c = &r.fields.regions[0];
    let of = |k: &str| (c.by_kind[k].scheduled, c.by_kind[k].stopped);
    assert_eq!(of("ec2"), (2, 0));
    assert_eq!(
        of("rds"),
        (2, 1),
        "reports-db and night-db (stopped), not untagged-db"
    );
    assert_eq!(c.by_kind["rds"].by_schedule["night-shift"], 1);
    assert_eq!(of("aurora"), (1, 0));
    assert_eq!(of("asg"), (1, 1), "web at zero; batch has no tag");
    assert_eq!(of("ecs"), (1, 0), "api; other has no tag");
    assert!(
        r.done[0].reason.contains("1 asg scheduled"),
        "{}",
        r.done[0].reason
    );

    // EC2 alone (the default): the other kinds are not read or listed.
    let r = census(&moto, "ec2").await;
    assert_eq!(
        r.fields.regions[0].by_kind.keys().collect::<Vec<_>>(),
        ["ec2"]
    );
}
