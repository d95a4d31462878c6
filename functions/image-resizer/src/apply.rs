//! Apply: the writes that can lose data are here, done so that they cannot. A replacement is
//! written beside the original, read back and checked, and only then copied over it.

use crate::event::Object;
use crate::ports::{META_RENDITION, Objects, Put};

/// The new object is written beside the original, read back and checked, and only then
/// copied over it (server-side, all or nothing). The original is never deleted; any failure
/// before the copy leaves it as it was.
pub async fn replace<O: Objects + Sync>(
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
