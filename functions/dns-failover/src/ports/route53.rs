//! Route 53, done carefully: the hosted zone resolved exactly (name with its trailing dot,
//! public or private as configured), the record read before it is written, every change for
//! one zone in one atomic batch, and a bounded wait for INSYNC. Throttling and
//! PriorRequestNotComplete (an earlier change to the zone still being applied) are retried by
//! the SDK's standard retry, and the change batch again here with a longer backoff: an UPSERT
//! batch is safe to send twice.

use std::time::Duration;

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};

use fleetkeeper::AwsError;
use fleetkeeper::error::aws_err;
use fleetkeeper::exec::Budget;

use super::Dns;
use crate::config::{Group, RecordType};
pub use crate::model::{Record, Upsert, normalize};

pub struct Route53 {
    pub client: aws_sdk_route53::Client,
    /// The first pause before a change batch is sent again; it doubles each time.
    pub backoff: Duration,
}

/// Times a change batch is sent again after throttling (each send has the SDK's own retries).
const CHANGE_RETRIES: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub change_id: String,
    /// INSYNC, or PENDING when the bounded wait ran out.
    pub status: String,
}

fn rr_type(t: RecordType) -> RrType {
    match t {
        RecordType::A => RrType::A,
        RecordType::AAAA => RrType::Aaaa,
        RecordType::CNAME => RrType::Cname,
    }
}

impl Dns for Route53 {
    /// The zone id for `group`: its `zone_id`, or the one zone whose name is exactly the
    /// group's zone and whose privacy matches. None found or more than one is an error that
    /// says which zones were seen.
    async fn zone_id(&self, group: &Group) -> Result<String, String> {
        if let Some(id) = &group.zone_id {
            return Ok(id.clone());
        }
        // Zones are listed from the name on, in order; the ones of this name come first.
        let mut matches: Vec<String> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        let mut next: Option<(String, Option<String>)> = Some((group.zone.clone(), None));
        while let Some((name, id)) = next.take() {
            let out = self
                .client
                .list_hosted_zones_by_name()
                .dns_name(name)
                .set_hosted_zone_id(id)
                .max_items(100)
                .send()
                .await
                .map_err(|e| aws_err("route53:ListHostedZonesByName")(e).to_string())?;
            let mut past = false;
            for z in out.hosted_zones() {
                let zname = z.name().to_ascii_lowercase();
                let private = z.config().is_some_and(|c| c.private_zone());
                seen.push(format!(
                    "{zname} ({})",
                    if private { "private" } else { "public" }
                ));
                if zname != group.zone {
                    past = true;
                    break;
                }
                if private == group.private {
                    matches.push(z.id().trim_start_matches("/hostedzone/").to_owned());
                }
            }
            if !past && out.is_truncated() {
                if let (Some(n), id) = (out.next_dns_name(), out.next_hosted_zone_id()) {
                    if n.to_ascii_lowercase() == group.zone {
                        next = Some((n.to_owned(), id.map(str::to_owned)));
                    }
                }
            }
        }
        let kind = if group.private { "private" } else { "public" };
        match matches.len() {
            1 => Ok(matches.remove(0)),
            0 => Err(format!(
                "no {kind} hosted zone named {} (saw: {})",
                group.zone,
                if seen.is_empty() {
                    "none".into()
                } else {
                    seen.join(", ")
                }
            )),
            n => Err(format!(
                "{n} {kind} hosted zones are named {}: set zone_id in the group",
                group.zone
            )),
        }
    }

