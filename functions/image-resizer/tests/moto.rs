//! image-resizer against moto's S3, through the fault proxy (to count writes): every record,
//! decoded keys, renditions with their metadata, a duplicate event that does no work, our own
//! output never processed, non-images skipped without failing the rest, the size limit
//! checked before download, and REPLACE_ORIGINAL done safely.

use aws_sdk_s3::primitives::ByteStream;
use fleetkeeper::report::Status;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper_tests::{Fault, FaultProxy, Moto, Rule};
use image_resizer::config::Config;
use image_resizer::decode::decode;
use image_resizer::handler::run;
use image_resizer::ports::Store;
use image_resizer::report::ResizerReport;
use serde_json::{Value, json};

const BUCKET: &str = "photos";

struct World {
    _moto: Moto,
    proxy: FaultProxy,
    s3: aws_sdk_s3::Client,
    store: Store,
}

async fn world() -> World {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    let s3 = Moto::aws(&moto.env(&[])).await.s3();
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let store = Store {
        s3: Moto::aws(&Moto::env_for(&proxy.endpoint(), &[])).await.s3(),
    };
    World {
        _moto: moto,
        proxy,
        s3,
        store,
    }
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

impl World {
    async fn put(&self, key: &str, body: Vec<u8>) {
        self.s3
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
    }

    async fn get(
        &self,
        key: &str,
    ) -> Option<(
        Vec<u8>,
        Option<String>,
        std::collections::HashMap<String, String>,
    )> {
        let out = self
            .s3
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .ok()?;
        let ct = out.content_type().map(str::to_owned);
        let meta = out.metadata().cloned().unwrap_or_default();
        Some((
            out.body.collect().await.unwrap().into_bytes().to_vec(),
            ct,
            meta,
        ))
    }

    fn puts(&self) -> u64 {
        self.proxy.count(&format!("s3:PUT/{BUCKET}"))
    }
}

/// An S3 notification for `keys` (already encoded as S3 sends them).
fn event(keys: &[&str]) -> Value {
    let time = fleetkeeper_tests::clock::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    json!({"Records": keys.iter().map(|k| json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": time, "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": k, "size": 1000}}
    })).collect::<Vec<_>>()})
}

async fn invoke(w: &World, settings: &[(&str, &str)], e: &Value) -> ResizerReport {
    let config = Config::from_env(&fleetkeeper::Env::of(settings)).unwrap();
    let mut metrics = Metrics::for_function("image-resizer");
    run(&w.store, &config, e, &mut metrics).await.unwrap()
}

/// The first reason anything was skipped for.
fn first_skip(r: &ResizerReport) -> &str {
    r.skipped.first().map_or("", |s| s.reason.as_str())
}

/// The reasons the source `key` (or a rendition of it) was skipped for.
fn skips_of<'a>(r: &'a ResizerReport, key: &str) -> Vec<&'a str> {
    let source = format!("s3://{BUCKET}/{key}");
    r.skipped
        .iter()
        .filter(|s| s.target == source)
        .map(|s| s.reason.as_str())
        .collect()
}

const TWO: [(&str, &str); 1] = [("RENDITIONS", "thumb=300x200:cover,medium=1024x1024:inside")];

