//! Observe and act: the EC2 calls nightly-stopper needs, behind one narrow trait.

use std::future::Future;
use std::sync::Arc;

use fleetkeeper::aws::Aws;
use fleetkeeper::exec::RateLimiter;
use fleetkeeper::parameter::{Cached, REREAD_AFTER};
use fleetkeeper::{ConfigError, Error};

use crate::config::{Config, DOCUMENT, SchedulesSource};
use crate::schedule::{self, Schedules};

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

/// StopInstances (and CreateTags) and StartInstances have buckets of their own.
pub struct StartStop {
    pub stop: RateLimiter,
    pub start: RateLimiter,
}

impl StartStop {
    pub fn new(config: &Config) -> Self {
        StartStop {
            stop: RateLimiter::new(config.stop_rate),
            start: RateLimiter::new(config.start_rate),
        }
    }
}

/// One region of one account, with its own limiters.
pub type Place<F> = fleetkeeper::exec::Place<F, StartStop>;

/// Every region (REGIONS) of the function's own account, or of each account in ROLE_ARNS.
pub async fn targets(aws: &Aws, config: &Config) -> Vec<Place<Ec2Fleet>> {
    aws.places(
        &config.role_arns,
        "fleetkeeper-nightly-stopper",
        "EC2",
        &config.regions,
        aws_sdk_ec2::Client::new,
    )
    .await
    .into_iter()
    .map(|(name, client)| Place {
        port: Ec2Fleet::new(name, client),
        limits: StartStop::new(config),
    })
    .collect()
}

/// What a warm function keeps: a target per place, and the schedules document's source.
pub struct App<F, D> {
    pub targets: Vec<Place<F>>,
    pub documents: D,
    /// What SCHEDULES_PARAMETER held, read again after five minutes.
    pub schedules: Cached<Schedules>,
}

impl<F, D> App<F, D> {
    pub fn new(targets: Vec<Place<F>>, documents: D) -> Self {
        App {
            targets,
            documents,
            schedules: Cached::new(REREAD_AFTER),
        }
    }
}

/// The schedules in force: given in the configuration, or read from the parameter (a bad
/// document fails the run, naming the parameter, and changes nothing).
pub async fn schedules<F, D: Documents>(
    app: &App<F, D>,
    config: &Config,
) -> Result<Arc<Schedules>, Error> {
    let name = match &config.schedules {
        SchedulesSource::Given(s) => return Ok(Arc::clone(s)),
        SchedulesSource::Parameter(name) => name,
    };
    if let Some(s) = app.schedules.fresh() {
        return Ok(s);
    }
    let text = app.documents.read(name).await?;
    let parsed =
        schedule::parse(&text, (&config.time_zone, &config.time_zone_name)).map_err(|e| {
            let origin = format!("SSM parameter {name} (SCHEDULES_PARAMETER)");
            ConfigError::document(origin, DOCUMENT, e)
        })?;
    Ok(app.schedules.store(parsed))
}

/// In-memory ports for unit tests: a region that holds instances and refuses some ids the way
/// EC2 does (the whole call fails), and a schedules document.
#[cfg(test)]
pub mod fake {
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    use fleetkeeper::AwsError;

    use super::{Documents, Fleet, Instance};

    #[derive(Default)]
    pub struct FakeFleet {
        pub name: String,
        pub instances: Vec<Instance>,
        /// Set: DescribeInstances fails with it.
        pub unreadable: Option<AwsError>,
        pub missing: BTreeSet<String>,
        pub no_hibernation: BTreeSet<String>,
        pub no_capacity: BTreeSet<String>,
        /// Every call: its verb and how many ids.
        pub calls: Mutex<Vec<(String, usize)>>,
        /// Stopped for real (not a dry run): the id, and whether it hibernated.
        pub stopped: Mutex<Vec<(String, bool)>>,
        pub started: Mutex<Vec<String>>,
        pub tagged: Mutex<Vec<(String, String)>>,
    }

    impl FakeFleet {
        pub fn holding(name: &str, instances: Vec<Instance>) -> Self {
            FakeFleet {
                name: name.to_owned(),
                instances,
                ..FakeFleet::default()
            }
        }

        pub fn stopped_ids(&self) -> Vec<String> {
            self.stopped
                .lock()
                .unwrap()
                .iter()
                .map(|(id, _)| id.clone())
                .collect()
        }

        pub fn changed_nothing(&self) -> bool {
            self.stopped.lock().unwrap().is_empty()
                && self.started.lock().unwrap().is_empty()
                && self.tagged.lock().unwrap().is_empty()
        }
    }

    impl Fleet for FakeFleet {
        fn name(&self) -> &str {
            &self.name
        }

        async fn scheduled(&self, key: &str) -> Result<Vec<Instance>, AwsError> {
            match &self.unreadable {
                Some(e) => Err(e.clone()),
                None => Ok(self
                    .instances
                    .iter()
                    .filter(|i| i.tags.contains_key(key))
                    .cloned()
                    .collect()),
            }
        }

        async fn stop(
            &self,
            ids: &[String],
            hibernate: bool,
            dry_run: bool,
        ) -> Result<(), AwsError> {
            self.calls.lock().unwrap().push(("stop".into(), ids.len()));
            if let Some(bad) = ids.iter().find(|i| self.missing.contains(*i)) {
                return Err(AwsError::service(
                    "ec2:StopInstances",
                    "InvalidInstanceID.NotFound",
                    &format!("{bad} not found"),
                ));
            }
            if hibernate && ids.iter().any(|i| self.no_hibernation.contains(i)) {
                return Err(AwsError::service(
                    "ec2:StopInstances",
                    "UnsupportedHibernationConfiguration",
                    "not enabled",
                ));
            }
            if !dry_run {
                self.stopped
                    .lock()
                    .unwrap()
                    .extend(ids.iter().map(|i| (i.clone(), hibernate)));
            }
            Ok(())
        }

        async fn start(&self, ids: &[String], dry_run: bool) -> Result<(), AwsError> {
            self.calls.lock().unwrap().push(("start".into(), ids.len()));
            if let Some(bad) = ids.iter().find(|i| self.no_capacity.contains(*i)) {
                return Err(AwsError::service(
                    "ec2:StartInstances",
                    "InsufficientInstanceCapacity",
                    &format!("no t3.micro capacity for {bad}"),
                ));
            }
            if !dry_run {
                self.started.lock().unwrap().extend(ids.iter().cloned());
            }
            Ok(())
        }

        async fn tag(&self, ids: &[String], _: &str, value: &str) -> Result<(), AwsError> {
            self.tagged
                .lock()
                .unwrap()
                .extend(ids.iter().map(|i| (i.clone(), value.to_owned())));
            Ok(())
        }
    }

    /// The schedules document in SSM, or the error reading it gives.
    pub struct FakeDocuments(pub Result<String, AwsError>);

    impl Documents for FakeDocuments {
        async fn read(&self, _: &str) -> Result<String, AwsError> {
            self.0.clone()
        }
    }
}
