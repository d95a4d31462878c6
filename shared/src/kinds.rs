//! The kinds of resource a schedule keeps beyond EC2 (RDS instances, Aurora clusters, Auto
//! Scaling groups, ECS services): their types, the size tags, and the reads of what carries a
//! schedule tag in one place. nightly-stopper acts on them; fleet-census counts them.

use std::collections::BTreeMap;

use aws_sdk_applicationautoscaling::types::ServiceNamespace;
use aws_types::SdkConfig;

use crate::config::{ConfigError, Env};
use crate::error::{AwsError, aws_err};

/// The kinds of resource a schedule can keep (RESOURCES).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Ec2,
    /// An RDS DB instance outside any cluster.
    Rds,
    /// An Aurora (or Multi-AZ) DB cluster.
    Aurora,
    /// An Auto Scaling group.
    Asg,
    /// An ECS service.
    Ecs,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Ec2, Kind::Rds, Kind::Aurora, Kind::Asg, Kind::Ecs];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ec2 => "ec2",
            Kind::Rds => "rds",
            Kind::Aurora => "aurora",
            Kind::Asg => "asg",
            Kind::Ecs => "ecs",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A database as the plan sees it: an RDS DB instance or an Aurora DB cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Database {
    /// The DB instance or cluster identifier (what the report names).
    pub id: String,
    pub arn: String,
    /// `Rds` or `Aurora`.
    pub kind: Option<Kind>,
    /// RDS's status: `available`, `stopped`, `stopping`, `starting`, `modifying`, ...
    pub status: String,
    pub tags: BTreeMap<String, String>,
    /// A DB instance in a cluster: the cluster is what is scheduled.
    pub cluster: Option<String>,
    /// A read replica's source.
    pub replica_of: Option<String>,
    /// How many read replicas it has (RDS stops neither a source nor a replica).
    pub replicas: usize,
    /// Why RDS cannot stop this cluster at all (serverless v1, a global secondary).
    pub unstoppable: Option<String>,
}

impl Database {
    pub fn kind(&self) -> Kind {
        self.kind.unwrap_or(Kind::Rds)
    }
}

/// `RESOURCES`: a comma list of kinds (default `ec2`); an unknown one fails the cold start.
pub fn resources_from_env(env: &Env) -> Result<Vec<Kind>, ConfigError> {
    let raw = env.list("RESOURCES");
    if raw.is_empty() {
        return Ok(vec![Kind::Ec2]);
    }
    let mut out = Vec::new();
    for r in &raw {
        let kind = Kind::parse(&r.to_ascii_lowercase()).ok_or_else(|| {
            ConfigError::invalid(
                "RESOURCES",
                &raw.join(","),
                format!("a comma list of ec2, rds, aurora, asg, ecs ({r:?} is not one)"),
            )
        })?;
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    Ok(out)
}

/// On a stopped ECS service: its desired count when stopped, and its scalable target's min
/// and max where it has one (`4` or `4,2,10`).
pub const ECS_SIZE_TAG: &str = "fleetkeeper:ecs-size";

/// What an ECS service's size is: its desired count, and its Application Auto Scaling bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServiceSize {
    pub desired: i32,
    /// (min, max) of its scalable target, if it has one.
    pub bounds: Option<(i32, i32)>,
}

impl ServiceSize {
    pub fn parse(raw: &str) -> Result<ServiceSize, String> {
        let parts: Vec<Option<i32>> = raw.split(',').map(|p| p.trim().parse().ok()).collect();
        match parts.as_slice() {
            [Some(d)] if *d >= 0 => Ok(ServiceSize {
                desired: *d,
                bounds: None,
            }),
            [Some(d), Some(min), Some(max)] if 0 <= *min && min <= max && *d >= 0 => {
                Ok(ServiceSize {
                    desired: *d,
                    bounds: Some((*min, *max)),
                })
            }
            _ => Err(format!(
                "{ECS_SIZE_TAG} {raw:?} is not desired or desired,min,max (such as 4 or 4,2,10)"
            )),
        }
    }

