//! Seeding the kinds nightly-stopper keeps beyond EC2, for the tests that read them.

/// An ECS cluster `cluster` with one task definition and the services given as (name, desired
/// count, schedule tag's value if tagged); their ARNs, in order.
pub async fn ecs_services(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    services: &[(&str, i32, Option<&str>)],
) -> Vec<String> {
    ecs.create_cluster()
        .cluster_name(cluster)
        .send()
        .await
        .unwrap();
    ecs.register_task_definition()
        .family("web")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("web")
                .image("nginx")
                .memory(128)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut arns = Vec::new();
    for (name, desired, schedule) in services {
        let mut call = ecs
            .create_service()
            .cluster(cluster)
            .service_name(*name)
            .task_definition("web")
            .desired_count(*desired);
        if let Some(s) = schedule {
            call = call.tags(
                aws_sdk_ecs::types::Tag::builder()
                    .key("fleetkeeper:schedule")
                    .value(*s)
                    .build(),
            );
        }
        let out = call.send().await.unwrap();
        arns.push(
            out.service()
                .and_then(|s| s.service_arn())
                .unwrap_or_default()
                .to_owned(),
        );
    }
    arns
}
