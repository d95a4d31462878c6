//! Seeding moto with EC2 instances for integration tests.

use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};

/// An AMI moto ships (owned by "amazon").
pub async fn any_image(client: &aws_sdk_ec2::Client) -> String {
    let images = client
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .expect("moto lists its AMIs");
    images.images()[0].image_id().expect("an AMI id").to_owned()
}

/// Launches `n` t3.micro instances tagged `Name=seeded` plus `tags`; returns their ids.
pub async fn launch(client: &aws_sdk_ec2::Client, n: i32, tags: &[(&str, &str)]) -> Vec<String> {
    let mut spec = TagSpecification::builder()
        .resource_type(ResourceType::Instance)
        .tags(Tag::builder().key("Name").value("seeded").build());
    for (k, v) in tags {
        spec = spec.tags(Tag::builder().key(*k).value(*v).build());
    }
    let out = client
        .run_instances()
        .image_id(any_image(client).await)
        .instance_type(InstanceType::T3Micro)
        .min_count(n)
        .max_count(n)
        .tag_specifications(spec.build())
        .send()
        .await
        .expect("moto launches instances");
    out.instances()
        .iter()
        .map(|i| i.instance_id().expect("an instance id").to_owned())
        .collect()
}

/// The instance as moto describes it.
pub async fn describe_instance(
    client: &aws_sdk_ec2::Client,
    id: &str,
) -> aws_sdk_ec2::types::Instance {
    let out = client
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .expect("moto describes the instance");
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .next()
        .cloned()
        .expect("moto has the instance")
}

/// One tag of an instance, if it has it.
pub async fn instance_tag(client: &aws_sdk_ec2::Client, id: &str, key: &str) -> Option<String> {
    describe_instance(client, id)
        .await
        .tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value().map(str::to_owned))
}

/// The instance's state name (running, stopped, terminated ...).
pub async fn instance_state(client: &aws_sdk_ec2::Client, id: &str) -> String {
    describe_instance(client, id)
        .await
        .state()
        .and_then(|s| s.name())
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default()
}

/// Creates an 8 GiB volume in availability zone `az` with `tags`; returns its id.
pub async fn volume(client: &aws_sdk_ec2::Client, az: &str, tags: &[(&str, &str)]) -> String {
    let mut req = client.create_volume().availability_zone(az).size(8);
    if !tags.is_empty() {
        let mut spec = TagSpecification::builder().resource_type(ResourceType::Volume);
        for (k, v) in tags {
            spec = spec.tags(Tag::builder().key(*k).value(*v).build());
        }
        req = req.tag_specifications(spec.build());
    }
    let out = req.send().await.expect("moto creates volumes");
    out.volume_id().expect("a volume id").to_owned()
}
