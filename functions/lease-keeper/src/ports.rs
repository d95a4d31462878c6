//! What lease-keeper reaches: EC2 in each region ([`Instances`]) and the way warnings go out
//! ([`Notifier`]: SES e-mail to the owner, or the alerts topic), each a small trait with its
//! SDK implementation beside it.

use std::collections::BTreeMap;
use std::future::Future;

use aws_sdk_ec2::types::InstanceAttributeName;
use fleetkeeper::AwsError;
use fleetkeeper::ec2::{Instance, describe_instances, state_filter, tag_key_filter};
use fleetkeeper::error::aws_err;
use fleetkeeper::lifecycle::{stop_instance, terminate_instance};
use fleetkeeper::tagging::{create_tag, snapshot_tags};
use fleetkeeper::tags::EXPIRES_TAG;

/// One region, with its limiter for EC2's mutating calls.
pub type Place<I> = fleetkeeper::exec::Place<I, fleetkeeper::exec::RateLimiter>;

/// One region.
pub trait Instances {
    fn region(&self) -> &str;
    /// Instances carrying a lease (`fleetkeeper:expires-at`), every page.
    fn leased(&self) -> impl Future<Output = Result<Vec<Instance>, AwsError>> + Send;
    /// Whether termination protection (DisableApiTermination) is on.
    fn protected(&self, id: &str) -> impl Future<Output = Result<bool, AwsError>> + Send;
    fn stop(&self, id: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
    fn terminate(&self, id: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
    fn tag(
        &self,
        id: &str,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// CreateSnapshot tagged at creation; its id.
    fn snapshot(
        &self,
        volume_id: &str,
        description: &str,
        tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
}

pub struct Ec2Instances {
    region: String,
    client: aws_sdk_ec2::Client,
}

impl Ec2Instances {
    pub fn new(region: String, client: aws_sdk_ec2::Client) -> Self {
        Ec2Instances { region, client }
    }
}

impl Instances for Ec2Instances {
    fn region(&self) -> &str {
        &self.region
    }

    async fn leased(&self) -> Result<Vec<Instance>, AwsError> {
        let live = state_filter(&["pending", "running", "stopping", "stopped"]);
        describe_instances(&self.client, vec![tag_key_filter(EXPIRES_TAG), live]).await
    }

    async fn protected(&self, id: &str) -> Result<bool, AwsError> {
        let out = self
            .client
            .describe_instance_attribute()
            .instance_id(id)
            .attribute(InstanceAttributeName::DisableApiTermination)
            .send()
            .await
            .map_err(aws_err("ec2:DescribeInstanceAttribute"))?;
        Ok(out
            .disable_api_termination()
            .and_then(|v| v.value())
            .unwrap_or(false))
    }

    async fn stop(&self, id: &str) -> Result<(), AwsError> {
        stop_instance(&self.client, id).await
    }

    async fn terminate(&self, id: &str) -> Result<(), AwsError> {
        terminate_instance(&self.client, id).await
    }

    async fn tag(&self, id: &str, key: &str, value: &str) -> Result<(), AwsError> {
        create_tag(&self.client, &[id.to_owned()], key, value).await
    }

    async fn snapshot(
        &self,
        volume_id: &str,
        description: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String, AwsError> {
        let out = self
            .client
            .create_snapshot()
            .volume_id(volume_id)
            .description(description)
            .tag_specifications(snapshot_tags(tags))
            .send()
            .await
            .map_err(aws_err("ec2:CreateSnapshot"))?;
        Ok(out.snapshot_id().unwrap_or_default().to_owned())
    }
}

/// Where a warning goes.
pub trait Notifier {
    /// `to`: the owner's address (the topic ignores it and names the owner in the text).
    fn send(
        &self,
        to: &str,
        subject: &str,
        body: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

pub enum Mailer {
    /// SES, from a verified sender.
    Email {
        client: aws_sdk_sesv2::Client,
        sender: String,
    },
    /// The alerts topic.
    Topic {
        client: aws_sdk_sns::Client,
        arn: String,
    },
}

impl Notifier for Mailer {
    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), AwsError> {
        use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
        match self {
            Mailer::Email { client, sender } => {
                let text = |data: &str| Content::builder().data(data).charset("UTF-8").build();
                let message = Message::builder()
                    .subject(text(subject).map_err(build_err)?)
                    .body(Body::builder().text(text(body).map_err(build_err)?).build())
                    .build();
                client
                    .send_email()
                    .from_email_address(sender)
                    .destination(Destination::builder().to_addresses(to).build())
                    .content(EmailContent::builder().simple(message).build())
                    .send()
                    .await
                    .map_err(aws_err("ses:SendEmail"))?;
            }
            Mailer::Topic { client, arn } => {
                client
                    .publish()
                    .topic_arn(arn)
                    // SNS caps subjects at 100 characters.
                    .subject(subject.chars().take(100).collect::<String>())
                    .message(format!("To {to}:\n\n{body}"))
                    .send()
                    .await
                    .map_err(aws_err("sns:Publish"))?;
            }
        }
        Ok(())
    }
}

fn build_err(e: aws_sdk_sesv2::error::BuildError) -> AwsError {
    AwsError {
        operation: "ses:SendEmail".into(),
        kind: fleetkeeper::error::AwsErrorKind::Construction,
        code: None,
        message: Some(e.to_string()),
        http_status: None,
    }
}

/// In-memory ports for unit tests: a region holding leased instances, and a mailbox.
#[cfg(test)]
pub mod fake {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Mutex;

    use fleetkeeper::AwsError;
    use fleetkeeper::ec2::Instance;

    use super::{Instances, Notifier};

    #[derive(Default)]
    pub struct FakeInstances {
        pub region: String,
        pub instances: Vec<Instance>,
        /// Set: DescribeInstances fails with it.
        pub unreadable: Option<AwsError>,
        /// Ids with termination protection on.
        pub protected: BTreeSet<String>,
        /// Every change, in order: `stop i-1`, `terminate i-1`, `tag i-1 key=value`,
        /// `snapshot vol-1`.
        pub changes: Mutex<Vec<String>>,
    }

    impl FakeInstances {
        pub fn holding(region: &str, instances: Vec<Instance>) -> Self {
            FakeInstances {
                region: region.to_owned(),
                instances,
                ..FakeInstances::default()
            }
        }

        pub fn changes(&self) -> Vec<String> {
            self.changes.lock().unwrap().clone()
        }

        /// The changes made to one instance (its snapshots are not named by it).
        pub fn changes_to(&self, id: &str) -> Vec<String> {
            self.changes()
                .into_iter()
                .filter(|c| c.split(' ').nth(1) == Some(id))
                .collect()
        }

        fn change(&self, what: String) -> Result<(), AwsError> {
            self.changes.lock().unwrap().push(what);
            Ok(())
        }
    }

    impl Instances for FakeInstances {
        fn region(&self) -> &str {
            &self.region
        }

        async fn leased(&self) -> Result<Vec<Instance>, AwsError> {
            match &self.unreadable {
                Some(e) => Err(e.clone()),
                None => Ok(self.instances.clone()),
            }
        }

        async fn protected(&self, id: &str) -> Result<bool, AwsError> {
            Ok(self.protected.contains(id))
        }

        async fn stop(&self, id: &str) -> Result<(), AwsError> {
            self.change(format!("stop {id}"))
        }

        async fn terminate(&self, id: &str) -> Result<(), AwsError> {
            self.change(format!("terminate {id}"))
        }

        async fn tag(&self, id: &str, key: &str, value: &str) -> Result<(), AwsError> {
            self.change(format!("tag {id} {key}={value}"))
        }

        async fn snapshot(
            &self,
            volume_id: &str,
            _: &str,
            _: &BTreeMap<String, String>,
        ) -> Result<String, AwsError> {
            self.change(format!("snapshot {volume_id}"))?;
            Ok(format!("snap-{volume_id}"))
        }
    }

    /// Every message sent: to, subject.
    #[derive(Default)]
    pub struct FakeNotifier {
        pub sent: Mutex<Vec<(String, String)>>,
    }

    impl Notifier for FakeNotifier {
        async fn send(&self, to: &str, subject: &str, _: &str) -> Result<(), AwsError> {
            self.sent
                .lock()
                .unwrap()
                .push((to.to_owned(), subject.to_owned()));
            Ok(())
        }
    }
}
