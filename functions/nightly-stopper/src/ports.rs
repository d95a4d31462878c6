//! Observe and act: the EC2 calls nightly-stopper needs, behind one narrow trait, and the RDS
//! calls for databases (DB instances and Aurora clusters) behind another.

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

use crate::model::{Database, Group, Kind, Service, ServiceSize, Size};
use fleetkeeper::kinds::{self, scalable_id};

/// Every kind a schedule keeps, in one place: what the run's port provides.
pub trait Resources: Fleet + Databases + Groups + Services {}

impl<T: Fleet + Databases + Groups + Services> Resources for T {}

/// ECS (and Application Auto Scaling) in the same place: the services a schedule keeps.
pub trait Services {
    /// Services carrying the tag `key` in every cluster of the place, with their scalable
    /// targets' bounds.
    fn scheduled_services(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Vec<Service>, AwsError>> + Send;
    /// The scalable target's bounds first (or it would scale the service back), then the
    /// desired count.
    fn resize_service(
        &self,
        service: &Service,
        size: ServiceSize,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// TagResource on the service, all in one call.
    fn tag_service(
        &self,
        arn: &str,
        tags: &[(&str, String)],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// Auto Scaling in the same place: the groups a schedule keeps.
pub trait Groups {
    /// Groups carrying the tag `key`, whatever its value, every page.
    fn scheduled_groups(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Vec<Group>, AwsError>> + Send;
    /// UpdateAutoScalingGroup: min, desired and max.
    fn resize_group(
        &self,
        name: &str,
        size: Size,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// CreateOrUpdateTags on the group, all in one call.
    fn tag_group(
        &self,
        name: &str,
        tags: &[(&str, String)],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// RDS in the same place: the databases a schedule keeps.
pub trait Databases {
    /// DB instances (`Rds` in `kinds`) and DB clusters (`Aurora`) carrying the tag `key`,
    /// whatever its value, every page. RDS has no tag filter: read all, kept here.
    fn scheduled_databases(
        &self,
        key: &str,
        kinds: &[Kind],
    ) -> impl Future<Output = Result<Vec<Database>, AwsError>> + Send;
    /// StopDBInstance or StopDBCluster.
    fn stop_database(&self, db: &Database) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// StartDBInstance or StartDBCluster.
    fn start_database(&self, db: &Database) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// AddTagsToResource: one tag.
    fn tag_database(
        &self,
        arn: &str,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

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
    /// RDS in the same place (None: this port schedules instances only).
    rds: Option<aws_sdk_rds::Client>,
    /// Auto Scaling in the same place.
    asg: Option<aws_sdk_autoscaling::Client>,
    /// ECS and Application Auto Scaling in the same place.
    ecs: Option<(aws_sdk_ecs::Client, aws_sdk_applicationautoscaling::Client)>,
}

impl Ec2Fleet {
    pub fn new(name: String, client: aws_sdk_ec2::Client) -> Self {
        Ec2Fleet {
            name,
            client,
            rds: None,
            asg: None,
            ecs: None,
        }
    }

    pub fn with_ecs(
        mut self,
        ecs: aws_sdk_ecs::Client,
        scaling: aws_sdk_applicationautoscaling::Client,
    ) -> Self {
        self.ecs = Some((ecs, scaling));
        self
    }

    fn ecs(
        &self,
        operation: &str,
    ) -> Result<&(aws_sdk_ecs::Client, aws_sdk_applicationautoscaling::Client), AwsError> {
        self.ecs.as_ref().ok_or_else(|| {
            AwsError::service(operation, "NoClient", "this port was built without ECS")
        })
    }

    pub fn with_auto_scaling(mut self, asg: aws_sdk_autoscaling::Client) -> Self {
        self.asg = Some(asg);
        self
    }

    fn asg(&self, operation: &str) -> Result<&aws_sdk_autoscaling::Client, AwsError> {
        self.asg.as_ref().ok_or_else(|| {
            AwsError::service(
                operation,
                "NoClient",
                "this port was built without Auto Scaling",
            )
        })
    }

    pub fn with_rds(mut self, rds: aws_sdk_rds::Client) -> Self {
        self.rds = Some(rds);
        self
    }

    fn rds(&self, operation: &str) -> Result<&aws_sdk_rds::Client, AwsError> {
        self.rds.as_ref().ok_or_else(|| {
            AwsError::service(operation, "NoClient", "this port was built without RDS")
        })
    }
}

impl Services for Ec2Fleet {
    async fn scheduled_services(&self, key: &str) -> Result<Vec<Service>, AwsError> {
        let (ecs, scaling) = self.ecs("ecs:ListClusters")?;
        kinds::scheduled_services(ecs, scaling, key).await
    }

    async fn resize_service(&self, service: &Service, size: ServiceSize) -> Result<(), AwsError> {
        let (ecs, scaling) = self.ecs("ecs:UpdateService")?;
        if let Some((min, max)) = size.bounds {
            use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
            scaling
                .register_scalable_target()
                .service_namespace(ServiceNamespace::Ecs)
                .resource_id(scalable_id(service))
                .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                .min_capacity(min)
                .max_capacity(max)
                .send()
                .await
                .map_err(aws_err("application-autoscaling:RegisterScalableTarget"))?;
        }
        ecs.update_service()
            .cluster(&service.cluster)
            .service(&service.name)
            .desired_count(size.desired)
            .send()
            .await
            .map_err(aws_err("ecs:UpdateService"))?;
        Ok(())
    }

    async fn tag_service(&self, arn: &str, tags: &[(&str, String)]) -> Result<(), AwsError> {
        let (ecs, _) = self.ecs("ecs:TagResource")?;
        let tags = tags
            .iter()
            .map(|(k, v)| aws_sdk_ecs::types::Tag::builder().key(*k).value(v).build())
            .collect();
        ecs.tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(aws_err("ecs:TagResource"))?;
        Ok(())
    }
}

impl Groups for Ec2Fleet {
    async fn scheduled_groups(&self, key: &str) -> Result<Vec<Group>, AwsError> {
        kinds::scheduled_groups(self.asg("autoscaling:DescribeAutoScalingGroups")?, key).await
    }

    async fn resize_group(&self, name: &str, size: Size) -> Result<(), AwsError> {
        self.asg("autoscaling:UpdateAutoScalingGroup")?
            .update_auto_scaling_group()
            .auto_scaling_group_name(name)
            .min_size(size.min)
            .desired_capacity(size.desired)
            .max_size(size.max)
            .send()
            .await
            .map_err(aws_err("autoscaling:UpdateAutoScalingGroup"))?;
        Ok(())
    }

    async fn tag_group(&self, name: &str, tags: &[(&str, String)]) -> Result<(), AwsError> {
        let tags = tags
            .iter()
            .map(|(k, v)| {
                aws_sdk_autoscaling::types::Tag::builder()
                    .resource_id(name)
                    .resource_type("auto-scaling-group")
                    .key(*k)
                    .value(v)
                    .propagate_at_launch(false)
                    .build()
            })
            .collect();
        self.asg("autoscaling:CreateOrUpdateTags")?
            .create_or_update_tags()
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(aws_err("autoscaling:CreateOrUpdateTags"))?;
        Ok(())
    }
}

impl Databases for Ec2Fleet {
    async fn scheduled_databases(
        &self,
        key: &str,
        kinds: &[Kind],
    ) -> Result<Vec<Database>, AwsError> {
        kinds::scheduled_databases(self.rds("rds:DescribeDBInstances")?, key, kinds).await
    }

    async fn stop_database(&self, db: &Database) -> Result<(), AwsError> {
        match db.kind() {
            Kind::Aurora => {
                self.rds("rds:StopDBCluster")?
                    .stop_db_cluster()
                    .db_cluster_identifier(&db.id)
                    .send()
                    .await
                    .map_err(aws_err("rds:StopDBCluster"))?;
            }
            _ => {
                self.rds("rds:StopDBInstance")?
                    .stop_db_instance()
                    .db_instance_identifier(&db.id)
                    .send()
                    .await
                    .map_err(aws_err("rds:StopDBInstance"))?;
            }
        }
        Ok(())
    }

    async fn start_database(&self, db: &Database) -> Result<(), AwsError> {
        match db.kind() {
            Kind::Aurora => {
                self.rds("rds:StartDBCluster")?
                    .start_db_cluster()
                    .db_cluster_identifier(&db.id)
                    .send()
                    .await
                    .map_err(aws_err("rds:StartDBCluster"))?;
            }
            _ => {
                self.rds("rds:StartDBInstance")?
                    .start_db_instance()
                    .db_instance_identifier(&db.id)
                    .send()
                    .await
                    .map_err(aws_err("rds:StartDBInstance"))?;
            }
        }
        Ok(())
    }

    async fn tag_database(&self, arn: &str, key: &str, value: &str) -> Result<(), AwsError> {
        self.rds("rds:AddTagsToResource")?
            .add_tags_to_resource()
            .resource_name(arn)
            .tags(
                aws_sdk_rds::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build(),
            )
            .send()
            .await
            .map_err(aws_err("rds:AddTagsToResource"))?;
        Ok(())
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

/// Everything of the kinds in RESOURCES carrying the schedule tag in one place.
pub async fn scheduled<F: Resources + Sync>(
    port: &F,
    config: &Config,
) -> Result<crate::model::Scheduled, AwsError> {
    let key = &config.schedule_tag.key;
    let db_kinds: Vec<Kind> = [Kind::Rds, Kind::Aurora]
        .into_iter()
        .filter(|k| config.keeps(*k))
        .collect();
    // The kinds are read side by side: each is a chain of paged calls, and one kind's wait
    // for AWS is another's time to decode (ECS alone is two calls per ten services).
    let (instances, databases, groups, services) = futures_util::join!(
        async {
            match config.keeps(Kind::Ec2) {
                true => port.scheduled(key).await,
                false => Ok(Vec::new()),
            }
        },
        async {
            match db_kinds.is_empty() {
                true => Ok(Vec::new()),
                false => port.scheduled_databases(key, &db_kinds).await,
            }
        },
        async {
            match config.keeps(Kind::Asg) {
                true => port.scheduled_groups(key).await,
                false => Ok(Vec::new()),
            }
        },
        async {
            match config.keeps(Kind::Ecs) {
                true => port.scheduled_services(key).await,
                false => Ok(Vec::new()),
            }
        },
    );
    Ok(crate::model::Scheduled {
        instances: instances?,
        databases: databases?,
        groups: groups?,
        services: services?,
    })
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
    // RDS in the same place, built from the same (assumed-role, regional) configuration.
    let make = |sdk: &aws_types::SdkConfig| {
        (
            aws_sdk_ec2::Client::new(sdk),
            aws_sdk_rds::Client::new(sdk),
            aws_sdk_autoscaling::Client::new(sdk),
            aws_sdk_ecs::Client::new(sdk),
            aws_sdk_applicationautoscaling::Client::new(sdk),
        )
    };
    aws.places(
        &config.role_arns,
        "fleetkeeper-nightly-stopper",
        "EC2",
        &config.regions,
        make,
    )
    .await
    .into_iter()
    .map(|(name, (ec2, rds, asg, ecs, scaling))| Place {
        port: Ec2Fleet::new(name, ec2)
            .with_rds(rds)
            .with_auto_scaling(asg)
            .with_ecs(ecs, scaling),
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
    use crate::model::{Database, Group, Kind, Service, ServiceSize, Size};

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
        /// DB instances and clusters, and what was done to them (`stop db-1`, `start db-1`).
        pub databases: Vec<Database>,
        pub db_calls: Mutex<Vec<String>>,
        pub groups: Vec<Group>,
        /// `resize web 0,0,6`, `tag web fleetkeeper:asg-size=2,3,6 ...`.
        pub group_calls: Mutex<Vec<String>>,
        pub services: Vec<Service>,
        pub service_calls: Mutex<Vec<String>>,
    }

    impl super::Services for FakeFleet {
        async fn scheduled_services(&self, key: &str) -> Result<Vec<Service>, AwsError> {
            Ok(self
                .services
                .iter()
                .filter(|s| s.tags.contains_key(key))
                .cloned()
                .collect())
        }
        async fn resize_service(&self, s: &Service, size: ServiceSize) -> Result<(), AwsError> {
            self.service_calls
                .lock()
                .unwrap()
                .push(format!("resize {} {}", s.name, size.tag()));
            Ok(())
        }
        async fn tag_service(&self, arn: &str, tags: &[(&str, String)]) -> Result<(), AwsError> {
            let tags: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            self.service_calls
                .lock()
                .unwrap()
                .push(format!("tag {arn} {}", tags.join(" ")));
            Ok(())
        }
    }

    impl super::Groups for FakeFleet {
        async fn scheduled_groups(&self, key: &str) -> Result<Vec<Group>, AwsError> {
            Ok(self
                .groups
                .iter()
                .filter(|g| g.tags.contains_key(key))
                .cloned()
                .collect())
        }
        async fn resize_group(&self, name: &str, size: Size) -> Result<(), AwsError> {
            self.group_calls
                .lock()
                .unwrap()
                .push(format!("resize {name} {}", size.tag()));
            Ok(())
        }
        async fn tag_group(&self, name: &str, tags: &[(&str, String)]) -> Result<(), AwsError> {
            let tags: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            self.group_calls
                .lock()
                .unwrap()
                .push(format!("tag {name} {}", tags.join(" ")));
            Ok(())
        }
    }

    impl super::Databases for FakeFleet {
        async fn scheduled_databases(
            &self,
            key: &str,
            kinds: &[Kind],
        ) -> Result<Vec<Database>, AwsError> {
            Ok(self
                .databases
                .iter()
                .filter(|d| d.tags.contains_key(key) && kinds.contains(&d.kind()))
                .cloned()
                .collect())
        }
        async fn stop_database(&self, db: &Database) -> Result<(), AwsError> {
            self.db_calls
                .lock()
                .unwrap()
                .push(format!("stop {}", db.id));
            Ok(())
        }
        async fn start_database(&self, db: &Database) -> Result<(), AwsError> {
            self.db_calls
                .lock()
                .unwrap()
                .push(format!("start {}", db.id));
            Ok(())
        }
        async fn tag_database(&self, arn: &str, _: &str, value: &str) -> Result<(), AwsError> {
            self.tagged
                .lock()
                .unwrap()
                .push((arn.to_owned(), value.to_owned()));
            Ok(())
        }
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
