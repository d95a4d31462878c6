//! image-resizer: write resized renditions of each image uploaded to S3, never losing the
//! original and never processing its own output.
//!
//! Work in progress. Here so far: the settings ([`config`]), rendition specs ([`rendition`]),
//! the pure geometry of each fit mode ([`geometry`]), the S3 event with the per-record plan
//! ([`event`]), and the image pipeline: [`decode`] (shrink-on-load, orientation, limits) and
//! [`pipeline`] (resize, crop or pad, encode). The S3 side, the Lambda entry point and
//! `resize-file` follow.

pub mod config;
pub mod decode;
pub mod event;
pub mod geometry;
pub mod handler;
pub mod jpeg;
pub mod pipeline;
pub mod rendition;
pub mod resample;
pub mod store;
