//! The function's JSON result: the shared report (each rendition planned, then written,
//! skipped with the reason, or failed), plus one entry per source object with its upright
//! size, bytes read and decode time; its log lines and EMF metrics.

use std::fmt;

use serde::Serialize;
use serde_json::json;

use fleetkeeper::report::{Entry, Failure, Report};
use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{Error, Mode};

use crate::plan::Output;

pub type ResizerReport = Report<ResizerFields>;

pub const FUNCTION: &str = "image-resizer";

/// image-resizer's own fields: what it learnt about each source object.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResizerFields {
    pub sources: Vec<Source>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    /// `s3://bucket/key`, or `record N` for a record that names no object.
    pub source: String,
    /// The image's full size, upright (EXIF orientation applied), once decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<[u32; 2]>,
    /// Bytes downloaded (0: the object was not read).
    pub bytes_in: u64,
    /// Decoding, once for all renditions (each written rendition's `ms` is its own resize,
    /// encode and write).
    pub decode_ms: u64,
}

/// What is done for a rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Write a rendition beside the original.
    Resize,
    /// Replace the original with its one rendition (REPLACE_ORIGINAL).
    Replace,
    /// Read the source (HEAD and GET): a failure here fails the whole record.
    Read,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Resize => "resize",
            Action::Replace => "replace-original",
            Action::Read => "read",
        })
    }
}

pub fn new(mode: Mode) -> ResizerReport {
    Report::with_fields(FUNCTION, mode, ResizerFields::default())
}

/// A rendition that was written, as its `done` entry shows it.
#[derive(Debug, Clone)]
pub struct Written {
    pub bytes: usize,
    pub width: u32,
    pub height: u32,
    pub content_type: &'static str,
    pub ms: u64,
}

/// One record's part of the report: every entry it adds names its source.
pub struct RecordReport<'r> {
    report: &'r mut ResizerReport,
    index: usize,
}

impl<'r> RecordReport<'r> {
    pub fn start(report: &'r mut ResizerReport, source: String) -> Self {
        report.fields.sources.push(Source {
            source,
            size: None,
            bytes_in: 0,
            decode_ms: 0,
        });
        let index = report.fields.sources.len() - 1;
        RecordReport { report, index }
    }

    pub fn source(&mut self) -> &mut Source {
        &mut self.report.fields.sources[self.index]
    }

    fn name(&self) -> String {
        self.report.fields.sources[self.index].source.clone()
    }

    /// The whole record is skipped.
    pub fn skip_all(&mut self, reason: impl Into<String>) {
        let entry = Entry::new(self.name(), "none", reason);
        self.report.skip(entry);
    }

    /// One rendition is skipped.
    pub fn skip(&mut self, rendition: &str, reason: impl Into<String>) {
        let entry = Entry::new(self.name(), "none", reason).with_detail(json!({
            "rendition": rendition,
        }));
        self.report.skip(entry);
    }

    fn entry(&self, action: Action, out: &Output) -> Entry {
        Entry::new(
            format!("s3://{}/{}", out.bucket, out.key),
            action,
            format!("rendition {} of {}", out.rendition, self.name()),
        )
    }

    pub fn plan(&mut self, action: Action, out: &Output) {
        let entry = self.entry(action, out).with_detail(json!({
            "rendition": out.rendition,
        }));
        self.report.planned.push(entry);
    }

    pub fn done(&mut self, action: Action, out: &Output, w: &Written) {
        let entry = self.entry(action, out).with_detail(json!({
            "rendition": out.rendition,
            "bytes": w.bytes,
            "width": w.width,
            "height": w.height,
            "content_type": w.content_type,
            "ms": w.ms,
        }));
        self.report.done(entry);
    }

    pub fn fail(&mut self, action: Action, error: &Error) {
        let mut failure = Failure::new(self.name(), action, error);
        if action == Action::Replace {
            // apply::replace fails only before the all-or-nothing copy.
            failure.error.push_str("; the original is untouched");
        }
        self.report.fail(failure);
    }
}

pub fn metrics_into(report: &ResizerReport, metrics: &mut Metrics) {
    report.count_into(metrics);
    metrics.count("ImagesResized", report.done.len() as u64);
    metrics.count("ImagesSkipped", report.skipped.len() as u64);
    metrics.count(
        "BytesIn",
        report.fields.sources.iter().map(|s| s.bytes_in).sum(),
    );
    let bytes_out = report
        .done
        .iter()
        .filter_map(|e| e.detail.as_ref()?.get("bytes")?.as_u64())
        .sum();
    metrics.count("BytesOut", bytes_out);
}

/// Each skip (info), then the shared summary (failures as warnings).
pub fn log(report: &ResizerReport) {
    for s in &report.skipped {
        tracing::info!(source = %s.target, reason = %s.reason, "skipped");
    }
    report.log();
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetkeeper::AwsError;
    use fleetkeeper::report::Status;

    fn out(name: &str) -> Output {
        Output {
            rendition: name.into(),
            bucket: "b".into(),
            key: format!("resized/{name}/a.jpg"),
        }
    }

    fn written() -> Written {
        Written {
            bytes: 10,
            width: 3,
            height: 2,
            content_type: "image/jpeg",
            ms: 1,
        }
    }

    #[test]
    fn one_failed_record_of_two_is_partial() {
        let mut r = new(Mode::Live);
        let mut a = RecordReport::start(&mut r, "s3://b/a.jpg".into());
        a.plan(Action::Resize, &out("thumb"));
        a.done(Action::Resize, &out("thumb"), &written());
        let mut b = RecordReport::start(&mut r, "s3://b/b.jpg".into());
        let e = AwsError::service("s3:GetObject", "InternalError", "try again");
        b.fail(Action::Read, &e.into());
        assert_eq!(r.status(), Status::Partial);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["status"], "partial");
        assert_eq!(json["done"][0]["target"], "s3://b/resized/thumb/a.jpg");
        assert_eq!(json["done"][0]["detail"]["width"], 3);
        assert_eq!(json["failed"][0]["target"], "s3://b/b.jpg");
        assert_eq!(json["failed"][0]["action"], "read");
        assert_eq!(json["failed"][0]["retryable"], true);
        assert_eq!(json["sources"][1]["source"], "s3://b/b.jpg");
    }

    #[test]
    fn metrics_count_renditions_and_bytes() {
        let mut r = new(Mode::Live);
        let mut a = RecordReport::start(&mut r, "s3://b/a.jpg".into());
        a.source().bytes_in = 99;
        a.done(Action::Resize, &out("thumb"), &written());
        a.skip("medium", "already made");
        let mut m = Metrics::for_function(FUNCTION);
        metrics_into(&r, &mut m);
        let line: serde_json::Value =
            serde_json::from_str(&m.lines(jiff::Timestamp::UNIX_EPOCH)[0]).unwrap();
        assert_eq!(line["ImagesResized"], 1.0);
        assert_eq!(line["ImagesSkipped"], 1.0);
        assert_eq!(line["BytesIn"], 99.0);
        assert_eq!(line["BytesOut"], 10.0);
    }
}
