//! image-resizer's renderer, with no AWS in it: [`pipeline`] decodes an image once, then
//! resizes, crops or pads and encodes it for each [`rendition`], over [`decode`] (format
//! sniffing, limits from the header, shrink-on-load, orientation from [`exif`]) with [`jpeg`]
//! (libjpeg-turbo), [`resample`] (Lanczos3, whole images or streamed rows), [`colour`]
//! (embedded profiles to sRGB), [`geometry`] (the pure layout of each fit) and [`pixels`]
//! (the types they share). `resize-file` runs it on local files.

pub mod colour;
pub mod decode;
pub mod exif;
pub mod geometry;
pub mod jpeg;
pub mod pipeline;
pub mod pixels;
pub mod rendition;
pub mod resample;
#[cfg(test)]
mod testdata;

/// The format renditions are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The input's own format (GIF becomes PNG: only its first frame is kept).
    Keep,
    Jpeg,
    Png,
    Webp,
}
