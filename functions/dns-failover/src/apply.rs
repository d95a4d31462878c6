//! Apply: one atomic Route 53 batch per hosted zone for the groups whose record must change, a
//! bounded wait for INSYNC, then each group's next state saved. A record change that fails
//! saves no state, so the next run decides again and retries.

use std::collections::BTreeMap;

use jiff::Timestamp;

use fleetkeeper::Mode;
use fleetkeeper::exec::Budget;

use crate::config::Config;
use crate::plan::GroupPlan;
use crate::ports::{Dns, States, Upsert};
use crate::report::GroupReport;

pub async fn apply(
    route53: &impl Dns,
    store: &impl States,
    config: &Config,
    mut plans: Vec<GroupPlan>,
    now: Timestamp,
    budget: Budget,
) -> Vec<GroupReport> {
    let mut by_zone: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, p) in plans.iter().enumerate() {
        if p.upsert.is_some() {
            by_zone.entry(p.zone_id.clone()).or_default().push(i);
        }
    }
    for (zone, members) in by_zone {
        if config.mode == Mode::DryRun {
            for i in &members {
                plans[*i].report.action = "would-upsert";
                plans[*i].save = false;
            }
            continue;
        }
        let upserts: Vec<Upsert> = members
            .iter()
            .filter_map(|i| plans[*i].upsert.clone())
            .collect();
        let names: Vec<&str> = upserts.iter().map(|u| u.group.as_str()).collect();
        let comment = format!("fleetkeeper dns-failover: {}", names.join(", "));
        let submitted = match route53.submit(&zone, &upserts, &comment).await {
            Ok(s) => route53
                .wait_insync(s, config.change_wait, config.change_poll, budget)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        for i in &members {
            let p = &mut plans[*i];
            match &submitted {
                Ok(s) => {
                    p.report.action = "upsert";
                    p.report.change_id = Some(s.change_id.clone());
                    p.report.change_status = Some(s.status.clone());
                    p.next.last_change_id = Some(s.change_id.clone());
                }
                Err(e) => {
                    // The state is not saved: the next run decides again and retries.
                    p.report.error = Some(format!("record change failed: {e}"));
                    p.save = false;
                }
            }
        }
    }
    let mut out = Vec::new();
    for mut p in plans {
        if p.save && config.mode == Mode::Live {
            p.next.updated_at = Some(now.to_string());
            if let Err(e) = store.save(&p.report.group, &p.next).await {
                p.report.error = Some(format!("state not saved: {e}"));
            }
        }
        out.push(p.report);
    }
    out
}