    pub fn tag(self) -> String {
        match self.bounds {
            Some((min, max)) => format!("{},{min},{max}", self.desired),
            None => self.desired.to_string(),
        }
    }
}

/// An ECS service as the plan sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Service {
    pub arn: String,
    /// The cluster's name and the service's (the scalable target is `service/<cluster>/<name>`).
    pub cluster: String,
    pub name: String,
    pub size: ServiceSize,
    pub tags: BTreeMap<String, String>,
}

impl Service {
    pub fn stopped(&self) -> bool {
        self.size.desired == 0 && self.size.bounds.is_none_or(|(min, _)| min == 0)
    }
}

/// On a stopped Auto Scaling group: its min, desired and max when it was stopped (`2,3,6`).
pub const ASG_SIZE_TAG: &str = "fleetkeeper:asg-size";

/// An Auto Scaling group's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Size {
    pub min: i32,
    pub desired: i32,
    pub max: i32,
}

impl Size {
    /// `min,desired,max`, as the size tag holds it.
    pub fn parse(raw: &str) -> Result<Size, String> {
        let parts: Vec<Option<i32>> = raw.split(',').map(|p| p.trim().parse().ok()).collect();
        match parts.as_slice() {
            [Some(min), Some(desired), Some(max)]
                if 0 <= *min && min <= desired && desired <= max =>
            {
                Ok(Size {
                    min: *min,
                    desired: *desired,
                    max: *max,
                })
            }
            _ => Err(format!(
                "{ASG_SIZE_TAG} {raw:?} is not min,desired,max (such as 2,3,6, with min <= desired <= max)"
            )),
        }
    }

    pub fn tag(self) -> String {
        format!("{},{},{}", self.min, self.desired, self.max)
    }
}

/// An Auto Scaling group as the plan sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Group {
    pub name: String,
    pub size: Size,
    pub tags: BTreeMap<String, String>,
}

impl Group {
    /// Scaled to nothing: no instance is kept or wanted.
    pub fn stopped(&self) -> bool {
        self.size.min == 0 && self.size.desired == 0
    }
}

fn tag_map<'a>(
    pairs: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> BTreeMap<String, String> {
    pairs
        .filter_map(|(k, v)| Some((k?.to_owned(), v.unwrap_or_default().to_owned())))
        .collect()
}

fn rds_tags(list: &[aws_sdk_rds::types::Tag]) -> BTreeMap<String, String> {
    tag_map(list.iter().map(|t| (t.key(), t.value())))
}

/// DB instances (`Rds` in `kinds`) and DB clusters (`Aurora`) carrying the tag `key`, whatever
/// its value, every page. RDS has no tag filter: all are read, and the tag kept here.
pub async fn scheduled_databases(
    rds: &aws_sdk_rds::Client,
    key: &str,
    kinds: &[Kind],
) -> Result<Vec<Database>, AwsError> {
    let mut out = Vec::new();
    if kinds.contains(&Kind::Rds) {
        let mut pages = rds.describe_db_instances().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws_err("rds:DescribeDBInstances"))?;
            for d in page.db_instances() {
                let tags = rds_tags(d.tag_list());
                if !tags.contains_key(key) {
                    continue;
                }
                out.push(Database {
                    id: d.db_instance_identifier().unwrap_or_default().to_owned(),
                    arn: d.db_instance_arn().unwrap_or_default().to_owned(),
                    kind: Some(Kind::Rds),
                    status: d.db_instance_status().unwrap_or_default().to_owned(),
                    tags,
                    cluster: d.db_cluster_identifier().map(str::to_owned),
                    replica_of: d
                        .read_replica_source_db_instance_identifier()
                        .map(str::to_owned),
                    replicas: d.read_replica_db_instance_identifiers().len(),
                    unstoppable: None,
                });
            }
        }
    }
    if kinds.contains(&Kind::Aurora) {
        let mut global = Vec::new();
        let mut pages = rds.describe_db_clusters().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws_err("rds:DescribeDBClusters"))?;
            for c in page.db_clusters() {
                let tags = rds_tags(c.tag_list());
                if !tags.contains_key(key) {
                    continue;
                }
                let unstoppable = (c.engine_mode() == Some("serverless")).then(|| {
                    "an Aurora Serverless v1 cluster cannot be stopped (it scales to zero by itself)"
                        .to_owned()
                });
                if let Some(g) = c.global_cluster_identifier().filter(|g| !g.is_empty()) {
                    global.push((out.len(), g.to_owned()));
                }
                out.push(Database {
                    id: c.db_cluster_identifier().unwrap_or_default().to_owned(),
                    arn: c.db_cluster_arn().unwrap_or_default().to_owned(),
                    kind: Some(Kind::Aurora),
                    status: c.status().unwrap_or_default().to_owned(),
                    tags,
                    unstoppable,
                    ..Database::default()
                });
            }
        }
        mark_global_secondaries(rds, &mut out, &global).await?;
    }
    Ok(out)
}

