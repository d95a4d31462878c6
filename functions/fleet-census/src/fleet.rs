//! Observe: the instances of one region, through the narrow capability the census needs.

use std::collections::BTreeMap;
use std::future::Future;

use fleetkeeper::AwsError;
use fleetkeeper::error::aws_err;

/// What the census knows of one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub state: String,
    pub tags: BTreeMap<String, String>,
}

/// One region's instances.
pub trait Fleet {
    fn region(&self) -> &str;
    fn instances(&self) -> impl Future<Output = Result<Vec<Instance>, AwsError>> + Send;
}

/// The SDK implementation.
pub struct Ec2Fleet {
    region: String,
    client: aws_sdk_ec2::Client,
}

impl Ec2Fleet {
    pub fn new(region: String, client: aws_sdk_ec2::Client) -> Self {
        Ec2Fleet { region, client }
    }
}

impl Fleet for Ec2Fleet {
    fn region(&self) -> &str {
        &self.region
    }

    async fn instances(&self) -> Result<Vec<Instance>, AwsError> {
        let mut pages = self
            .client
            .describe_instances()
            .max_results(1000)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws_err("ec2:DescribeInstances"))?;
            for i in page.reservations().iter().flat_map(|r| r.instances()) {
                out.push(Instance {
                    id: i.instance_id().unwrap_or_default().to_owned(),
                    state: i
                        .state()
                        .and_then(|s| s.name())
                        .map(|n| n.as_str().to_owned())
                        .unwrap_or_else(|| "unknown".into()),
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
}
