//! Observe and act: the EC2 calls nightly-stopper needs, behind one narrow trait.

use std::collections::BTreeMap;
use std::future::Future;

use aws_sdk_ec2::types::{Filter, Tag};
use fleetkeeper::AwsError;
use fleetkeeper::error::aws_err;

/// What the plan needs to know of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    /// EC2's state name: pending, running, stopping, stopped, shutting-down, terminated.
    pub state: String,
    pub tags: BTreeMap<String, String>,
}

/// One region (of one account).
pub trait Fleet {
    /// `region` or `account/region`, as reported.
    fn name(&self) -> &str;
    /// Instances tagged `key=value` (filtered by EC2), every page.
    fn tagged(
        &self,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<Vec<Instance>, AwsError>> + Send;
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

/// With DryRun set, EC2 answers `DryRunOperation` when the call would have succeeded.
fn dry_run_ok(result: Result<(), AwsError>) -> Result<(), AwsError> {
    match result {
        Err(e) if e.code() == Some("DryRunOperation") => Ok(()),
        other => other,
    }
}

impl Fleet for Ec2Fleet {
    fn name(&self) -> &str {
        &self.name
    }

    async fn tagged(&self, key: &str, value: &str) -> Result<Vec<Instance>, AwsError> {
        let mut pages = self
            .client
            .describe_instances()
            .filters(
                Filter::builder()
                    .name(format!("tag:{key}"))
                    .values(value)
                    .build(),
            )
            // Terminated instances linger for an hour; they are never ours to act on.
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .set_values(Some(
                        ["pending", "running", "stopping", "stopped", "shutting-down"]
                            .map(String::from)
                            .to_vec(),
                    ))
                    .build(),
            )
            .max_results(1000)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws_err("ec2:DescribeInstances"))?;
            for i in page.reservations().iter().flat_map(|r| r.instances()) {
                let Some(id) = i.instance_id() else { continue };
                out.push(Instance {
                    id: id.to_owned(),
                    state: i
                        .state()
                        .and_then(|s| s.name())
                        .map(|n| n.as_str().to_owned())
                        .unwrap_or_default(),
                    tags: i
                        .tags()
                        .iter()
                        .filter_map(|t| {
                            Some((
                                t.key()?.to_owned(),
                                t.value().unwrap_or_default().to_owned(),
                            ))
                        })
                        .collect(),
                });
            }
        }
        Ok(out)
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
        self.client
            .create_tags()
            .set_resources(Some(ids.to_vec()))
            .tags(Tag::builder().key(key).value(value).build())
            .send()
            .await
            .map(|_| ())
            .map_err(aws_err("ec2:CreateTags"))
    }
}