/// A secondary cluster of an Aurora global database cannot be stopped: RDS refuses it. Only
/// clusters in a global database cost the DescribeGlobalClusters call that tells which.
async fn mark_global_secondaries(
    rds: &aws_sdk_rds::Client,
    out: &mut [Database],
    global: &[(usize, String)],
) -> Result<(), AwsError> {
    let mut asked: BTreeMap<&str, Vec<(String, bool)>> = BTreeMap::new();
    for (at, name) in global {
        if !asked.contains_key(name.as_str()) {
            let found = rds
                .describe_global_clusters()
                .global_cluster_identifier(name)
                .send()
                .await
                .map_err(aws_err("rds:DescribeGlobalClusters"))?;
            let members = found
                .global_clusters()
                .iter()
                .flat_map(|g| g.global_cluster_members())
                .map(|m| {
                    (
                        m.db_cluster_arn().unwrap_or_default().to_owned(),
                        m.is_writer().unwrap_or(false),
                    )
                })
                .collect();
            asked.insert(name, members);
        }
        let db = &mut out[*at];
        let writer = asked[name.as_str()]
            .iter()
            .any(|(arn, writer)| *writer && *arn == db.arn);
        if !writer {
            db.unstoppable = Some(format!(
                "a secondary cluster of the Aurora global database {name} cannot be stopped; \
                 schedule its primary, or take it out of the global database"
            ));
        }
    }
    Ok(())
}

/// Auto Scaling groups carrying the tag `key`, whatever its value, every page.
pub async fn scheduled_groups(
    asg: &aws_sdk_autoscaling::Client,
    key: &str,
) -> Result<Vec<Group>, AwsError> {
    let mut pages = asg
        .describe_auto_scaling_groups()
        .filters(
            aws_sdk_autoscaling::types::Filter::builder()
                .name("tag-key")
                .values(key)
                .build(),
        )
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws_err("autoscaling:DescribeAutoScalingGroups"))?;
        for g in page.auto_scaling_groups() {
            let tags = tag_map(g.tags().iter().map(|t| (t.key(), t.value())));
            // The filter is the server's; kept here too, where an emulator ignores it.
            if !tags.contains_key(key) {
                continue;
            }
            out.push(Group {
                name: g.auto_scaling_group_name().unwrap_or_default().to_owned(),
                size: Size {
                    min: g.min_size().unwrap_or_default(),
                    desired: g.desired_capacity().unwrap_or_default(),
                    max: g.max_size().unwrap_or_default(),
                },
                tags,
            });
        }
    }
    Ok(out)
}

/// Application Auto Scaling's name for an ECS service.
pub fn scalable_id(s: &Service) -> String {
    format!("service/{}/{}", s.cluster, s.name)
}

