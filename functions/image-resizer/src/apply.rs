//! Apply: the writes that can lose data are here, done so that they cannot. A replacement is
//! written beside the original, read back and checked, and only then copied over it.

use fleetkeeper::Error;

use crate::event::Object;
use crate::ports::{META_RENDITION, Objects, Put};

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
