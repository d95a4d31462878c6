//! Apply: the claim on each shared group's next state, one atomic Route 53 batch per hosted
//! zone for the groups whose record must change, a bounded wait for INSYNC, then each group's
//! next state saved and its claim dropped. A record change that fails saves no state, so the
//! next run decides again and retries. A group whose claim another region holds is handed
//! back: it changed nothing, and is decided again on what the winner saves.

use std::collections::BTreeMap;

use jiff::Timestamp;

use fleetkeeper::Mode;
use fleetkeeper::exec::Budget;

use crate::config::Config;
use crate::plan::GroupPlan;
use crate::ports::{Claim, ClaimError, Dns, States, Upsert};
use crate::report::GroupReport;

/// What applying gave: the groups done (or failed), and those lost to another decider.
pub struct Applied {
    pub reports: Vec<GroupReport>,
    pub lost: Vec<(GroupPlan, Claim)>,
}

pub async fn apply(
    route53: &impl Dns,
    store: &impl States,
    config: &Config,
    plans: Vec<GroupPlan>,
    now: Timestamp,
    budget: Budget,
) -> Applied {
    let live = config.mode == Mode::Live;
    // Claims first: nothing is written for a group another decider holds.
    let mut plans_kept = Vec::new();
    let mut lost = Vec::new();
    for mut p in plans {
        let writes = p.save || p.upsert.is_some();
        if !(live && writes) {
            plans_kept.push((p, None));
            continue;
        }
        if !p.shared {
            p.next.version = p.base_version + 1;
            plans_kept.push((p, None));
            continue;
        }
        match store
            .claim(&p.report.group, p.base_version, &config.region, now)
            .await
        {
            Ok(version) => {
                p.next.version = version;
                plans_kept.push((p, Some(version)));
            }
            Err(ClaimError::Lost(holder)) => lost.push((p, holder)),
            Err(ClaimError::Aws(e)) => {
                p.report.error = Some(format!("state not claimed: {e}"));
                p.upsert = None;
                p.save = false;
                plans_kept.push((p, None));
            }
        }
    }
    let mut plans = plans_kept;
    let mut by_zone: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, (p, _)) in plans.iter().enumerate() {
        if p.upsert.is_some() {
            by_zone.entry(p.zone_id.clone()).or_default().push(i);
        }
    }
    for (zone, members) in by_zone {
        if !live {
            for i in &members {
                plans[*i].0.report.action = "would-upsert";
                plans[*i].0.save = false;
            }
            continue;
        }
        let upserts: Vec<Upsert> = members
            .iter()
            .filter_map(|i| plans[*i].0.upsert.clone())
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
            let p = &mut plans[*i].0;
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
    let mut reports = Vec::new();
    for (mut p, claimed) in plans {
        if p.save && live {
            p.next.updated_at = Some(now.to_string());
            if let Err(e) = store.save(&p.report.group, &p.next).await {
                p.report.error = Some(format!("state not saved: {e}"));
            }
        }
        if let Some(version) = claimed {
            // Saved or given up, the claim goes (a stale one stepped over with it).
            store
                .release(&p.report.group, p.base_version, version)
                .await;
        }
        reports.push(p.report);
    }
    Applied { reports, lost }
}