/// ECS services carrying the tag `key` in every cluster of the place, with their scalable
/// targets' bounds.
pub async fn scheduled_services(
    ecs: &aws_sdk_ecs::Client,
    scaling: &aws_sdk_applicationautoscaling::Client,
    key: &str,
) -> Result<Vec<Service>, AwsError> {
    let mut clusters = Vec::new();
    let mut pages = ecs.list_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws_err("ecs:ListClusters"))?;
        clusters.extend(page.cluster_arns().iter().cloned());
    }
    let mut out = Vec::new();
    for cluster in clusters {
        let cluster_name = cluster.rsplit('/').next().unwrap_or_default().to_owned();
        let mut arns = Vec::new();
        let mut pages = ecs
            .list_services()
            .cluster(&cluster)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws_err("ecs:ListServices"))?;
            arns.extend(page.service_arns().iter().cloned());
        }
        // DescribeServices takes ten at a time; its tags come with TAGS.
        for chunk in arns.chunks(10) {
            let found = ecs
                .describe_services()
                .cluster(&cluster)
                .set_services(Some(chunk.to_vec()))
                .include(aws_sdk_ecs::types::ServiceField::Tags)
                .send()
                .await
                .map_err(aws_err("ecs:DescribeServices"))?;
            for s in found.services() {
                let tags = tag_map(s.tags().iter().map(|t| (t.key(), t.value())));
                if !tags.contains_key(key) {
                    continue;
                }
                out.push(Service {
                    arn: s.service_arn().unwrap_or_default().to_owned(),
                    cluster: cluster_name.clone(),
                    name: s.service_name().unwrap_or_default().to_owned(),
                    size: ServiceSize {
                        desired: s.desired_count(),
                        bounds: None,
                    },
                    tags,
                });
            }
        }
    }
    if out.is_empty() {
        return Ok(out);
    }
    let index: BTreeMap<String, usize> = out
        .iter()
        .enumerate()
        .map(|(i, s)| (scalable_id(s), i))
        .collect();
    let ids: Vec<String> = index.keys().cloned().collect();
    // DescribeScalableTargets names at most 50 resources a call.
    for chunk in ids.chunks(50) {
        let targets = scaling
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .set_resource_ids(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(aws_err("application-autoscaling:DescribeScalableTargets"))?;
        for t in targets.scalable_targets() {
            if let Some(&i) = index.get(t.resource_id()) {
                out[i].size.bounds = Some((t.min_capacity(), t.max_capacity()));
            }
        }
    }
    Ok(out)
}

/// The clients the kinds beyond EC2 need, in one place (building them calls nothing).
#[derive(Debug, Clone)]
pub struct KindClients {
    pub rds: aws_sdk_rds::Client,
    pub asg: aws_sdk_autoscaling::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub scaling: aws_sdk_applicationautoscaling::Client,
}

/// What carries a schedule tag in one place, beyond EC2 (empty for kinds not asked for).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub databases: Vec<Database>,
    pub groups: Vec<Group>,
    pub services: Vec<Service>,
}

impl KindClients {
    pub fn new(sdk: &SdkConfig) -> Self {
        KindClients {
            rds: aws_sdk_rds::Client::new(sdk),
            asg: aws_sdk_autoscaling::Client::new(sdk),
            ecs: aws_sdk_ecs::Client::new(sdk),
            scaling: aws_sdk_applicationautoscaling::Client::new(sdk),
        }
    }

    /// Everything of `kinds` (EC2 aside) carrying the tag `key`; only the kinds asked for are read.
    pub async fn scheduled(&self, key: &str, kinds: &[Kind]) -> Result<Found, AwsError> {
        let mut found = Found::default();
        if kinds.iter().any(|k| matches!(k, Kind::Rds | Kind::Aurora)) {
            found.databases = scheduled_databases(&self.rds, key, kinds).await?;
        }
        if kinds.contains(&Kind::Asg) {
            found.groups = scheduled_groups(&self.asg, key).await?;
        }
        if kinds.contains(&Kind::Ecs) {
            found.services = scheduled_services(&self.ecs, &self.scaling, key).await?;
        }
        Ok(found)
    }
}
