//! Observe and act: the EC2 (EBS) calls snapshot-janitor needs, behind one narrow trait, and
//! the SSM commands that freeze and thaw an instance around an application-consistent set,
//! behind another.

use std::collections::BTreeMap;
use std::future::Future;

use aws_sdk_ec2::types::{
    Filter, InstanceSpecification, SnapshotState, StorageTier, Tag, TargetStorageTier,
};
use fleetkeeper::AwsError;
use fleetkeeper::ec2::{Instance, describe_instances, state_filter, tag_key_filter};
use fleetkeeper::error::aws_err;
use fleetkeeper::exec::RateLimiter;
use fleetkeeper::seal::Keys;
use fleetkeeper::seal::SEAL_TAG;
use fleetkeeper::tagging::{create_tag, create_tags, snapshot_tags};
use jiff::Timestamp;

use crate::model::{
    BACKUP_TAG, COPY_OF_TAG, INSTANCE_TAG, MANAGED_BY, MANAGED_BY_TAG, POLICY_TAG, SET_TAG,
    SOURCE_TIME_TAG, VOLUME_TAG, Volume,
};
use crate::model::{DrillVolume, RESTORE_DRILL_TAG, Snapshot, State};

/// How a delete ended when AWS did not simply accept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    Done,
    /// NotFound: someone else deleted it first; counts as gone.
    AlreadyGone,
    /// InvalidSnapshot.InUse: it backs a registered AMI; skipped and reported.
    InUse(String),
}

/// One snapshot of a set: an instance's volume, taken with the others at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetMember {
    pub snapshot_id: String,
    pub volume_id: String,
}

