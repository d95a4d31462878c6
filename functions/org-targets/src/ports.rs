//! The AWS calls, behind two capability traits: the accounts below an organizational unit
//! (Organizations, paginated, searched down every child OU) and the run's objects in S3.

use std::collections::VecDeque;

use fleetkeeper::AwsError;
use fleetkeeper::error::aws_err;

use crate::model::Account;

pub trait Organization {
    /// Every account below `unit` (an OU or the root), at any depth.
    fn accounts_below(
        &self,
        unit: &str,
    ) -> impl Future<Output = Result<Vec<Account>, AwsError>> + Send;
}

pub trait Store {
    fn put(&self, key: &str, body: Vec<u8>) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// None when there is no such object.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>, AwsError>> + Send;
    /// The keys under `prefix`, every page.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
}

pub struct Organizations {
    pub client: aws_sdk_organizations::Client,
}

impl Organization for Organizations {
    async fn accounts_below(&self, unit: &str) -> Result<Vec<Account>, AwsError> {
        let mut accounts = Vec::new();
        let mut parents = VecDeque::from([unit.to_owned()]);
        while let Some(parent) = parents.pop_front() {
            let mut pages = self
                .client
                .list_accounts_for_parent()
                .parent_id(&parent)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(aws_err("organizations:ListAccountsForParent"))?;
                for a in page.accounts() {
                    let Some(id) = a.id() else { continue };
                    let status = a
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_else(|| "UNKNOWN".into());
                    accounts.push(Account {
                        id: id.to_owned(),
                        name: a.name().unwrap_or_default().to_owned(),
                        status,
                    });
                }
            }
            let mut pages = self
                .client
                .list_organizational_units_for_parent()
                .parent_id(&parent)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page =
                    page.map_err(aws_err("organizations:ListOrganizationalUnitsForParent"))?;
                parents.extend(
                    page.organizational_units()
                        .iter()
                        .filter_map(|u| u.id().map(str::to_owned)),
                );
            }
        }
        Ok(accounts)
    }
}

pub struct Bucket {
    pub client: aws_sdk_s3::Client,
    pub name: String,
}

impl Store for Bucket {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), AwsError> {
        self.client
            .put_object()
            .bucket(&self.name)
            .key(key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await
            .map_err(aws_err("s3:PutObject"))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, AwsError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = aws_err("s3:GetObject")(e);
                return if e.code() == Some("NoSuchKey") {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
        };
        let bytes = out.body.collect().await.map_err(|e| AwsError {
            operation: "s3:GetObject".into(),
            kind: fleetkeeper::error::AwsErrorKind::Response,
            code: None,
            message: Some(e.to_string()),
            http_status: None,
        })?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, AwsError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.name)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws_err("s3:ListObjectsV2"))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        Ok(keys)
    }
}