    /// The simple record `name`/`type` (no set identifier), or None.
    async fn record(&self, zone_id: &str, group: &Group) -> Result<Option<Record>, AwsError> {
        let out = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .start_record_name(&group.record)
            .start_record_type(rr_type(group.record_type))
            .max_items(10)
            .send()
            .await
            .map_err(aws_err("route53:ListResourceRecordSets"))?;
        let found = out.resource_record_sets().iter().find(|r| {
            r.name().to_ascii_lowercase() == group.record
                && r.r#type() == &rr_type(group.record_type)
                && r.set_identifier().is_none()
        });
        Ok(found.map(|r| Record {
            ttl: r.ttl(),
            values: normalize(
                group.record_type,
                &r.resource_records()
                    .iter()
                    .map(|v| v.value().to_owned())
                    .collect::<Vec<_>>(),
            ),
        }))
    }

    /// All of one zone's changes in one atomic batch.
    async fn submit(
        &self,
        zone_id: &str,
        upserts: &[Upsert],
        comment: &str,
    ) -> Result<Submitted, AwsError> {
        let mut batch =
            ChangeBatch::builder().comment(comment.chars().take(256).collect::<String>());
        for u in upserts {
            let mut set = ResourceRecordSet::builder()
                .name(&u.name)
                .r#type(rr_type(u.record_type))
                .ttl(u.ttl);
            for v in &u.values {
                set = set.resource_records(ResourceRecord::builder().value(v).build().map_err(
                    |e| {
                        AwsError::service(
                            "route53:ChangeResourceRecordSets",
                            "BuildError",
                            &e.to_string(),
                        )
                    },
                )?);
            }
            let set = set.build().map_err(|e| {
                AwsError::service(
                    "route53:ChangeResourceRecordSets",
                    "BuildError",
                    &e.to_string(),
                )
            })?;
            batch = batch.changes(
                Change::builder()
                    .action(ChangeAction::Upsert)
                    .resource_record_set(set)
                    .build()
                    .map_err(|e| {
                        AwsError::service(
                            "route53:ChangeResourceRecordSets",
                            "BuildError",
                            &e.to_string(),
                        )
                    })?,
            );
        }
        let batch = batch.build().map_err(|e| {
            AwsError::service(
                "route53:ChangeResourceRecordSets",
                "BuildError",
                &e.to_string(),
            )
        })?;
        let mut tries = 0;
        let out = loop {
            let sent = self
                .client
                .change_resource_record_sets()
                .hosted_zone_id(zone_id)
                .change_batch(batch.clone())
                .send()
                .await
                .map_err(aws_err("route53:ChangeResourceRecordSets"));
            match sent {
                Err(e) if e.is_throttling() && tries < CHANGE_RETRIES => {
                    let pause = self.backoff * 2u32.pow(tries);
                    tracing::warn!(
                        code = e.code(),
                        pause_ms = pause.as_millis() as u64,
                        "change batch throttled; sending it again"
                    );
                    tokio::time::sleep(pause).await;
                    tries += 1;
                }
                other => break other?,
            }
        };
        let info = out.change_info();
        Ok(Submitted {
            change_id: info
                .map(|i| i.id().trim_start_matches("/change/").to_owned())
                .unwrap_or_default(),
            status: info
                .map(|i| i.status().as_str().to_owned())
                .unwrap_or_else(|| "PENDING".into()),
        })
    }

    /// Polls GetChange until INSYNC, for at most `wait` (and never past the budget).
    async fn wait_insync(
        &self,
        submitted: Submitted,
        wait: Duration,
        poll: Duration,
        budget: Budget,
    ) -> Result<Submitted, AwsError> {
        if submitted.status == "INSYNC" {
            return Ok(submitted);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline || budget.remaining().is_some_and(|r| r < poll) {
                return Ok(submitted);
            }
            tokio::time::sleep(poll.min(deadline - now)).await;
            let out = self
                .client
                .get_change()
                .id(&submitted.change_id)
                .send()
                .await
                .map_err(aws_err("route53:GetChange"))?;
            if out.change_info().map(|i| i.status()) == Some(&ChangeStatus::Insync) {
                return Ok(Submitted {
                    status: "INSYNC".into(),
                    ..submitted
                });
            }
        }
    }
}
