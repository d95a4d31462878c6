//! The function's JSON result: the shared report (each region counted is `done` with action
//! `census`; a region that could not be read is in `failed`) plus its own field, the tally per
//! region; and its metrics.

use serde::Serialize;

use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{Mode, Report};

use crate::plan::RegionCensus;

/// fleet-census's own fields, beside the shared report's.
#[derive(Debug, Default, Serialize)]
pub struct CensusFields {
    pub regions: Vec<RegionCensus>,
}

pub type CensusReport = Report<CensusFields>;

pub fn new(function: &str) -> CensusReport {
    // A census changes nothing: a live run and a dry run are the same.
    Report::with_fields(function, Mode::Live, CensusFields::default())
}

pub fn metrics_into(report: &CensusReport, metrics: &mut Metrics) {
    let total: usize = report.fields.regions.iter().map(|r| r.total).sum();
    let opted_in: usize = report.fields.regions.iter().map(|r| r.opted_in).sum();
    metrics.count("InstancesTotal", total as u64);
    metrics.count("InstancesOptedIn", opted_in as u64);
    metrics.count("Failures", report.failed.len() as u64);
    let mut by_kind: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in &report.fields.regions {
        for (kind, k) in &r.by_kind {
            *by_kind.entry(kind).or_insert(0) += k.scheduled;
        }
    }
    for (kind, n) in by_kind {
        metrics.count_in(("ResourceKind", kind), "ScheduledResources", n as f64);
    }
}
