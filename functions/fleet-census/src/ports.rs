//! Observe: the instances of one region, and what else carries the schedule tag there,
//! through the narrow capability the census needs.

use std::future::Future;

use fleetkeeper::AwsError;
pub use fleetkeeper::ec2::Instance;
use fleetkeeper::kinds::{Found, Kind, KindClients};

/// One region's instances, and its other scheduled resources.
pub trait Fleet {
    fn region(&self) -> &str;
    fn instances(&self) -> impl Future<Output = Result<Vec<Instance>, AwsError>> + Send;
    /// Databases, groups and services of `kinds` carrying the tag `key`.
    fn scheduled(
        &self,
        key: &str,
        kinds: &[Kind],
    ) -> impl Future<Output = Result<Found, AwsError>> + Send;
}

/// The SDK implementation.
pub struct Ec2Fleet {
    region: String,
    client: aws_sdk_ec2::Client,
    kinds: KindClients,
}

impl Ec2Fleet {
    pub fn new(region: String, client: aws_sdk_ec2::Client, kinds: KindClients) -> Self {
        Ec2Fleet {
            region,
            client,
            kinds,
        }
    }
}

impl Fleet for Ec2Fleet {
    fn region(&self) -> &str {
        &self.region
    }

    async fn instances(&self) -> Result<Vec<Instance>, AwsError> {
        fleetkeeper::ec2::describe_instances(&self.client, Vec::new()).await
    }

    async fn scheduled(&self, key: &str, kinds: &[Kind]) -> Result<Found, AwsError> {
        self.kinds.scheduled(key, kinds).await
    }
}

/// An in-memory region for unit tests: its instances and other resources, or the error
/// reading them gives.
#[cfg(test)]
pub mod fake {
    use fleetkeeper::AwsError;
    use fleetkeeper::kinds::{Found, Kind};

    use super::{Fleet, Instance};

    pub struct Fixed(pub &'static str, pub Result<Vec<Instance>, AwsError>);

    /// A region with other kinds too.
    pub struct WithKinds(pub &'static str, pub Vec<Instance>, pub Found);

    impl Fleet for Fixed {
        fn region(&self) -> &str {
            self.0
        }

        async fn instances(&self) -> Result<Vec<Instance>, AwsError> {
            self.1.clone()
        }

        async fn scheduled(&self, _: &str, _: &[Kind]) -> Result<Found, AwsError> {
            Ok(Found::default())
        }
    }

    impl Fleet for WithKinds {
        fn region(&self) -> &str {
            self.0
        }

        async fn instances(&self) -> Result<Vec<Instance>, AwsError> {
            Ok(self.1.clone())
        }

        async fn scheduled(&self, _: &str, _: &[Kind]) -> Result<Found, AwsError> {
            Ok(self.2.clone())
        }
    }
}
