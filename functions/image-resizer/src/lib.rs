//! image-resizer: write resized renditions of each image uploaded to S3, never losing the
//! original and never processing its own output.
//!
//! Work in progress. Here so far: the settings ([`config`]), rendition specs ([`rendition`]),
//! the pure geometry of each fit mode ([`geometry`]) and the S3 event with the per-record plan
//! ([`event`]). Decoding, resizing and the Lambda entry point follow.

pub mod config;
pub mod event;
pub mod geometry;
pub mod rendition;
