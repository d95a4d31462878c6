//! The EC2 calls, behind one capability trait: the owner's live instances (quota), an earlier
//! launch of the same form, RunInstances from the launch template; and for the "your instances"
//! page, the caller's instances and the extend, stop and terminate of one of them.

use aws_sdk_ec2::types::{LaunchTemplateSpecification, ResourceType, Tag, TagSpecification};

use fleetkeeper::AwsError;
use fleetkeeper::ec2::{Instance, describe_instances, state_filter, tag_filter, tag_key_filter};
use fleetkeeper::error::aws_err;
use fleetkeeper::lifecycle::{stop_instance, terminate_instance};
use fleetkeeper::seal::SEAL_TAG;
use fleetkeeper::tagging::create_tag;
use fleetkeeper::tags::TERMINATED_TAG;

use fleetkeeper::http::SecretSource;
use fleetkeeper::seal::{Keys, lease_claims};

use crate::config::{Config, Template};
use crate::model::{Book, LISTED_STATES, Launch, Who};
use fleetkeeper::tags::TOKEN_TAG;

/// What a warm function keeps: EC2, the shared secret's source, the seal key and the claim
/// books. Generic over the ports, so the routes also run over in-memory ones.
pub struct App<I = Ec2, C = S3Claims> {
    pub ec2: I,
    pub secret: Option<SecretSource>,
    pub region: String,
    /// The seal key: what it launches it seals, and "your instances" acts only on sealed ones.
    pub keys: Keys,
    /// Each caller's claim book: the quota's conditional writes.
    pub claims: C,
}

impl<I, C> App<I, C> {
    /// The instances whose lease seal verifies: a lease tag is anyone's to write, or to copy
    /// from a genuine lease onto another instance.
    pub async fn sealed(&self, found: Vec<Instance>) -> Result<Vec<Instance>, AwsError> {
        let ring = self.keys.ring_for(found.iter().map(|i| &i.tags)).await?;
        Ok(found
            .into_iter()
            .filter(|i| {
                ring.check(&i.id, &i.tags, &lease_claims(&i.tags))
                    .is_valid()
            })
            .collect())
    }
}

/// What the caller is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launched {
    pub id: String,
    pub state: String,
}

pub struct Ec2 {
    pub client: aws_sdk_ec2::Client,
}

