//! Observe and act: the EC2 calls nightly-stopper needs, behind one narrow trait.

use std::future::Future;

use fleetkeeper::AwsError;
use fleetkeeper::ec2::{describe_instances, dry_run_ok, state_filter, tag_key_filter};
use fleetkeeper::error::aws_err;

pub use fleetkeeper::ec2::Instance;

/// One region (of one account).
pub trait Fleet {
    /// `region` or `account/region`, as reported.
    fn name(&self) -> &str;
    /// Instances carrying the tag `key`, whatever its value (filtered by EC2), every page.
    fn scheduled(&self, key: &str) -> impl Future<Output = Result<Vec<Instance>, AwsError>> + Send;
    /// StopInstances; `dry_run` asks EC2 whether it would succeed and changes nothing.
    fn stop(
        &self,
        ids: &[String],
        hibernate: bool,
        dry_run: bool,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    fn start(
        &self,
        ids: &[String],
        dry_run: bool,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    fn tag(
        &self,
        ids: &[String],
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

pub struct Ec2Fleet {
    name: String,
    client: aws_sdk_ec2::Client,
}

impl Ec2Fleet {
    pub fn new(name: String, client: aws_sdk_ec2::Client) -> Self {
        Ec2Fleet { name, client }
    }
}

impl Fleet for Ec2Fleet {
    fn name(&self) -> &str {
        &self.name
    }

    async fn scheduled(&self, key: &str) -> Result<Vec<Instance>, AwsError> {
        // Terminated instances linger for an hour; they are never ours to act on.
        let live = state_filter(&["pending", "running", "stopping", "stopped", "shutting-down"]);
        describe_instances(&self.client, vec![tag_key_filter(key), live]).await
    }

    async fn stop(&self, ids: &[String], hibernate: bool, dry_run: bool) -> Result<(), AwsError> {
        let mut call = self
            .client
            .stop_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .dry_run(dry_run);
        if hibernate {
            call = call.hibernate(true);
        }
        dry_run_ok(
            call.send()
                .await
                .map(|_| ())
                .map_err(aws_err("ec2:StopInstances")),
        )
    }

    async fn start(&self, ids: &[String], dry_run: bool) -> Result<(), AwsError> {
        let call = self
            .client
            .start_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .dry_run(dry_run);
        dry_run_ok(
            call.send()
                .await
                .map(|_| ())
                .map_err(aws_err("ec2:StartInstances")),
        )
    }

    async fn tag(&self, ids: &[String], key: &str, value: &str) -> Result<(), AwsError> {
        fleetkeeper::tagging::create_tag(&self.client, ids, key, value).await
    }
}

/// Where a schedules document is kept (SCHEDULES_PARAMETER): tests answer in memory.
pub trait Documents {
    fn read(&self, name: &str) -> impl Future<Output = Result<String, AwsError>> + Send;
}

impl Documents for aws_sdk_ssm::Client {
    async fn read(&self, name: &str) -> Result<String, AwsError> {
        fleetkeeper::parameter::read(self, name).await
    }
}
