//! Observe: the instances of one region, through the narrow capability the census needs.

use std::future::Future;

use fleetkeeper::AwsError;
pub use fleetkeeper::ec2::Instance;

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
        fleetkeeper::ec2::describe_instances(&self.client, Vec::new()).await
    }
}

/// An in-memory region for unit tests: its instances, or the error reading them gives.
#[cfg(test)]
pub mod fake {
    use fleetkeeper::AwsError;

    use super::{Fleet, Instance};

    pub struct Fixed(pub &'static str, pub Result<Vec<Instance>, AwsError>);

    impl Fleet for Fixed {
        fn region(&self) -> &str {
            self.0
        }

        async fn instances(&self) -> Result<Vec<Instance>, AwsError> {
            self.1.clone()
        }
    }
}
