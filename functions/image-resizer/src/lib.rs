//! image-resizer: write resized renditions of each image uploaded to S3, never losing the
//! original and never processing its own output.
//!
//! [`config`] (settings), [`colour`] (embedded profiles to sRGB), [`rendition`] (specs), [`geometry`] (the pure layout of each fit),
//! [`event`] (the S3 event and the per-record plan), [`decode`] (format sniffing, limits from
//! the header, shrink-on-load, orientation) with [`jpeg`] (libjpeg-turbo) and [`resample`]
//! (Lanczos3, whole images or streamed rows), [`pipeline`] (decode once, then resize, crop or
//! pad, encode per rendition), [`store`] (S3) and [`handler`] (one notification, record by
//! record).

pub mod colour;
pub mod config;
pub mod decode;
pub mod event;
pub mod exif;
pub mod geometry;
pub mod handler;
pub mod jpeg;
pub mod pipeline;
pub mod rendition;
pub mod resample;
pub mod store;
