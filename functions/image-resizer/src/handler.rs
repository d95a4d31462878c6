//! One S3 notification: each record on its own (a bad one never fails the others): decide,
//! HEAD (size limit, our own output, renditions already written for this ETag), GET pinned to
//! that ETag, render each rendition, PUT it with its metadata; or, with REPLACE_ORIGINAL,
//! write and verify the new object before it replaces the original.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::Value;

use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{Error, Mode};

use crate::apply::replace;
use crate::config::Config;
use crate::event::{Object, parse};
use crate::pipeline::{Settings, decode_for, render_decoded};
use crate::plan::{
    Decision, Output, already_made, decide, decode_budget, source_refused, staging_key,
};
use crate::ports::{META_RENDITION, META_SOURCE_ETAG, META_SOURCE_KEY, Objects, Put};
use crate::rendition::Rendition;
use crate::report::{self, Action, RecordReport, ResizerReport, Written};

pub async fn run<O: Objects + Sync>(
    store: &O,
    config: &Config,
    payload: &Value,
    metrics: &mut Metrics,
) -> Result<ResizerReport, Error> {
    let mut report = report::new(config.mode);
    for (i, parsed) in parse(payload)?.into_iter().enumerate() {
        match parsed {
            Ok(object) => {
                let source = format!("s3://{}/{}", object.bucket, object.key);
                let mut record = RecordReport::start(&mut report, source);
                one(store, config, &object, &mut record).await;
            }
            Err(why) => RecordReport::start(&mut report, format!("record {i}")).skip_all(why),
        }
    }
    report::metrics_into(&report, metrics);
    report::log(&report);
    Ok(report)
}

async fn one<O: Objects + Sync>(
    store: &O,
    config: &Config,
    o: &Object,
    report: &mut RecordReport<'_>,
) {
    let outputs = match decide(o, config) {
        Decision::Skip(why) => return report.skip_all(why),
        Decision::Write(outputs) => outputs,
    };
    let head = match store.head(&o.bucket, &o.key).await {
        Ok(Some(h)) => h,
        Ok(None) => return report.skip_all("gone: deleted since the event"),
        Err(e) => return report.fail(Action::Read, &e.into()),
    };
    if let Some(why) = source_refused(&head, config) {
        return report.skip_all(why);
    }
    let action = if config.replace_original {
        Action::Replace
    } else {
        Action::Resize
    };
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
                        let why = format!(
                            "s3://{}/{} already made from this ETag",
                            out.bucket, out.key
                        );
                        report.skip(&out.rendition, why);
                        continue;
                    }
                }
                Err(e) => return report.fail(Action::Read, &e.into()),
            }
        }
        report.plan(action, &out);
        pending.push((r, out));
    }
    if pending.is_empty() || config.mode == Mode::DryRun {
        return;
    }
    let bytes = match store.get(&o.bucket, &o.key, &head.etag).await {
        Ok(b) => b,
        Err(e) => return report.fail(Action::Read, &e.into()),
    };
    report.source().bytes_in = bytes.len() as u64;
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
            for (r, _) in &pending {
                report.skip(&r.name, refusal.to_string());
            }
            return;
        }
    };
    report.source().decode_ms = started.elapsed().as_millis() as u64;
    report.source().size = Some([decoded.upright.0, decoded.upright.1]);
    for (r, out) in pending {
        let started = Instant::now();
        let rendered = match render_decoded(&decoded, r, &settings) {
            Ok(rendered) => rendered,
            Err(refusal) => {
                report.skip(&r.name, refusal.to_string());
                continue;
            }
        };
        let metadata = HashMap::from([
            (META_SOURCE_KEY.to_owned(), o.key.clone()),
            (META_SOURCE_ETAG.to_owned(), head.etag.clone()),
            (META_RENDITION.to_owned(), r.name.clone()),
        ]);
        let (width, height, size) = (rendered.width, rendered.height, rendered.bytes.len());
        let content_type = rendered.format.content_type();
        let staging = staging_key(config, &o.key);
        let put = Put {
            bucket: &out.bucket,
            key: if config.replace_original {
                &staging
            } else {
                &out.key
            },
            body: rendered.bytes,
            content_type,
            cache_control: config.cache_control.as_deref(),
            metadata,
        };
        let result = if config.replace_original {
            replace(store, o, put, size).await
        } else {
            store.put(put).await.map_err(Error::from)
        };
        match result {
            Ok(()) => {
                let written = Written {
                    bytes: size,
                    width,
                    height,
                    content_type,
                    ms: started.elapsed().as_millis() as u64,
                };
                report.done(action, &out, &written);
            }
            Err(e) => report.fail(action, &e),
        }
    }
}
