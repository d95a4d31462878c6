//! The plan, pure: for one object, which renditions to write where or why none; whether the
//! source as HEAD shows it may be read; which renditions are already made from this very
//! ETag; how much memory a decode may take. No I/O.

use std::collections::HashMap;

use crate::config::Config;
use crate::event::Object;
use crate::model::{Head, META_RENDITION, META_SOURCE_ETAG};
use crate::pipeline::Settings;

/// One rendition to write, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub rendition: String,
    pub bucket: String,
    pub key: String,
}

/// What to do with one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Write(Vec<Output>),
    Skip(String),
}

pub fn plan(o: &Object, config: &Config) -> Decision {
    if !o.event_name.starts_with("ObjectCreated:") {
        return Decision::Skip(format!("{} is not an ObjectCreated event", o.event_name));
    }
    let out_bucket = config.output_bucket.as_deref().unwrap_or(&o.bucket);
    // Our own output never goes round again.
    if out_bucket == o.bucket && o.key.starts_with(&config.output_prefix) {
        return Decision::Skip(format!(
            "under OUTPUT_PREFIX {:?}: a rendition, not an original",
            config.output_prefix
        ));
    }
    if o.key.ends_with('/') || o.size == Some(0) {
        return Decision::Skip("an empty object (or a folder marker)".into());
    }
    if config.replace_original {
        let r = &config.renditions[0];
        return Decision::Write(vec![Output {
            rendition: r.name.clone(),
            bucket: o.bucket.clone(),
            key: o.key.clone(),
        }]);
    }
    Decision::Write(
        config
            .renditions
            .iter()
            .map(|r| Output {
                rendition: r.name.clone(),
                bucket: out_bucket.to_owned(),
                key: format!("{}{}/{}", config.output_prefix, r.name, o.key),
            })
            .collect(),
    )
}

/// Why the source, as HEAD shows it, is not read: ours (it carries rendition metadata), or
/// over MAX_INPUT_BYTES. None: read it.
pub fn source_refused(head: &Head, config: &Config) -> Option<String> {
    if head.metadata.contains_key(META_RENDITION) {
        return Some("carries rendition metadata: written by image-resizer".into());
    }
    (head.size > config.max_input_bytes).then(|| {
        format!(
            "{} bytes, over MAX_INPUT_BYTES ({}); not downloaded",
            head.size, config.max_input_bytes
        )
    })
}

/// Whether the object at an output's place is that rendition made from this very ETag, so a
/// duplicate delivery of the event does no work.
pub fn already_made(
    existing: Option<&HashMap<String, String>>,
    etag: &str,
    rendition: &str,
) -> bool {
    existing.is_some_and(|m| {
        m.get(META_SOURCE_ETAG).map(String::as_str) == Some(etag)
            && m.get(META_RENDITION).map(String::as_str) == Some(rendition)
    })
}

/// Kept for the runtime, the SDK and the renditions' own buffers: measured at 14 MiB beyond
/// the input and the coefficients of a 24 MP progressive JPEG (bench/results/image-resizer.md).
const RESERVED_MIB: u64 = 24;

/// What a decode may take in a function of `memory_mib`, holding `input` bytes already.
pub fn decode_budget(memory_mib: Option<u64>, input: usize) -> u64 {
    memory_mib.map_or(u64::MAX, |m| {
        (m.saturating_sub(RESERVED_MIB) << 20).saturating_sub(input as u64)
    })
}

/// Where a replacement is staged: under the output prefix, so it is never processed.
pub fn staging_key(config: &Config, key: &str) -> String {
    format!("{}.replacing/{key}", config.output_prefix)
}

