//! One S3 notification: each record on its own (a bad one never fails the others): decide,
//! HEAD (size limit, our own output, renditions already written for this ETag), GET pinned to
//! that ETag, render each rendition, PUT it with its metadata; or, with REPLACE_ORIGINAL,
//! write and verify the new object before it replaces the original.

use std::time::Instant;

use serde_json::Value;

use fleetkeeper::telemetry::Metrics;
use fleetkeeper::{Error, Mode};

use crate::apply::write;
use crate::config::Config;
use crate::event::{Object, parse};
use crate::pipeline::decode_for;
use crate::plan::{Decision, Output, already_made, plan, settings, source_refused};
use crate::ports::Objects;
use crate::rendition::Rendition;
use crate::report::{self, Action, RecordReport, ResizerReport};

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
    let outputs = match plan(o, config) {
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
    let settings = settings(config, bytes.len());
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
    write(
        store, config, o, &head.etag, &decoded, pending, &settings, action, report,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::META_SOURCE_ETAG;
    use crate::ports::fake::FakeObjects;
    use fleetkeeper::Env;
    use serde_json::json;

    const BUCKET: &str = "fleetkeeper-images";

    fn config(extra: &[(&str, &str)]) -> Config {
        Config::from_env(&Env::of(extra)).unwrap()
    }

    fn photo(w: u16, h: u16) -> Vec<u8> {
        let pixels: Vec<u8> = (0..u32::from(w) * u32::from(h))
            .flat_map(|i| [(i % 251) as u8, (i % 241) as u8, 90])
            .collect();
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 90)
            .encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        out
    }

    /// An S3 notification of `key` in the bucket.
    fn uploaded(key: &str) -> Value {
        json!({"Records": [{
            "eventSource": "aws:s3",
            "eventName": "ObjectCreated:Put",
            "awsRegion": "us-east-1",
            "s3": {"bucket": {"name": BUCKET}, "object": {"key": key, "size": 1000}}
        }]})
    }

    async fn invoke(
        store: &FakeObjects,
        config: &Config,
        event: Value,
    ) -> Result<ResizerReport, Error> {
        let mut metrics = Metrics::for_function("image-resizer");
        run(store, config, &event, &mut metrics).await
    }

    #[tokio::test]
    async fn each_rendition_is_written_once_per_source_etag() {
        let (store, config) = (FakeObjects::default(), config(&[]));
        store.upload(BUCKET, "uploads/beach.jpg", photo(640, 480));
        let r = invoke(&store, &config, uploaded("uploads/beach.jpg"))
            .await
            .unwrap();
        assert_eq!(r.done.len(), 2, "{r:?}");
        let etag = store.get_stored(BUCKET, "uploads/beach.jpg").unwrap().etag;
        for key in [
            "resized/thumb/uploads/beach.jpg",
            "resized/medium/uploads/beach.jpg",
        ] {
            let out = store
                .get_stored(BUCKET, key)
                .unwrap_or_else(|| panic!("{key}: {:?}", store.keys()));
            assert_eq!(out.metadata.get(META_SOURCE_ETAG), Some(&etag));
            assert!(out.body.starts_with(&[0xff, 0xd8]), "{key} is a JPEG");
        }
        let again = invoke(&store, &config, uploaded("uploads/beach.jpg"))
            .await
            .unwrap();
        assert!(again.done.is_empty(), "{again:?}");
        assert_eq!(again.skipped.len(), 2);
        assert_eq!(store.puts(), 2, "a repeated event writes nothing");
    }

    #[tokio::test]
    async fn a_dry_run_and_a_file_that_is_no_image_write_nothing() {
        let store = FakeObjects::default();
        store.upload(BUCKET, "uploads/beach.jpg", photo(64, 48));
        let dry = config(&[("DRY_RUN", "true")]);
        let r = invoke(&store, &dry, uploaded("uploads/beach.jpg"))
            .await
            .unwrap();
        assert_eq!(r.planned.len(), 2, "{r:?}");
        store.upload(
            BUCKET,
            "uploads/notes.jpg",
            b"meeting notes, not a photo".to_vec(),
        );
        let r = invoke(&store, &config(&[]), uploaded("uploads/notes.jpg"))
            .await
            .unwrap();
        assert!(r.done.is_empty() && r.failed.is_empty(), "{r:?}");
        assert_eq!(r.skipped.len(), 2, "each rendition skipped with the reason");
        assert_eq!(store.puts(), 0);
    }

    #[tokio::test]
    async fn a_bad_event_is_refused_and_a_bad_record_spares_the_others() {
        let (store, config) = (FakeObjects::default(), config(&[]));
        let err = invoke(&store, &config, json!({"detail": "no records"}))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Input(_)), "{err}");
        store.upload(BUCKET, "uploads/beach.jpg", photo(64, 48));
        let mut two = uploaded("uploads/beach.jpg");
        let bad = json!({"eventSource": "aws:s3", "s3": {}});
        two["Records"].as_array_mut().unwrap().insert(0, bad);
        let r = invoke(&store, &config, two).await.unwrap();
        assert_eq!(r.done.len(), 2, "{r:?}");
        assert!(
            r.skipped.iter().any(|s| s.target.starts_with("record 0")),
            "{r:?}"
        );
    }
}
