//! One S3 notification: each record on its own (a bad one never fails the others): decide,
//! HEAD (size limit, our own output, renditions already written for this ETag), GET pinned to
//! that ETag, render each rendition, PUT it with its metadata; or, with REPLACE_ORIGINAL,
//! write and verify the new object before it replaces the original.

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use fleetkeeper::report::Status;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{Error, Mode};

use crate::config::Config;
use crate::event::{Object, parse};
use crate::pipeline::{Settings, decode_for, render_decoded};
use crate::plan::{
    Decision, Output, already_made, decide, decode_budget, source_refused, staging_key,
};
use crate::ports::{META_RENDITION, META_SOURCE_ETAG, META_SOURCE_KEY, Objects, Put};
use crate::rendition::Rendition;

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
    fn new(source: String) -> Self {
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

    fn skip_all(mut self, reason: impl Into<String>) -> Self {
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

pub async fn run<O: Objects + Sync>(
    store: &O,
    config: &Config,
    payload: &Value,
    metrics: &mut Metrics,
) -> Result<ResizerReport, Error> {
    let mut records = Vec::new();
    for (i, parsed) in parse(payload)?.into_iter().enumerate() {
        let report = match parsed {
            Ok(object) => one(store, config, &object).await,
            Err(why) => RecordReport::new(format!("record {i}")).skip_all(why),
        };
        records.push(report);
    }
    let failed = records.iter().filter(|r| r.error.is_some()).count();
    let report = ResizerReport {
        dry_run: config.mode.is_dry_run(),
        status: Status::of(config.mode, false, records.len() - failed, failed, 0),
        records,
    };
    let written: usize = report.records.iter().map(|r| r.written.len()).sum();
    let skipped: usize = report.records.iter().map(|r| r.skipped.len()).sum();
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
    for r in &report.records {
        if let Some(e) = &r.error {
            tracing::error!(source = %r.source, error = %e, "record failed");
        }
        for s in &r.skipped {
            tracing::info!(source = %r.source, rendition = %s.rendition, reason = %s.reason, "skipped");
        }
    }
    tracing::info!(status = %report.status, written, skipped, "run finished");
    Ok(report)
}

async fn one<O: Objects + Sync>(store: &O, config: &Config, o: &Object) -> RecordReport {
    let mut report = RecordReport::new(format!("s3://{}/{}", o.bucket, o.key));
    let outputs = match decide(o, config) {
        Decision::Skip(why) => return report.skip_all(why),
        Decision::Write(outputs) => outputs,
    };
    let head = match store.head(&o.bucket, &o.key).await {
        Ok(Some(h)) => h,
        Ok(None) => return report.skip_all("gone: deleted since the event"),
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    if let Some(why) = source_refused(&head, config) {
        return report.skip_all(why);
    }
    let mut pending: Vec<(&Rendition, Output)> = Vec::new();
    for out in outputs {
        let Some(r) = config.renditions.iter().find(|r| r.name == out.rendition) else {
            continue;
        };
        if !config.replace_original {
            match store.head(&out.bucket, &out.key).await {
                Ok(existing) => {
                    let meta = existing.as_ref().map(|h| &h.metadata);
                    if already_made(meta, &head.etag, &out.rendition) {
                        report.skipped.push(Skipped {
                            reason: format!(
                                "s3://{}/{} already made from this ETag",
                                out.bucket, out.key
                            ),
                            rendition: out.rendition,
                        });
                        continue;
                    }
                }
                Err(e) => {
                    report.error = Some(e.to_string());
                    return report;
                }
            }
        }
        pending.push((r, out));
    }
    if pending.is_empty() {
        return report;
    }
    if config.mode == Mode::DryRun {
        report.would_write = pending
            .iter()
            .map(|(r, out)| format!("{} -> s3://{}/{}", r.name, out.bucket, out.key))
            .collect();
        return report;
    }
    let bytes = match store.get(&o.bucket, &o.key, &head.etag).await {
        Ok(b) => b,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    report.bytes_in = bytes.len() as u64;
    let settings = Settings {
        format: config.format,
        jpeg_quality: config.jpeg_quality,
        webp_quality: config.webp_quality,
        webp_lossless: config.webp_lossless,
        pad: config.pad,
        max_pixels: config.max_pixels,
        max_decode_bytes: decode_budget(config.memory_mib, bytes.len()),
    };
    // Decoded once, large enough for every pending rendition; the encoded bytes go first.
    let started = Instant::now();
    let wanted: Vec<&Rendition> = pending.iter().map(|(r, _)| *r).collect();
    let decoded = decode_for(&bytes, &wanted, &settings);
    drop(bytes);
    let decoded = match decoded {
        Ok(d) => d,
        Err(refusal) => {
            // Not an image, corrupt, too many pixels: reported, the record goes on.
            report.skipped.extend(pending.iter().map(|(r, _)| Skipped {
                rendition: r.name.clone(),
                reason: refusal.to_string(),
            }));
            return report;
        }
    };
    report.decode_ms = started.elapsed().as_millis() as u64;
    report.source_size = Some([decoded.upright.0, decoded.upright.1]);
    for (r, Output { bucket, key, .. }) in pending {
        let started = Instant::now();
        let out = match render_decoded(&decoded, r, &settings) {
            Ok(out) => out,
            Err(refusal) => {
                report.skipped.push(Skipped {
                    rendition: r.name.clone(),
                    reason: refusal.to_string(),
                });
                continue;
            }
        };
        let metadata = HashMap::from([
            (META_SOURCE_KEY.to_owned(), o.key.clone()),
            (META_SOURCE_ETAG.to_owned(), head.etag.clone()),
            (META_RENDITION.to_owned(), r.name.clone()),
        ]);
        let (width, height, size) = (out.width, out.height, out.bytes.len());
        let content_type = out.format.content_type();
        let staging = staging_key(config, &o.key);
        let put = Put {
            bucket: &bucket,
            key: if config.replace_original {
                &staging
            } else {
                &key
            },
            body: out.bytes,
            content_type,
            cache_control: config.cache_control.as_deref(),
            metadata,
        };
        let result = if config.replace_original {
            replace(store, o, put, size).await
        } else {
            store.put(put).await.map_err(|e| e.to_string())
        };
        match result {
            Ok(()) => report.written.push(Written {
                rendition: r.name.clone(),
                bucket: bucket.clone(),
                key,
                bytes: size,
                width,
                height,
                content_type,
                ms: started.elapsed().as_millis() as u64,
            }),
            Err(e) => report.error = Some(e),
        }
    }
    report
}

/// The new object is written beside the original, read back and checked, and only then
/// copied over it (server-side, all or nothing). The original is never deleted; any failure
/// before the copy leaves it as it was.
async fn replace<O: Objects + Sync>(
    store: &O,
    o: &Object,
    staged: Put<'_>,
    size: usize,
) -> Result<(), String> {
    let staging = staged.key.to_owned();
    let rendition = staged.metadata.get(META_RENDITION).cloned();
    store.put(staged).await.map_err(|e| e.to_string())?;
    let check = store
        .head(&o.bucket, &staging)
        .await
        .map_err(|e| e.to_string())?;
    let ok = check.as_ref().is_some_and(|h| {
        h.size == size as u64 && h.metadata.get(META_RENDITION) == rendition.as_ref()
    });
    if !ok {
        return Err(format!(
            "the staged replacement s3://{}/{staging} did not read back as written; the original is untouched",
            o.bucket
        ));
    }
    store
        .copy_over(&o.bucket, &staging, &o.key)
        .await
        .map_err(|e| format!("{e}; the original is untouched"))?;
    if let Err(e) = store.delete(&o.bucket, &staging).await {
        tracing::warn!(key = %staging, error = %e, "staged copy left behind");
    }
    Ok(())
}
