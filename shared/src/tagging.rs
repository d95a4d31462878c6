//! Tags on EC2 resources (feature `ec2`): one tag written on resources (CreateTags), and the
//! tags a new snapshot carries from its creation. Apart from `ec2` so that a read-only
//! function using `ec2` is not counted as tagging by the IAM check.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};

use crate::error::{AwsError, aws_err};

/// One tag on each of `ids` (instances, volumes, snapshots).
pub async fn create_tag(
    client: &aws_sdk_ec2::Client,
    ids: &[String],
    key: &str,
    value: &str,
) -> Result<(), AwsError> {
    client
        .create_tags()
        .set_resources(Some(ids.to_vec()))
        .tags(Tag::builder().key(key).value(value).build())
        .send()
        .await
        .map_err(aws_err("ec2:CreateTags"))?;
    Ok(())
}

/// Several tags on one resource in one CreateTags: all or none.
pub async fn create_tags(
    client: &aws_sdk_ec2::Client,
    id: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let tags = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    client
        .create_tags()
        .resources(id)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(aws_err("ec2:CreateTags"))?;
    Ok(())
}

/// Tags a new snapshot carries from its creation (in the same call: no window without them).
pub fn snapshot_tags(tags: &BTreeMap<String, String>) -> TagSpecification {
    let mut spec = TagSpecification::builder().resource_type(ResourceType::Snapshot);
    for (k, v) in tags {
        spec = spec.tags(Tag::builder().key(k).value(v).build());
    }
    spec.build()
}