/// The EC2 calls instance-launcher makes, as one capability: tests can answer them in memory.
pub trait Instances {
    /// A live instance launched by this token earlier (a second submit of the same form).
    fn launched_with(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<Option<Instance>, AwsError>> + Send;
    /// RunInstances of one instance from the template. With `dry_run`, EC2 only checks, and
    /// Ok(None) means it would have succeeded.
    fn run(
        &self,
        launch: &Launch,
        config: &Config,
        dry_run: bool,
    ) -> impl Future<Output = Result<Option<Launched>, AwsError>> + Send;
    /// The live instances carrying the caller's tag that instance-launcher launched.
    fn mine(&self, who: &Who) -> impl Future<Output = Result<Vec<Instance>, AwsError>> + Send;
    /// The same in every state, terminated ones too (EC2 shows those for about an hour).
    fn ever(&self, who: &Who) -> impl Future<Output = Result<Vec<Instance>, AwsError>> + Send;
    /// One instance by id, in any state (None when EC2 has no such instance).
    fn find(&self, id: &str) -> impl Future<Output = Result<Option<Instance>, AwsError>> + Send;
    /// A new lease: writes `set`, removes `remove`, and starts the instance when asked.
    fn extend(
        &self,
        id: &str,
        set: &[(String, String)],
        remove: &[&str],
        start: bool,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    fn stop(&self, id: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Writes the lease's seal on a new instance.
    fn seal(&self, id: &str, seal: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Tags the time first (a repeated terminate is answered with it), then terminates.
    fn terminate(&self, id: &str, at: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}

impl Instances for Ec2 {
    /// A live instance launched by this token earlier (a second submit of the same form).
    async fn launched_with(&self, token: &str) -> Result<Option<Instance>, AwsError> {
        let found = describe_instances(
            &self.client,
            vec![
                tag_filter(TOKEN_TAG, token),
                state_filter(&["pending", "running", "stopping", "stopped"]),
            ],
        )
        .await?;
        Ok(found.into_iter().next())
    }

    /// RunInstances of one instance from the template. With `dry_run`, EC2 only checks
    /// (permissions, template, type) and Ok(None) means it would have succeeded.
    async fn run(
        &self,
        launch: &Launch,
        config: &Config,
        dry_run: bool,
    ) -> Result<Option<Launched>, AwsError> {
        let template = match &config.template {
            Template::Id(id) => LaunchTemplateSpecification::builder().launch_template_id(id),
            Template::Name(name) => {
                LaunchTemplateSpecification::builder().launch_template_name(name)
            }
        }
        .version(&config.template_version)
        .build();
        let tags = |kind: ResourceType| {
            let mut spec = TagSpecification::builder().resource_type(kind);
            for (k, v) in &launch.tags {
                spec = spec.tags(Tag::builder().key(k).value(v).build());
            }
            spec.build()
        };
        let sent = self
            .client
            .run_instances()
            .launch_template(template)
            .instance_type(launch.instance_type.as_str().into())
            .min_count(1)
            .max_count(1)
            .client_token(&launch.token)
            .tag_specifications(tags(ResourceType::Instance))
            .tag_specifications(tags(ResourceType::Volume))
            .dry_run(dry_run)
            .send()
            .await
            .map_err(aws_err("ec2:RunInstances"));
        let out = match sent {
            Err(e) if dry_run && e.code() == Some("DryRunOperation") => return Ok(None),
            other => other?,
        };
        let instance = out.instances().first();
        Ok(Some(Launched {
            id: instance
                .and_then(|i| i.instance_id())
                .unwrap_or_default()
                .to_owned(),
            state: instance
                .and_then(|i| i.state())
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_owned())
                .unwrap_or_else(|| "pending".into()),
        }))
    }

    async fn mine(&self, who: &Who) -> Result<Vec<Instance>, AwsError> {
        let (key, value) = who.tag();
        let value: String = value.chars().take(256).collect();
        describe_instances(
            &self.client,
            vec![
                tag_filter(key, &value),
                tag_key_filter(TOKEN_TAG),
                state_filter(&LISTED_STATES),
            ],
        )
        .await
    }

    async fn ever(&self, who: &Who) -> Result<Vec<Instance>, AwsError> {
        let (key, value) = who.tag();
        let value: String = value.chars().take(256).collect();
        describe_instances(
            &self.client,
            vec![tag_filter(key, &value), tag_key_filter(TOKEN_TAG)],
        )
        .await
    }

    async fn find(&self, id: &str) -> Result<Option<Instance>, AwsError> {
        // A filter, not InstanceIds: an unknown id is simply not found instead of an error.
        let filter = aws_sdk_ec2::types::Filter::builder()
            .name("instance-id")
            .values(id)
            .build();
        Ok(describe_instances(&self.client, vec![filter])
            .await?
            .into_iter()
            .next())
    }

    async fn extend(
        &self,
        id: &str,
        set: &[(String, String)],
        remove: &[&str],
        start: bool,
    ) -> Result<(), AwsError> {
        let mut tags = self.client.create_tags().resources(id);
        for (k, v) in set {
            tags = tags.tags(Tag::builder().key(k).value(v).build());
        }
        tags.send().await.map_err(aws_err("ec2:CreateTags"))?;
        let mut untag = self.client.delete_tags().resources(id);
        for k in remove {
            untag = untag.tags(Tag::builder().key(*k).build());
        }
        untag.send().await.map_err(aws_err("ec2:DeleteTags"))?;
        if start {
            self.client
                .start_instances()
                .instance_ids(id)
                .send()
                .await
                .map_err(aws_err("ec2:StartInstances"))?;
        }
        Ok(())
    }

    async fn stop(&self, id: &str) -> Result<(), AwsError> {
        stop_instance(&self.client, id).await
    }

    async fn seal(&self, id: &str, seal: &str) -> Result<(), AwsError> {
        create_tag(&self.client, &[id.to_owned()], SEAL_TAG, seal).await
    }

    async fn terminate(&self, id: &str, at: &str) -> Result<(), AwsError> {
        create_tag(&self.client, &[id.to_owned()], TERMINATED_TAG, at).await?;
        terminate_instance(&self.client, id).await
    }
}

/// The outcome of a conditional write of a claim book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Done,
    /// Another launch wrote the book since it was read: read it again.
    Conflict,
}

/// Each caller's claim book, rewritten only if nobody else wrote it since it was read.
pub trait Claims {
    /// The book and its version (None when the caller has none yet).
    fn read(
        &self,
        who: &Who,
    ) -> impl Future<Output = Result<(Book, Option<String>), AwsError>> + Send;
    /// Writes `book` if the stored one is still `version` (None: if there is none).
    fn write(
        &self,
        who: &Who,
        book: &Book,
        version: Option<&str>,
    ) -> impl Future<Output = Result<Written, AwsError>> + Send;
}

/// The claim books as S3 objects, one per caller, named by a digest of the caller (an e-mail
/// address or ARN is not an object name to show in a bucket listing).
pub struct S3Claims {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
}

impl S3Claims {
    fn key(who: &Who) -> String {
        format!("launch-claims/{}.json", who.digest("claims"))
    }
}

impl Claims for S3Claims {
    async fn read(&self, who: &Who) -> Result<(Book, Option<String>), AwsError> {
        let got = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(Self::key(who))
            .send()
            .await;
        let out = match got {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok((Book::default(), None));
            }
            Err(e) => return Err(aws_err("s3:GetObject")(e)),
        };
        let etag = out.e_tag().map(str::to_owned);
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| AwsError::service("s3:GetObject", "ReadFailed", &e.to_string()))?
            .into_bytes();
        // A damaged book is read as empty: the instances themselves still count, and the
        // next write replaces it (conditionally, on this version).
        let book = serde_json::from_slice(&bytes).unwrap_or_default();
        Ok((book, etag))
    }

    async fn write(
        &self,
        who: &Who,
        book: &Book,
        version: Option<&str>,
    ) -> Result<Written, AwsError> {
        let body = serde_json::to_vec(book).unwrap_or_default();
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(Self::key(who))
            .content_type("application/json")
            .body(body.into());
        let put = match version {
            Some(etag) => put.if_match(etag),
            None => put.if_none_match("*"),
        };
        match put.send().await {
            Ok(_) => Ok(Written::Done),
            // 412: another write landed first; 409: one is landing now.
            Err(e)
                if matches!(
                    e.raw_response().map(|r| r.status().as_u16()),
                    Some(412 | 409)
                ) =>
            {
                Ok(Written::Conflict)
            }
            Err(e) => Err(aws_err("s3:PutObject")(e)),
        }
    }
}

/// In-memory ports for unit tests: EC2 holding instances (RunInstances makes one from the
/// launch's tags), and claim books written only by a compare-and-set on their version.
#[cfg(test)]
pub mod fake {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use fleetkeeper::AwsError;
    use fleetkeeper::ec2::{Instance, InstanceState};
    use fleetkeeper::seal::SEAL_TAG;
    use fleetkeeper::tags::{TERMINATED_TAG, TOKEN_TAG};

