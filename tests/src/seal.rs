//! The seal key in moto's Secrets Manager, as the template creates it, and sealing a snapshot
//! a test made by hand as an operator's adopt would (the test holds the key, as the function
//! roles do).

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};

use fleetkeeper::Env;
use fleetkeeper::seal::{DEFAULT_SECRET, KeyRing, SEAL_TAG, SecretKeys, fleetkeeper_claims};

use crate::Moto;

/// A fresh random key for this test run: 64 hex characters, never printed.
fn random_key() -> String {
    (0..4)
        .map(|_| {
            format!(
                "{:016x}",
                RandomState::new().hash_one(std::time::SystemTime::now())
            )
        })
        .collect()
}

/// Creates `fleetkeeper/seal-key` in the moto `env` points at (once; again is a no-op) and
/// returns the ring read back through the function's own path.
pub async fn create_key(env: &Env) -> KeyRing {
    let aws = Moto::aws(env).await;
    let client = aws.client("SECRETS_MANAGER", aws_sdk_secretsmanager::Client::new);
    let created = client
        .create_secret()
        .name(DEFAULT_SECRET)
        .secret_string(random_key())
        .send()
        .await;
    if let Err(e) = created {
        let exists = e
            .as_service_error()
            .is_some_and(|s| s.is_resource_exists_exception());
        assert!(exists, "creating the seal key in moto: {e:?}");
    }
    SecretKeys::new(client, DEFAULT_SECRET)
        .ring(&Default::default())
        .await
        .expect("the seal key reads back")
}

/// Every tag snapshot `id` carries, as EC2 lists them.
async fn snapshot_tags(ec2: &aws_sdk_ec2::Client, id: &str) -> Vec<aws_sdk_ec2::types::Tag> {
    let out = ec2
        .describe_snapshots()
        .snapshot_ids(id)
        .send()
        .await
        .unwrap();
    out.snapshots()[0].tags().to_vec()
}

/// Writes the seal `ring` makes for snapshot `id` over the fleetkeeper tags it carries.
pub async fn seal_snapshot(ec2: &aws_sdk_ec2::Client, ring: &KeyRing, id: &str) {
    let tags: BTreeMap<String, String> = snapshot_tags(ec2, id)
        .await
        .iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
        .collect();
    let seal = ring.seal(id, &fleetkeeper_claims(&tags)).unwrap();
    fleetkeeper::tagging::create_tag(ec2, &[id.to_owned()], SEAL_TAG, &seal)
        .await
        .unwrap();
}

/// Every tag of snapshot `from` (its seal included) written onto snapshot `onto`: the
/// strongest forgery someone with ec2:CreateTags can make.
pub async fn copy_every_tag(ec2: &aws_sdk_ec2::Client, from: &str, onto: &str) {
    let tags = snapshot_tags(ec2, from).await;
    ec2.create_tags()
        .resources(onto)
        .set_tags(Some(tags))
        .send()
        .await
        .unwrap();
}

/// Seals instance `id`'s lease as instance-launcher does at launch: over its lease tags.
pub async fn seal_lease(ec2: &aws_sdk_ec2::Client, ring: &KeyRing, id: &str) {
    let i = crate::ec2::describe_instance(ec2, id).await;
    let tags: BTreeMap<String, String> = i
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
        .collect();
    let seal = ring
        .seal(id, &fleetkeeper::seal::lease_claims(&tags))
        .unwrap();
    fleetkeeper::tagging::create_tag(ec2, &[id.to_owned()], SEAL_TAG, &seal)
        .await
        .unwrap();
}

/// Every tag of instance `from` (its seal included) written onto instance `onto`.
pub async fn copy_every_instance_tag(ec2: &aws_sdk_ec2::Client, from: &str, onto: &str) {
    let tags = crate::ec2::describe_instance(ec2, from)
        .await
        .tags()
        .to_vec();
    ec2.create_tags()
        .resources(onto)
        .set_tags(Some(tags))
        .send()
        .await
        .unwrap();
}
