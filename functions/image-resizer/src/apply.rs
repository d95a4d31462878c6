//! Apply: render each pending rendition from the decoded source and write it, with the
//! metadata that ties it to its source's ETag. The writes that can lose data are here, done so
//! that they cannot: a replacement is written beside the original, read back and checked, and
//! only then copied over it.

use std::collections::HashMap;
use std::time::Instant;

use fleetkeeper::Error;

use crate::config::Config;
use crate::decode::Decoded;
use crate::event::Object;
use crate::pipeline::{Settings, render_decoded};
use crate::plan::{Output, staging_key};
use crate::ports::{META_RENDITION, META_SOURCE_ETAG, META_SOURCE_KEY, Objects, Put};
use crate::rendition::Rendition;
use crate::report::{Action, RecordReport, Written};

/// Renders and writes every pending rendition of `o` (read at `etag`), each result in the
/// record's report; a rendition refused or failed never stops the others.
#[allow(clippy::too_many_arguments)]
pub async fn write<O: Objects + Sync>(
    store: &O,
    config: &Config,
    o: &Object,
    etag: &str,
    decoded: &Decoded,
    pending: Vec<(&Rendition, Output)>,
    settings: &Settings,
    action: Action,
    report: &mut RecordReport<'_>,
) {
    for (r, out) in pending {
        let started = Instant::now();
        let rendered = match render_decoded(decoded, r, settings) {
            Ok(rendered) => rendered,
            Err(refusal) => {
                report.skip(&r.name, refusal.to_string());
                continue;
            }
        };
        let metadata = HashMap::from([
            (META_SOURCE_KEY.to_owned(), o.key.clone()),
            (META_SOURCE_ETAG.to_owned(), etag.to_owned()),
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

/// The new object is written beside the original, read back and checked, and only then
/// copied over it (server-side, all or nothing). The original is never deleted; any failure
/// before the copy leaves it as it was, which is what every error returned means.
pub async fn replace<O: Objects + Sync>(
    store: &O,
    o: &Object,
    staged: Put<'_>,
    size: usize,
) -> Result<(), Error> {
    let staging = staged.key.to_owned();
    let rendition = staged.metadata.get(META_RENDITION).cloned();
    store.put(staged).await?;
    let check = store.head(&o.bucket, &staging).await?;
    let ok = check.as_ref().is_some_and(|h| {
        h.size == size as u64 && h.metadata.get(META_RENDITION) == rendition.as_ref()
    });
    if !ok {
        return Err(Error::Internal(format!(
            "the staged replacement s3://{}/{staging} did not read back as written",
            o.bucket
        )));
    }
    store.copy_over(&o.bucket, &staging, &o.key).await?;
    if let Err(e) = store.delete(&o.bucket, &staging).await {
        tracing::warn!(key = %staging, error = %e, "staged copy left behind");
    }
    Ok(())
}