    use super::{Claims, Instances, Launched, Written};
    use crate::config::Config;
    use crate::model::{Book, Launch, Who};

    #[derive(Default)]
    pub struct FakeEc2 {
        pub instances: Mutex<Vec<Instance>>,
    }

    impl FakeEc2 {
        pub fn all(&self) -> Vec<Instance> {
            self.instances.lock().unwrap().clone()
        }

        pub fn get(&self, id: &str) -> Option<Instance> {
            self.all().into_iter().find(|i| i.id == id)
        }

        pub fn add(&self, i: Instance) {
            self.instances.lock().unwrap().push(i);
        }

        fn change(&self, id: &str, f: impl FnOnce(&mut Instance)) -> Result<(), AwsError> {
            let mut all = self.instances.lock().unwrap();
            match all.iter_mut().find(|i| i.id == id) {
                Some(i) => {
                    f(i);
                    Ok(())
                }
                None => Err(AwsError::service(
                    "ec2:CreateTags",
                    "InvalidInstanceID.NotFound",
                    &format!("{id} not found"),
                )),
            }
        }
    }

    impl Instances for FakeEc2 {
        async fn launched_with(&self, token: &str) -> Result<Option<Instance>, AwsError> {
            Ok(self.all().into_iter().find(|i| {
                i.tags.get(TOKEN_TAG).map(String::as_str) == Some(token)
                    && InstanceState::LIVE.contains(&i.state)
            }))
        }

