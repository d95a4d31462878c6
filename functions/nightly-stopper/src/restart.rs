//! RDS's own starts. RDS starts a database that has been stopped for seven days, and says so
//! with an event (RDS-EVENT-0154 for a DB instance, RDS-EVENT-0153 for a cluster). The event
//! is remembered on the database (`fleetkeeper:last-action` = `restarted-by-aws <time>`), so
//! the next evaluation stops it again as soon as it is available if its schedule wants it
//! stopped, instead of taking RDS's start for a person's.

use fleetkeeper::report::{Entry, Failure};

use crate::config::Config;
use crate::event::RdsRestart;
use crate::model::LAST_ACTION_TAG;
use crate::ports::{Place, Resources};
use crate::report::{self, StopperReport};

/// Whether a place (`region` or `account/region`) is where the event happened.
fn is_place(name: &str, restart: &RdsRestart) -> bool {
    match name.split_once('/') {
        Some((account, region)) => account == restart.account && region == restart.region,
        None => name == restart.region,
    }
}

pub async fn remember<F: Resources + Sync>(
    targets: &[Place<F>],
    config: &Config,
    restart: &RdsRestart,
) -> StopperReport {
    let mut report = report::named("rds-restart", restart.at, config.mode);
    let kind = restart.kind.as_str();
    let entry = |action: &str, reason: &str| {
        Entry::new(&restart.id, action, reason)
            .in_region(&restart.region)
            .of_kind(kind)
    };
    let left = |report: &mut StopperReport, why: &str| {
        report.skipped.push(entry("none", why));
    };
    let Some(place) = targets.iter().find(|t| is_place(t.port.name(), restart)) else {
        left(
            &mut report,
            "not in a place this function schedules (REGIONS, ROLE_ARNS): left alone",
        );
        return report;
    };
    if !config.keeps(restart.kind) {
        left(
            &mut report,
            &format!("RESOURCES does not include {kind}: left alone"),
        );
        return report;
    }
    let key = &config.schedule_tag.key;
    let databases = match place.port.scheduled_databases(key, &[restart.kind]).await {
        Ok(d) => d,
        Err(e) => {
            report.fail(
                Failure::aws(&restart.id, "describe", &e)
                    .in_region(&restart.region)
                    .of_kind(kind),
            );
            return report;
        }
    };
    if !databases.iter().any(|d| d.arn == restart.arn) {
        left(
            &mut report,
            &format!("it carries no {key} tag: not ours to stop"),
        );
        return report;
    }
    let why = "RDS started it after seven days stopped; the next evaluation stops it again if its schedule wants it stopped";
    if config.mode.is_dry_run() {
        report.planned.push(entry("remember-restart", why));
        return report;
    }
    let value = format!("restarted-by-aws {}", restart.at);
    match place
        .port
        .tag_database(&restart.arn, LAST_ACTION_TAG, &value)
        .await
    {
        Ok(()) => report.done(entry("remember-restart", why)),
        Err(e) => report.fail(
            Failure::aws(&restart.id, "tag", &e)
                .in_region(&restart.region)
                .of_kind(kind),
        ),
    }
    report
}