pub trait Ebs {
    fn region(&self) -> &str;
    /// Volumes carrying the backup tag (any value), every page.
    fn tagged_volumes(&self) -> impl Future<Output = Result<Vec<Volume>, AwsError>> + Send;
    /// Instances carrying the backup tag (any value), with their volumes, every page.
    fn tagged_instances(&self) -> impl Future<Output = Result<Vec<Instance>, AwsError>> + Send;
    /// Snapshots this account owns that carry the managed-by tag, every page.
    fn our_snapshots(&self) -> impl Future<Output = Result<Vec<Snapshot>, AwsError>> + Send;
    /// CreateSnapshot with the tags applied atomically; returns the snapshot id.
    fn create(
        &self,
        volume_id: &str,
        description: &str,
        tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// CreateSnapshots: every attached EBS volume of the instance at one instant (the boot
    /// volume left out with `exclude_boot`), each snapshot with `tags`; returns each member.
    fn create_set(
        &self,
        instance_id: &str,
        exclude_boot: bool,
        description: &str,
        tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<Vec<SetMember>, AwsError>> + Send;
    /// CopySnapshot, called on this (the destination) region: a copy of `source_id` from
    /// `source_region`, tagged at creation, encrypted with `kms_key` when given; its id.
    fn copy(
        &self,
        source_region: &str,
        source_id: &str,
        description: &str,
        tags: &BTreeMap<String, String>,
        kms_key: Option<&str>,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// ModifySnapshotTier to the archive tier.
    fn archive(&self, snapshot_id: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// A dry run never gets here: it plans and reports, and calls nothing that changes.
    fn delete(&self, snapshot_id: &str) -> impl Future<Output = Result<Deleted, AwsError>> + Send;
    /// Writes `seal` as the snapshot's `fleetkeeper:seal` tag (CreateTags, once it exists:
    /// the seal is bound to the id EC2 gave it), with `also`, the tags known only once it is
    /// made (the freeze time), in the same call.
    fn seal(
        &self,
        snapshot_id: &str,
        seal: &str,
        also: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// Where a phase's command stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandStatus {
    /// Pending, in progress, delayed: not over yet.
    Running,
    Success,
    /// Failed, timed out on the instance, cancelled: its status and what it said.
    Failed(String),
}

/// SSM Run Command, for the freeze: the configured document, one instance, one phase.
pub trait Commands {
    /// SendCommand of `document` to the instance with the parameter `phase`; the command id.
    /// An instance SSM does not manage, or a document that does not exist, is an error here.
    fn send_command(
        &self,
        instance_id: &str,
        document: &str,
        phase: &str,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// GetCommandInvocation: where the command stands on the instance.
    fn command_status(
        &self,
        command_id: &str,
        instance_id: &str,
    ) -> impl Future<Output = Result<CommandStatus, AwsError>> + Send;
}

/// Restore drills: volumes made from snapshots to prove they can be, then deleted.
pub trait Drills {
    /// Volumes tagged `fleetkeeper:restore-drill` (any value), every page.
    fn drill_volumes(&self) -> impl Future<Output = Result<Vec<DrillVolume>, AwsError>> + Send;
    /// CreateVolume (gp3) from `snapshot_id`, tagged at creation, in the zone of `near` (the
    /// snapshot's volume) when it is in this region, else the region's first available zone;
    /// the new volume's id.
    fn restore(
        &self,
        snapshot_id: &str,
        near: Option<&str>,
        tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// The volume's state (None: it is gone).
    fn volume_state(
        &self,
        volume_id: &str,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
    /// DeleteVolume; one already gone counts as deleted.
    fn delete_volume(&self, volume_id: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// One region, with its own limiter: CreateSnapshot and DeleteSnapshot share one bucket.
pub type Place<E> = fleetkeeper::exec::Place<E, RateLimiter>;

/// Where snapshots are taken, where they are copied to (COPY_TO), and the seal key that
/// proves which are ours.
pub struct App<E> {
    pub sources: Vec<Place<E>>,
    pub destinations: Vec<Place<E>>,
    pub keys: Keys,
}

impl<E: Ebs> App<E> {
    /// Every region once: the sources, then the destinations that are not also sources.
    pub fn regions(&self) -> Vec<&Place<E>> {
        let mut out: Vec<&Place<E>> = self.sources.iter().collect();
        for d in &self.destinations {
            if !out.iter().any(|t| t.port.region() == d.port.region()) {
                out.push(d);
            }
        }
        out
    }
}

pub struct Ec2Ebs {
    region: String,
    client: aws_sdk_ec2::Client,
    /// For the freeze around application-consistent sets (None: every freeze fails).
    ssm: Option<aws_sdk_ssm::Client>,
}

impl Ec2Ebs {
    pub fn new(region: String, client: aws_sdk_ec2::Client) -> Self {
        Ec2Ebs {
            region,
            client,
            ssm: None,
        }
    }

    /// With SSM in the same region, for the freeze.
    pub fn with_ssm(mut self, ssm: aws_sdk_ssm::Client) -> Self {
        self.ssm = Some(ssm);
        self
    }

    fn ssm(&self, operation: &str) -> Result<&aws_sdk_ssm::Client, AwsError> {
        self.ssm.as_ref().ok_or_else(|| {
            AwsError::service(operation, "NoClient", "this port was built without SSM")
        })
    }
}

impl Drills for Ec2Ebs {
    async fn drill_volumes(&self) -> Result<Vec<DrillVolume>, AwsError> {
        let mut pages = self
            .client
            .describe_volumes()
            .filters(tag_key_filter(RESTORE_DRILL_TAG))
            .max_results(500)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws_err("ec2:DescribeVolumes"))?;
            for v in page.volumes() {
                let Some(id) = v.volume_id() else { continue };
                out.push(DrillVolume {
                    id: id.to_owned(),
                    state: v.state().map(|s| s.as_str()).unwrap_or_default().to_owned(),
                    created: v
                        .create_time()
                        .and_then(|t| Timestamp::from_second(t.secs()).ok())
                        .unwrap_or_default(),
                    tags: tags_of(v.tags()),
                });
            }
        }
        Ok(out)
    }

    async fn restore(
        &self,
        snapshot_id: &str,
        near: Option<&str>,
        tags: &BTreeMap<String, String>,
    ) -> Result<String, AwsError> {
        let mut zone = None;
        if let Some(volume) = near {
            // Gone, or in another region (a copy's source): the region's first zone instead.
            let found = self
                .client
                .describe_volumes()
                .volume_ids(volume)
                .send()
                .await
                .map_err(aws_err("ec2:DescribeVolumes"));
            zone = found.ok().and_then(|o| {
                o.volumes()
                    .first()
                    .and_then(|v| v.availability_zone().map(str::to_owned))
            });
        }
        let zone = match zone {
            Some(z) => z,
            None => {
                let zones = self
                    .client
                    .describe_availability_zones()
                    .filters(Filter::builder().name("state").values("available").build())
                    .send()
                    .await
                    .map_err(aws_err("ec2:DescribeAvailabilityZones"))?;
                zones
                    .availability_zones()
                    .iter()
                    .filter_map(|z| z.zone_name())
                    .min()
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        AwsError::service(
                            "ec2:DescribeAvailabilityZones",
                            "NoZone",
                            "no available zone in the region",
                        )
                    })?
            }
        };
        let mut spec = aws_sdk_ec2::types::TagSpecification::builder()
            .resource_type(aws_sdk_ec2::types::ResourceType::Volume);
        for (k, v) in tags {
            spec = spec.tags(Tag::builder().key(k).value(v).build());
        }
        let out = self
            .client
            .create_volume()
            .snapshot_id(snapshot_id)
            .availability_zone(zone)
            .volume_type(aws_sdk_ec2::types::VolumeType::Gp3)
            .tag_specifications(spec.build())
            .send()
            .await
            .map_err(aws_err("ec2:CreateVolume"))?;
        Ok(out.volume_id().unwrap_or_default().to_owned())
    }

    async fn volume_state(&self, volume_id: &str) -> Result<Option<String>, AwsError> {
        let found = self
            .client
            .describe_volumes()
            .volume_ids(volume_id)
            .send()
            .await
            .map_err(aws_err("ec2:DescribeVolumes"));
        match found {
            Ok(o) => Ok(o
                .volumes()
                .first()
                .and_then(|v| v.state().map(|s| s.as_str().to_owned()))),
            Err(e) if e.code() == Some("InvalidVolume.NotFound") => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn delete_volume(&self, volume_id: &str) -> Result<(), AwsError> {
        match self
            .client
            .delete_volume()
            .volume_id(volume_id)
            .send()
            .await
            .map_err(aws_err("ec2:DeleteVolume"))
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("InvalidVolume.NotFound") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Commands for Ec2Ebs {
    async fn send_command(
        &self,
        instance_id: &str,
        document: &str,
        phase: &str,
    ) -> Result<String, AwsError> {
        let out = self
            .ssm("ssm:SendCommand")?
            .send_command()
            .document_name(document)
            .instance_ids(instance_id)
            .parameters("phase", vec![phase.to_owned()])
            .comment(format!("fleetkeeper snapshot-janitor: {phase} phase"))
            .send()
            .await
            .map_err(aws_err("ssm:SendCommand"))?;
        Ok(out
            .command()
            .and_then(|c| c.command_id())
            .unwrap_or_default()
            .to_owned())
    }

    async fn command_status(
        &self,
        command_id: &str,
        instance_id: &str,
    ) -> Result<CommandStatus, AwsError> {
        let result = self
            .ssm("ssm:GetCommandInvocation")?
            .get_command_invocation()
            .command_id(command_id)
            .instance_id(instance_id)
            .send()
            .await
            .map_err(aws_err("ssm:GetCommandInvocation"));
        let out = match result {
            Ok(out) => out,
            // Just sent: the invocation is not there yet.
            Err(e) if e.code() == Some("InvocationDoesNotExist") => {
                return Ok(CommandStatus::Running);
            }
            Err(e) => return Err(e),
        };
        use aws_sdk_ssm::types::CommandInvocationStatus as S;
        Ok(match out.status() {
            Some(S::Success) => CommandStatus::Success,
            Some(S::Pending | S::InProgress | S::Delayed) | None => CommandStatus::Running,
            Some(other) => {
                let said = out.standard_error_content().unwrap_or_default().trim();
                let said: String = said.chars().take(300).collect();
                CommandStatus::Failed(if said.is_empty() {
                    other.as_str().to_owned()
                } else {
                    format!("{}: {said}", other.as_str())
                })
            }
        })
    }
}

fn tags_of(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

impl Ebs for Ec2Ebs {
    fn region(&self) -> &str {
        &self.region
    }

    async fn tagged_volumes(&self) -> Result<Vec<Volume>, AwsError> {
        let mut pages = self
            .client
            .describe_volumes()
            .filters(tag_key_filter(BACKUP_TAG))
            .max_results(500)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws_err("ec2:DescribeVolumes"))?;
            for v in page.volumes() {
                let Some(id) = v.volume_id() else { continue };
                out.push(Volume {
                    id: id.to_owned(),
                    instance_id: v
                        .attachments()
                        .iter()
                        .find_map(|a| a.instance_id().map(str::to_owned)),
                    tags: tags_of(v.tags()),
                });
            }
        }
        Ok(out)
    }

    async fn tagged_instances(&self) -> Result<Vec<Instance>, AwsError> {
        let live = state_filter(&["pending", "running", "stopping", "stopped"]);
        describe_instances(&self.client, vec![tag_key_filter(BACKUP_TAG), live]).await
    }

    async fn our_snapshots(&self) -> Result<Vec<Snapshot>, AwsError> {
        let mut pages = self
            .client
            .describe_snapshots()
            .owner_ids("self")
            .filters(
                Filter::builder()
                    .name(format!("tag:{MANAGED_BY_TAG}"))
                    .values(MANAGED_BY)
                    .build(),
            )
            .max_results(1000)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws_err("ec2:DescribeSnapshots"))?;
            for s in page.snapshots() {
                let Some(id) = s.snapshot_id() else { continue };
                let tags = tags_of(s.tags());
                let started = s
                    .start_time()
                    .and_then(|t| Timestamp::from_second(t.secs()).ok())
                    .unwrap_or(Timestamp::UNIX_EPOCH);
                out.push(Snapshot {
                    id: id.to_owned(),
                    // Our tag names the volume even after the volume is gone.
                    volume_id: tags
                        .get(VOLUME_TAG)
                        .cloned()
                        .or_else(|| s.volume_id().map(str::to_owned))
                        .unwrap_or_default(),
                    policy: tags
                        .get(POLICY_TAG)
                        .cloned()
                        .unwrap_or_else(|| "daily".into()),
                    state: match s.state() {
                        Some(SnapshotState::Completed) => State::Completed,
                        Some(SnapshotState::Error) => State::Error,
                        // pending, recoverable, recovering, or anything new: never touched.
                        _ => State::Pending,
                    },
                    started,
                    managed: tags.get(MANAGED_BY_TAG).map(String::as_str) == Some(MANAGED_BY),
                    set_id: tags.get(SET_TAG).cloned(),
                    instance_id: tags.get(INSTANCE_TAG).cloned(),
                    copy_of: tags.get(COPY_OF_TAG).cloned(),
                    source_started: tags.get(SOURCE_TIME_TAG).and_then(|t| t.parse().ok()),
                    tags,
                    size_gib: s.volume_size().unwrap_or(0).max(0) as u64,
                    description: s.description().unwrap_or_default().to_owned(),
                    archived: s.storage_tier() == Some(&StorageTier::Archive),
                });
            }
        }
        Ok(out)
    }

    async fn create(
        &self,
        volume_id: &str,
        description: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String, AwsError> {
        let spec = snapshot_tags(tags);
        let out = self
            .client
            .create_snapshot()
            .volume_id(volume_id)
            .description(description)
            .tag_specifications(spec)
            .send()
            .await
            .map_err(aws_err("ec2:CreateSnapshot"))?;
        Ok(out.snapshot_id().unwrap_or_default().to_owned())
    }

    async fn create_set(
        &self,
        instance_id: &str,
        exclude_boot: bool,
        description: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<Vec<SetMember>, AwsError> {
        let spec = snapshot_tags(tags);
        let out = self
            .client
            .create_snapshots()
            .instance_specification(
                InstanceSpecification::builder()
                    .instance_id(instance_id)
                    .exclude_boot_volume(exclude_boot)
                    .build(),
            )
            .description(description)
            .tag_specifications(spec)
            .send()
            .await
            .map_err(aws_err("ec2:CreateSnapshots"))?;
        Ok(out
            .snapshots()
            .iter()
            .filter_map(|s| {
                Some(SetMember {
                    snapshot_id: s.snapshot_id()?.to_owned(),
                    volume_id: s.volume_id()?.to_owned(),
                })
            })
            .collect())
    }

    async fn copy(
        &self,
        source_region: &str,
        source_id: &str,
        description: &str,
        tags: &BTreeMap<String, String>,
        kms_key: Option<&str>,
    ) -> Result<String, AwsError> {
        let spec = snapshot_tags(tags);
        let mut call = self
            .client
            .copy_snapshot()
            .source_region(source_region)
            .source_snapshot_id(source_id)
            .description(description)
            .tag_specifications(spec);
        if let Some(key) = kms_key {
            call = call.encrypted(true).kms_key_id(key);
        }
        let out = call.send().await.map_err(aws_err("ec2:CopySnapshot"))?;
        Ok(out.snapshot_id().unwrap_or_default().to_owned())
    }

    async fn archive(&self, snapshot_id: &str) -> Result<(), AwsError> {
        self.client
            .modify_snapshot_tier()
            .snapshot_id(snapshot_id)
            .storage_tier(TargetStorageTier::Archive)
            .send()
            .await
            .map_err(aws_err("ec2:ModifySnapshotTier"))?;
        Ok(())
    }

    async fn seal(
        &self,
        snapshot_id: &str,
        seal: &str,
        also: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        if also.is_empty() {
            return create_tag(&self.client, &[snapshot_id.to_owned()], SEAL_TAG, seal).await;
        }
        let mut tags = also.clone();
        tags.insert(SEAL_TAG.to_owned(), seal.to_owned());
        create_tags(&self.client, snapshot_id, &tags).await
    }

    async fn delete(&self, snapshot_id: &str) -> Result<Deleted, AwsError> {
        let result = self
            .client
            .delete_snapshot()
            .snapshot_id(snapshot_id)
            .send()
            .await
            .map_err(aws_err("ec2:DeleteSnapshot"));
        match result {
            Ok(_) => Ok(Deleted::Done),
            Err(e) if e.code() == Some("InvalidSnapshot.NotFound") => Ok(Deleted::AlreadyGone),
            Err(e) if e.code() == Some("InvalidSnapshot.InUse") => {
                Ok(Deleted::InUse(e.message.clone().unwrap_or_default()))
            }
            Err(e) => Err(e),
        }
    }
}

/// In-memory ports for unit tests: a region holding volumes, instances and snapshots, and
/// refusing what EC2 refuses (a snapshot in use by an AMI, too many copies in flight).
#[cfg(test)]
pub mod fake {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Mutex;

    use fleetkeeper::AwsError;
    use fleetkeeper::ec2::Instance;

    use super::{CommandStatus, Commands, Deleted, Drills, Ebs, SetMember};
    use crate::model::{DrillVolume, Snapshot, Volume};

    #[derive(Default)]
    pub struct FakeEbs {
        pub region: String,
        pub volumes: Vec<Volume>,
        pub instances: Vec<Instance>,
        pub snapshots: Vec<Snapshot>,
        /// Set: every read fails with it.
        pub unreadable: Option<AwsError>,
        pub in_use: BTreeSet<String>,
        pub gone: BTreeSet<String>,
        pub deleted: Mutex<Vec<String>>,
        pub created: Mutex<Vec<String>>,
        pub copied: Mutex<Vec<String>>,
        pub archived: Mutex<Vec<String>>,
        /// (snapshot id, seal) written.
        pub sealed: Mutex<Vec<(String, String)>>,
        /// Copies accepted before EC2 says too many are in flight (None: no limit).
        pub copy_limit: Mutex<Option<usize>>,
        /// Every call in order, as `send:<phase>`, `status:<phase>`, `create-set:<instance>`.
        pub calls: Mutex<Vec<String>>,
        /// What each phase's command comes to (absent: success); `Running` never ends.
        pub phases: BTreeMap<String, Vec<CommandStatus>>,
        /// CreateSnapshots fails with this.
        pub set_fails: Option<AwsError>,
        /// Drill volumes, as made or left; a restored one comes up in `restored_state`.
        pub drill: Mutex<Vec<DrillVolume>>,
        pub restored_state: Option<String>,
        pub volumes_deleted: Mutex<Vec<String>>,
    }

    impl Drills for FakeEbs {
        async fn drill_volumes(&self) -> Result<Vec<DrillVolume>, AwsError> {
            Ok(self.drill.lock().unwrap().clone())
        }
        async fn restore(
            &self,
            _: &str,
            _: Option<&str>,
            tags: &BTreeMap<String, String>,
        ) -> Result<String, AwsError> {
            let mut drill = self.drill.lock().unwrap();
            let id = format!("vol-drill-{}", drill.len() + 1);
            drill.push(DrillVolume {
                id: id.clone(),
                state: self
                    .restored_state
                    .clone()
                    .unwrap_or_else(|| "available".into()),
                created: jiff::Timestamp::UNIX_EPOCH,
                tags: tags.clone(),
            });
            Ok(id)
        }
        async fn volume_state(&self, id: &str) -> Result<Option<String>, AwsError> {
            let drill = self.drill.lock().unwrap();
            Ok(drill.iter().find(|v| v.id == id).map(|v| v.state.clone()))
        }
        async fn delete_volume(&self, id: &str) -> Result<(), AwsError> {
            self.drill.lock().unwrap().retain(|v| v.id != id);
            self.volumes_deleted.lock().unwrap().push(id.to_owned());
            Ok(())
        }
    }

    impl Commands for FakeEbs {
        async fn send_command(&self, _: &str, _: &str, phase: &str) -> Result<String, AwsError> {
            self.calls.lock().unwrap().push(format!("send:{phase}"));
            let n = self
                .calls
                .lock()
                .unwrap()
                .iter()
                .filter(|c| *c == &format!("send:{phase}"))
                .count();
            Ok(format!("{phase}#{n}"))
        }
        async fn command_status(&self, id: &str, _: &str) -> Result<CommandStatus, AwsError> {
            let (phase, n) = id.split_once('#').unwrap();
            self.calls.lock().unwrap().push(format!("status:{phase}"));
            let n: usize = n.parse().unwrap();
            // The n-th command of a phase comes to the n-th status listed (the last repeats).
            Ok(self
                .phases
                .get(phase)
                .and_then(|list| list.get(n - 1).or(list.last()))
                .cloned()
                .unwrap_or(CommandStatus::Success))
        }
    }

    impl Ebs for FakeEbs {
        fn region(&self) -> &str {
            &self.region
        }
        async fn tagged_volumes(&self) -> Result<Vec<Volume>, AwsError> {
            self.read(&self.volumes)
        }
        async fn tagged_instances(&self) -> Result<Vec<Instance>, AwsError> {
            self.read(&self.instances)
        }
        async fn our_snapshots(&self) -> Result<Vec<Snapshot>, AwsError> {
            self.read(&self.snapshots)
        }
        async fn create_set(
            &self,
            instance_id: &str,
            _: bool,
            _: &str,
            _: &BTreeMap<String, String>,
        ) -> Result<Vec<SetMember>, AwsError> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("create-set:{instance_id}"));
            if let Some(e) = &self.set_fails {
                return Err(e.clone());
            }
            self.created.lock().unwrap().push(instance_id.to_owned());
            Ok(vec![SetMember {
                snapshot_id: format!("snap-{instance_id}-a"),
                volume_id: "vol-a".into(),
            }])
        }
        async fn create(
            &self,
            volume_id: &str,
            _: &str,
            _: &BTreeMap<String, String>,
        ) -> Result<String, AwsError> {
            self.created.lock().unwrap().push(volume_id.to_owned());
            Ok(format!("snap-new-{volume_id}"))
        }
        async fn copy(
            &self,
            _: &str,
            source_id: &str,
            _: &str,
            _: &BTreeMap<String, String>,
            _: Option<&str>,
        ) -> Result<String, AwsError> {
            let mut limit = self.copy_limit.lock().unwrap();
            if let Some(left) = limit.as_mut() {
                if *left == 0 {
                    return Err(AwsError::service(
                        "ec2:CopySnapshot",
                        "ResourceLimitExceeded",
                        "too many snapshot copies in progress",
                    ));
                }
                *left -= 1;
            }
            drop(limit);
            self.copied.lock().unwrap().push(source_id.to_owned());
            Ok(format!("snap-copy-{source_id}"))
        }
        async fn archive(&self, id: &str) -> Result<(), AwsError> {
            self.archived.lock().unwrap().push(id.to_owned());
            Ok(())
        }
        async fn seal(
            &self,
            id: &str,
            value: &str,
            _: &BTreeMap<String, String>,
        ) -> Result<(), AwsError> {
            self.sealed
                .lock()
                .unwrap()
                .push((id.to_owned(), value.to_owned()));
            Ok(())
        }
        async fn delete(&self, id: &str) -> Result<Deleted, AwsError> {
            if self.in_use.contains(id) {
                return Ok(Deleted::InUse("used by ami-1".into()));
            }
            if self.gone.contains(id) {
                return Ok(Deleted::AlreadyGone);
            }
            self.deleted.lock().unwrap().push(id.to_owned());
            Ok(Deleted::Done)
        }
    }

    impl FakeEbs {
        pub fn holding(region: &str, volumes: Vec<Volume>, snapshots: Vec<Snapshot>) -> Self {
            FakeEbs {
                region: region.to_owned(),
                volumes,
                snapshots,
                ..FakeEbs::default()
            }
        }

        fn read<T: Clone>(&self, what: &[T]) -> Result<Vec<T>, AwsError> {
            match &self.unreadable {
                Some(e) => Err(e.clone()),
                None => Ok(what.to_vec()),
            }
        }

        pub fn deleted(&self) -> Vec<String> {
            self.deleted.lock().unwrap().clone()
        }

        pub fn created(&self) -> Vec<String> {
            self.created.lock().unwrap().clone()
        }
    }
}