        async fn run(
            &self,
            launch: &Launch,
            _: &Config,
            dry_run: bool,
        ) -> Result<Option<Launched>, AwsError> {
            if dry_run {
                return Ok(None);
            }
            let mut all = self.instances.lock().unwrap();
            let id = format!("i-{:017x}", all.len() + 1);
            all.push(Instance {
                id: id.clone(),
                state: "pending".into(),
                instance_type: launch.instance_type.clone(),
                tags: launch.tags.iter().cloned().collect(),
                ..Default::default()
            });
            Ok(Some(Launched {
                id,
                state: "pending".into(),
            }))
        }

        async fn mine(&self, who: &Who) -> Result<Vec<Instance>, AwsError> {
            let live = |i: &Instance| InstanceState::LIVE.contains(&i.state);
            Ok(self
                .all()
                .into_iter()
                .filter(|i| who.owns(i) && live(i))
                .collect())
        }

        async fn ever(&self, who: &Who) -> Result<Vec<Instance>, AwsError> {
            Ok(self.all().into_iter().filter(|i| who.owns(i)).collect())
        }

        async fn find(&self, id: &str) -> Result<Option<Instance>, AwsError> {
            Ok(self.get(id))
        }

        async fn extend(
            &self,
            id: &str,
            set: &[(String, String)],
            remove: &[&str],
            start: bool,
        ) -> Result<(), AwsError> {
            self.change(id, |i| {
                for k in remove {
                    i.tags.remove(*k);
                }
                i.tags.extend(set.iter().cloned());
                if start {
                    i.state = "pending".into();
                }
            })
        }

        async fn stop(&self, id: &str) -> Result<(), AwsError> {
            self.change(id, |i| i.state = "stopping".into())
        }

        async fn seal(&self, id: &str, seal: &str) -> Result<(), AwsError> {
            self.change(id, |i| {
                i.tags.insert(SEAL_TAG.to_owned(), seal.to_owned());
            })
        }

        async fn terminate(&self, id: &str, at: &str) -> Result<(), AwsError> {
            self.change(id, |i| {
                i.tags.insert(TERMINATED_TAG.to_owned(), at.to_owned());
                i.state = "shutting-down".into();
            })
        }
    }

    /// Each caller's book and its version number.
    #[derive(Default)]
    pub struct FakeClaims {
        pub books: Mutex<BTreeMap<String, (Book, u64)>>,
    }

    impl Claims for FakeClaims {
        async fn read(&self, who: &Who) -> Result<(Book, Option<String>), AwsError> {
            let books = self.books.lock().unwrap();
            Ok(match books.get(who.name()) {
                Some((book, v)) => (book.clone(), Some(v.to_string())),
                None => (Book::default(), None),
            })
        }

        async fn write(
            &self,
            who: &Who,
            book: &Book,
            version: Option<&str>,
        ) -> Result<Written, AwsError> {
            let mut books = self.books.lock().unwrap();
            let stored = books.get(who.name()).map(|(_, v)| v.to_string());
            if stored.as_deref() != version {
                return Ok(Written::Conflict);
            }
            let next = stored.map_or(1, |v| v.parse::<u64>().unwrap_or(0) + 1);
            books.insert(who.name().to_owned(), (book.clone(), next));
            Ok(Written::Done)
        }
    }
}