/// How to render: the configured formats and limits, and what this invocation's memory
/// leaves for decoding a source of `source_bytes`.
pub fn settings(config: &Config, source_bytes: usize) -> Settings {
    Settings {
        format: config.format,
        jpeg_quality: config.jpeg_quality,
        webp_quality: config.webp_quality,
        webp_lossless: config.webp_lossless,
        pad: config.pad,
        max_pixels: config.max_pixels,
        max_decode_bytes: decode_budget(config.memory_mib, source_bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetkeeper::Env;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::from_env(&Env::of(pairs)).unwrap()
    }

    fn output(rendition: &str, bucket: &str, key: &str) -> Output {
        Output {
            rendition: rendition.into(),
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    #[test]
    fn decides_outputs_and_refuses_to_recurse() {
        let c = config(&[("RENDITIONS", "thumb=300x200:cover,medium=1024x1024:inside")]);
        let o = |name: &str, key: &str, size: u64| Object {
            event_name: name.into(),
            bucket: "photos".into(),
            key: key.into(),
            size: Some(size),
            etag: None,
        };
        assert_eq!(
            plan(&o("ObjectCreated:Put", "holiday/a b.jpg", 10), &c),
            Decision::Write(vec![
                output("thumb", "photos", "resized/thumb/holiday/a b.jpg"),
                output("medium", "photos", "resized/medium/holiday/a b.jpg"),
            ])
        );
        for (name, key, size, why) in [
            ("ObjectRemoved:Delete", "a.jpg", 10, "not an ObjectCreated"),
            (
                "ObjectCreated:Put",
                "resized/thumb/a.jpg",
                10,
                "OUTPUT_PREFIX",
            ),
            ("ObjectCreated:Put", "folder/", 0, "empty"),
            ("ObjectCreated:Put", "empty.jpg", 0, "empty"),
        ] {
            match plan(&o(name, key, size), &c) {
                Decision::Skip(r) => assert!(r.contains(why), "{key}: {r}"),
                other => panic!("{key}: {other:?}"),
            }
        }
        // Another output bucket: the same prefix in the source bucket is a user's folder.
        let other = config(&[("OUTPUT_BUCKET", "photos-resized")]);
        match plan(&o("ObjectCreated:Put", "resized/x.jpg", 10), &other) {
            Decision::Write(w) => assert_eq!(w[0].bucket, "photos-resized"),
            d => panic!("{d:?}"),
        }
        let replace = config(&[
            ("RENDITIONS", "web=2048x2048:inside"),
            ("REPLACE_ORIGINAL", "true"),
        ]);
        assert_eq!(
            plan(&o("ObjectCreated:Put", "a.jpg", 10), &replace),
            Decision::Write(vec![output("web", "photos", "a.jpg")])
        );
    }
    #[test]
    fn our_own_output_and_oversized_sources_are_not_read() {
        let c = config(&[("MAX_INPUT_BYTES", "1000")]);
        let head = |size: u64, meta: &[(&str, &str)]| Head {
            size,
            etag: "\"e1\"".into(),
            metadata: meta
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        };
        assert_eq!(source_refused(&head(10, &[]), &c), None);
        assert!(
            source_refused(&head(1001, &[]), &c)
                .unwrap()
                .contains("MAX_INPUT_BYTES")
        );
        let ours = head(10, &[(META_RENDITION, "thumb")]);
        assert!(
            source_refused(&ours, &c)
                .unwrap()
                .contains("rendition metadata")
        );
    }

    #[test]
    fn a_rendition_is_made_once_per_etag() {
        let meta = |etag: &str, r: &str| -> HashMap<String, String> {
            [(META_SOURCE_ETAG, etag), (META_RENDITION, r)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        };
        assert!(already_made(Some(&meta("e1", "thumb")), "e1", "thumb"));
        assert!(
            !already_made(Some(&meta("e0", "thumb")), "e1", "thumb"),
            "the source changed"
        );
        assert!(!already_made(Some(&meta("e1", "medium")), "e1", "thumb"));
        assert!(
            !already_made(Some(&HashMap::new()), "e1", "thumb"),
            "someone else's object"
        );
        assert!(!already_made(None, "e1", "thumb"));
    }

    #[test]
    fn decode_budget_leaves_room_for_the_runtime_and_the_input() {
        assert_eq!(decode_budget(None, 1 << 30), u64::MAX);
        assert_eq!(decode_budget(Some(128), 0), 104 << 20);
        assert_eq!(decode_budget(Some(128), 10 << 20), 94 << 20);
        assert_eq!(decode_budget(Some(128), 200 << 20), 0);
    }
}