#[tokio::test(flavor = "multi_thread")]
async fn renditions_with_metadata_and_no_second_pass() {
    let w = world().await;
    w.put("holiday/My Photo (1).jpg", photo(1600, 1200)).await;
    w.put("notes.jpg", b"just text, named like a photo".to_vec())
        .await;
    let e = event(&[
        "holiday/My+Photo+%281%29.jpg",
        "notes.jpg",
        "resized/thumb/old.jpg",
    ]);

    let r = invoke(&w, &TWO, &e).await;
    assert_eq!(r.done.len(), 2, "{r:?}");
    assert!(
        r.done
            .iter()
            .all(|d| d.reason.ends_with("/My Photo (1).jpg"))
    );
    assert_eq!(r.fields.sources[0].size, Some([1600, 1200]));
    assert_eq!(r.status(), Status::Ok);
    let thumb = w
        .get("resized/thumb/holiday/My Photo (1).jpg")
        .await
        .unwrap();
    let d = decode(&thumb.0, u64::MAX, |s| s).unwrap();
    assert_eq!((d.pixels.width, d.pixels.height), (300, 200));
    assert_eq!(thumb.1.as_deref(), Some("image/jpeg"));
    assert_eq!(
        thumb.2["fleetkeeper-source-key"],
        "holiday/My Photo (1).jpg"
    );
    assert_eq!(thumb.2["fleetkeeper-rendition"], "thumb");
    let medium = w
        .get("resized/medium/holiday/My Photo (1).jpg")
        .await
        .unwrap();
    let d = decode(&medium.0, u64::MAX, |s| s).unwrap();
    assert_eq!((d.pixels.width, d.pixels.height), (1024, 768));
    // The text file is skipped, and did not fail the others; our own output is not processed.
    assert!(
        skips_of(&r, "notes.jpg")[0].contains("not a JPEG, PNG, GIF or WebP"),
        "{r:?}"
    );
    assert!(skips_of(&r, "resized/thumb/old.jpg")[0].contains("OUTPUT_PREFIX"));
    assert_eq!(w.puts(), 2);
    // The original is untouched.
    assert_eq!(
        w.get("holiday/My Photo (1).jpg").await.unwrap().0,
        photo(1600, 1200)
    );

    // The same event again: renditions exist for this ETag, nothing is written.
    let r = invoke(&w, &TWO, &e).await;
    assert!(r.done.is_empty());
    let photo_skips = skips_of(&r, "holiday/My Photo (1).jpg");
    assert_eq!(photo_skips.len(), 2, "{r:?}");
    assert!(
        photo_skips
            .iter()
            .all(|s| s.contains("already made from this ETag")),
        "{r:?}"
    );
    assert_eq!(w.puts(), 2);

    // The rendition's own event (were the notification not filtered) is refused by metadata too.
    w.s3.copy_object()
        .bucket(BUCKET)
        .key("elsewhere.jpg")
        .copy_source(format!(
            "{BUCKET}/resized/thumb/holiday/My%20Photo%20%281%29.jpg"
        ))
        .send()
        .await
        .unwrap();
    let r = invoke(&w, &TWO, &event(&["elsewhere.jpg"])).await;
    assert!(first_skip(&r).contains("rendition metadata"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_and_dry_run() {
    let w = world().await;
    w.put("big.jpg", photo(800, 600)).await;
    let r = invoke(&w, &[("MAX_INPUT_BYTES", "1000")], &event(&["big.jpg"])).await;
    assert!(first_skip(&r).contains("over MAX_INPUT_BYTES"), "{r:?}");
    assert_eq!(
        w.proxy.count(&format!("s3:GET/{BUCKET}")),
        0,
        "checked with HEAD, not downloaded"
    );
    let r = invoke(&w, &[("MAX_PIXELS", "100000")], &event(&["big.jpg"])).await;
    assert_eq!(r.skipped.len(), 2, "{r:?}");
    assert!(
        r.skipped
            .iter()
            .all(|s| s.reason.contains("over MAX_PIXELS")),
        "{r:?}"
    );
    let r = invoke(&w, &[("DRY_RUN", "true")], &event(&["big.jpg"])).await;
    assert_eq!(r.planned.len(), 2);
    assert!(r.done.is_empty());
    assert_eq!(r.status(), Status::DryRun);
    assert_eq!(w.puts(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn replace_original_writes_and_checks_before_replacing() {
    let w = world().await;
    let original = photo(2000, 1000);
    w.put("upload.jpg", original.clone()).await;
    let settings = [
        ("RENDITIONS", "web=500x500:inside"),
        ("REPLACE_ORIGINAL", "true"),
    ];

    // S3 fails the staged write: the original stays exactly as it was.
    w.proxy.add(
        Rule::new(Fault::Status(500))
            .on(&format!("s3:PUT/{BUCKET}"))
            .first(10),
    );
    let r = invoke(&w, &settings, &event(&["upload.jpg"])).await;
    assert_eq!(r.failed.len(), 1, "{r:?}");
    assert!(
        r.failed[0].error.contains("the original is untouched"),
        "{r:?}"
    );
    assert_eq!(r.status(), Status::Failed);
    assert_eq!(w.get("upload.jpg").await.unwrap().0, original);

    // S3 healthy: replaced, and the replacement's own event is not processed again.
    w.proxy.clear();
    let r = invoke(&w, &settings, &event(&["upload.jpg"])).await;
    assert_eq!(r.done.len(), 1, "{r:?}");
    assert_eq!(r.done[0].action, "replace-original");
    let (bytes, _, meta) = w.get("upload.jpg").await.unwrap();
    let d = decode(&bytes, u64::MAX, |s| s).unwrap();
    assert_eq!((d.pixels.width, d.pixels.height), (500, 250));
    assert_eq!(meta["fleetkeeper-rendition"], "web");
    assert!(
        w.get("resized/.replacing/upload.jpg").await.is_none(),
        "staging removed"
    );
    let r = invoke(&w, &settings, &event(&["upload.jpg"])).await;
    assert!(first_skip(&r).contains("rendition metadata"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_events_are_input_errors() {
    let w = world().await;
    let config = Config::from_env(&fleetkeeper::Env::of(&[])).unwrap();
    let mut metrics = Metrics::for_function("image-resizer");
    for bad in [json!({}), json!("photo.jpg"), json!({"Records": 3})] {
        let err = run(&w.store, &config, &bad, &mut metrics)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("S3 event"), "{err}");
    }
    assert_eq!(w.puts(), 0);
}
