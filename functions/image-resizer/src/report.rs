//! The function's JSON result (a report per S3 record: renditions written, skipped with the
//! reason, the source's upright size, the decode time), its log lines and EMF metrics.

use serde::Serialize;

use fleetkeeper::Mode;
use fleetkeeper::report::Status;
use fleetkeeper::telemetry::Metrics;

#[derive(Debug, Clone, Serialize)]
pub struct Written {
    pub rendition: String,
    pub bucket: String,
    pub key: String,
    pub bytes: usize,
    pub width: u32,
    pub height: u32,
    pub content_type: &'static str,
    pub ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// The rendition, or `*` for the whole record.
    pub rendition: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordReport {
    pub source: String,
    pub written: Vec<Written>,
    /// In a dry run: what would be written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_write: Vec<String>,
    pub skipped: Vec<Skipped>,
    /// The image's full size, upright (EXIF orientation applied), once decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_size: Option<[u32; 2]>,
    /// Decoding, once for all renditions (each rendition's `ms` is its own resize, encode
    /// and write).
    #[serde(skip_serializing_if = "is_zero")]
    pub decode_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip)]
    pub bytes_in: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl RecordReport {
    pub fn new(source: String) -> Self {
        RecordReport {
            source,
            written: vec![],
            would_write: vec![],
            skipped: vec![],
            source_size: None,
            decode_ms: 0,
            error: None,
            bytes_in: 0,
        }
    }

    pub fn skip_all(mut self, reason: impl Into<String>) -> Self {
        self.skipped.push(Skipped {
            rendition: "*".into(),
            reason: reason.into(),
        });
        self
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ResizerReport {
    pub dry_run: bool,
    pub status: Status,
    pub records: Vec<RecordReport>,
}

/// The run's report from its records' reports.
pub fn finish(mode: Mode, records: Vec<RecordReport>) -> ResizerReport {
    let failed = records.iter().filter(|r| r.error.is_some()).count();
    ResizerReport {
        dry_run: mode.is_dry_run(),
        status: Status::of(mode, false, records.len() - failed, failed, 0),
        records,
    }
}

pub fn metrics_into(report: &ResizerReport, metrics: &mut Metrics) {
    let written: usize = report.records.iter().map(|r| r.written.len()).sum();
    let skipped: usize = report.records.iter().map(|r| r.skipped.len()).sum();
    let failed = report.records.iter().filter(|r| r.error.is_some()).count();
    metrics.count("ImagesResized", written as u64);
    metrics.count("ImagesSkipped", skipped as u64);
    metrics.count("BytesIn", report.records.iter().map(|r| r.bytes_in).sum());
    metrics.count(
        "BytesOut",
        report
            .records
            .iter()
            .flat_map(|r| &r.written)
            .map(|w| w.bytes as u64)
            .sum(),
    );
    metrics.count("Failures", failed as u64);
}

/// Each failed record (error), each skip (info), then the summary.
pub fn log(report: &ResizerReport) {
    for r in &report.records {
        if let Some(e) = &r.error {
            tracing::error!(source = %r.source, error = %e, "record failed");
        }
        for s in &r.skipped {
            tracing::info!(source = %r.source, rendition = %s.rendition, reason = %s.reason, "skipped");
        }
    }
    let written: usize = report.records.iter().map(|r| r.written.len()).sum();
    let skipped: usize = report.records.iter().map(|r| r.skipped.len()).sum();
    tracing::info!(status = %report.status, written, skipped, "run finished");
}
