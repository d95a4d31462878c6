//! The AWS calls, behind two capability traits: the accounts below an organizational unit
//! (Organizations, paginated, searched down every child OU) and the run's objects in S3.

use std::collections::VecDeque;

use fleetkeeper::error::aws_err;
use fleetkeeper::{AwsError, Error};

use crate::config::{Accounts, Config};
use crate::model::Account;

/// What a warm function keeps: the organisation it lists and the store runs are written to.
pub struct App<O, S> {
    pub organization: O,
    pub store: S,
}

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

/// The accounts a run reaches: ACCOUNT_IDS as given, or every account below
/// ORGANIZATION_UNITS. A unit that is not in the organisation is the caller's error.
pub async fn accounts<O: Organization + Sync>(
    organization: &O,
    config: &Config,
) -> Result<Vec<Account>, Error> {
    match &config.accounts {
        Accounts::Listed(ids) => Ok(ids
            .iter()
            .map(|id| Account {
                id: id.clone(),
                name: String::new(),
                status: "ACTIVE".into(),
            })
            .collect()),
        Accounts::Units(units) => {
            let mut all = Vec::new();
            for unit in units {
                match organization.accounts_below(unit).await {
                    Ok(found) => all.extend(found),
                    Err(e)
                        if matches!(
                            e.code(),
                            Some("ParentNotFoundException" | "OrganizationalUnitNotFoundException")
                        ) =>
                    {
                        return Err(Error::input(format!(
                            "ORGANIZATION_UNITS: {unit} is not an OU or root of this organisation ({}): nothing was started",
                            e.code().unwrap_or_default()
                        )));
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "listing the organisation failed");
                        return Err(e.into());
                    }
                }
            }
            Ok(all)
        }
    }
}

/// In-memory ports for unit tests: an organisation of units and their accounts, and a store
/// of objects by key.
#[cfg(test)]
pub mod fake {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use fleetkeeper::AwsError;

    use super::{Organization, Store};
    use crate::model::Account;

    #[derive(Default)]
    pub struct FakeOrganization {
        pub units: BTreeMap<String, Vec<Account>>,
    }

    impl Organization for FakeOrganization {
        async fn accounts_below(&self, unit: &str) -> Result<Vec<Account>, AwsError> {
            self.units.get(unit).cloned().ok_or_else(|| {
                AwsError::service(
                    "organizations:ListChildren",
                    "ParentNotFoundException",
                    &format!("{unit} not found"),
                )
            })
        }
    }

    #[derive(Default)]
    pub struct FakeStore {
        pub objects: Mutex<BTreeMap<String, Vec<u8>>>,
    }

    impl FakeStore {
        pub fn keys(&self) -> Vec<String> {
            self.objects.lock().unwrap().keys().cloned().collect()
        }

        pub fn json(&self, key: &str) -> Option<serde_json::Value> {
            let objects = self.objects.lock().unwrap();
            objects.get(key).map(|b| serde_json::from_slice(b).unwrap())
        }
    }

    impl Store for FakeStore {
        async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), AwsError> {
            self.objects.lock().unwrap().insert(key.to_owned(), body);
            Ok(())
        }

        async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, AwsError> {
            Ok(self.objects.lock().unwrap().get(key).cloned())
        }

        async fn list(&self, prefix: &str) -> Result<Vec<String>, AwsError> {
            Ok(self
                .keys()
                .into_iter()
                .filter(|k| k.starts_with(prefix))
                .collect())
        }
    }
}
