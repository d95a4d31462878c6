//! image-resizer's own types: what a HEAD of an object says, and the metadata every
//! rendition carries. The plan and the ports both speak of them; neither owns them.

use std::collections::HashMap;

/// Metadata every rendition carries (S3 stores it as x-amz-meta-*).
pub const META_SOURCE_KEY: &str = "fleetkeeper-source-key";
pub const META_SOURCE_ETAG: &str = "fleetkeeper-source-etag";
pub const META_RENDITION: &str = "fleetkeeper-rendition";

/// An object as a HEAD sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub size: u64,
    pub etag: String,
    pub metadata: HashMap<String, String>,
}
