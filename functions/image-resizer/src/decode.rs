//! Decoding: the format from the bytes (never the name), the size from the header before any
//! pixel is decoded (so a decompression bomb is refused cheaply), JPEG decoded at the smallest
//! DCT scale that still covers the target (shrink-on-load), EXIF orientation applied from
//! whichever container carries it (JPEG, PNG, WebP).
//! Output is 8-bit RGB or RGBA.

use std::io::Cursor;

use crate::geometry::jpeg_denominator;
pub use crate::pixels::{Pixels, Refusal};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Jpeg,
    Png,
    Gif,
    Webp,
}

impl Kind {
    pub fn sniff(bytes: &[u8]) -> Option<Kind> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Kind::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Kind::Png)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(Kind::Gif)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Kind::Webp)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub kind: Kind,
    /// The stored size, before orientation.
    pub stored: (u32, u32),
    /// The full size, upright: what renditions are planned on.
    pub upright: (u32, u32),
    /// Upright (orientation applied), at any size down to what was needed: the whole image,
    /// scaled (JPEG shrink-on-load), or narrowed (PNG rows); never smaller than needed.
    pub pixels: Pixels,
}

fn corrupt(e: impl std::fmt::Display) -> Refusal {
    Refusal::Corrupt(e.to_string())
}

/// What a decode may take, checked from the header before any pixel is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_pixels: u64,
    /// Bytes the decoder's own buffers may take (coefficients, pixels); u64::MAX for none.
    pub max_decode_bytes: u64,
}

/// Decodes `bytes` with a pixel limit only (no memory limit).
pub fn decode(
    bytes: &[u8],
    max_pixels: u64,
    need: impl Fn((u32, u32)) -> (u32, u32),
) -> Result<Decoded, Refusal> {
    let limits = Limits {
        max_pixels,
        max_decode_bytes: u64::MAX,
    };
    decode_within(bytes, limits, need)
}

/// Decodes `bytes`. `need` gives, for the upright size, the largest size the pixels will be
/// resized to, so JPEG can decode just large enough and PNG rows can be narrowed as they come.
/// An image whose decode would take more than the limits allow is refused from its header:
/// a skipped record, not an out-of-memory crash that fails the whole event.
pub fn decode_within(
    bytes: &[u8],
    limits: Limits,
    need: impl Fn((u32, u32)) -> (u32, u32),
) -> Result<Decoded, Refusal> {
    let max_pixels = limits.max_pixels;
    let fits = |bytes: u64| {
        if bytes > limits.max_decode_bytes {
            Err(Refusal::TooMuchMemory {
                need: bytes,
                budget: limits.max_decode_bytes,
            })
        } else {
            Ok(())
        }
    };
    let kind = Kind::sniff(bytes).ok_or(Refusal::NotAnImage)?;
    let check = |w: u32, h: u32| {
        if u64::from(w) * u64::from(h) > max_pixels {
            Err(Refusal::TooManyPixels {
                width: w,
                height: h,
                max: max_pixels,
            })
        } else if w == 0 || h == 0 {
            Err(Refusal::Corrupt("zero width or height".into()))
        } else {
            Ok(())
        }
    };
    // Each format gives its pixels, its orientation and its embedded colour profile.
    let (stored, mut pixels, orientation, icc) = match kind {
        Kind::Jpeg => {
            let jpeg = crate::jpeg::Jpeg::open(bytes).map_err(corrupt)?;
            let (w, h) = (jpeg.width, jpeg.height);
            check(w, h)?;
            let marks = crate::jpeg::markers(bytes);
            let d = jpeg_denominator((w, h), stored_need(&need, (w, h), marks.orientation));
            // The output (4 bytes a pixel at most, for CMYK), plus every coefficient when the
            // file is progressive.
            let output = u64::from(w.div_ceil(d)) * u64::from(h.div_ceil(d)) * 4;
            fits(output + marks.coefficient_bytes.unwrap_or(0))?;
            let px = jpeg.decode(d, marks.adobe).map_err(corrupt)?;
            ((w, h), px, marks.orientation, marks.icc)
        }
        Kind::Png => {
            let orientation = crate::exif::png_chunk(bytes).map_or(1, crate::exif::orientation);
            let (size, px, icc) = png(bytes, orientation, &check, &fits, &need)?;
            (size, px, orientation, icc)
        }
        Kind::Gif => {
            let mut opts = gif::DecodeOptions::new();
            opts.set_color_output(gif::ColorOutput::RGBA);
            let mut d = opts.read_info(Cursor::new(bytes)).map_err(corrupt)?;
            let (w, h) = (u32::from(d.width()), u32::from(d.height()));
            check(w, h)?;
            // The logical screen and the frame, 4 bytes a pixel each.
            fits(u64::from(w) * u64::from(h) * 8)?;
            // The first frame, placed on the logical screen (transparent elsewhere).
            let frame = d
                .read_next_frame()
                .map_err(corrupt)?
                .ok_or_else(|| corrupt("no frame"))?;
            let mut data = vec![0u8; (w * h * 4) as usize];
            for y in 0..u32::from(frame.height) {
                for x in 0..u32::from(frame.width) {
                    let (sx, sy) = (x + u32::from(frame.left), y + u32::from(frame.top));
                    if sx >= w || sy >= h {
                        continue;
                    }
                    let s = ((y * u32::from(frame.width) + x) * 4) as usize;
                    let t = ((sy * w + sx) * 4) as usize;
                    data[t..t + 4].copy_from_slice(&frame.buffer[s..s + 4]);
                }
            }
            (
                (w, h),
                Pixels {
                    width: w,
                    height: h,
                    channels: 4,
                    data,
                },
                1,
                None,
            )
        }
        Kind::Webp => {
            let mut d = image_webp::WebPDecoder::new(Cursor::new(bytes)).map_err(corrupt)?;
            let (w, h) = d.dimensions();
            check(w, h)?;
            fits(u64::from(w) * u64::from(h) * 4)?;
            let channels = if d.has_alpha() { 4 } else { 3 };
            let size = d.output_buffer_size().ok_or_else(|| corrupt("too large"))?;
            // A profile that cannot be read is ignored, as browsers do.
            let icc = d.icc_profile().ok().flatten();
            // Likewise an EXIF chunk that cannot be read leaves the image as stored.
            let orientation = d
                .exif_metadata()
                .ok()
                .flatten()
                .map_or(1, |exif| crate::exif::orientation(&exif));
            let mut data = vec![0u8; size];
            d.read_image(&mut data).map_err(corrupt)?;
            (
                (w, h),
                Pixels {
                    width: w,
                    height: h,
                    channels,
                    data,
                },
                orientation,
                icc,
            )
        }
    };
    if let Some(icc) = icc {
        crate::colour::to_srgb(&mut pixels, &icc);
    }
    Ok(Decoded {
        kind,
        stored,
        upright: if orientation >= 5 {
            (stored.1, stored.0)
        } else {
            stored
        },
        pixels: orient(pixels, orientation),
    })
}

type Size = (u32, u32);

/// What `need` asks of the upright image, as a size of the stored one: orientations 5 to 8
/// turn the image a quarter, so width and height trade places.
fn stored_need(need: &impl Fn(Size) -> Size, stored: Size, orientation: u8) -> Size {
    if orientation >= 5 {
        let want = need((stored.1, stored.0));
        (want.1, want.0)
    } else {
        need(stored)
    }
}
/// An embedded ICC profile.
type Icc = Option<Vec<u8>>;

/// PNG: 16-bit to 8, palette and tRNS expanded, grey to RGB. When the target is narrower
/// than the image, rows are narrowed as they are decoded, so the full image is never held
/// (interlaced files come in passes and are decoded whole).
fn png(
    bytes: &[u8],
    orientation: u8,
    check: &impl Fn(u32, u32) -> Result<(), Refusal>,
    fits: &impl Fn(u64) -> Result<(), Refusal>,
    need: &impl Fn((u32, u32)) -> (u32, u32),
) -> Result<(Size, Pixels, Icc), Refusal> {
    let mut d = png::Decoder::new(Cursor::new(bytes));
    d.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = d.read_info().map_err(corrupt)?;
    let (w, h) = (reader.info().width, reader.info().height);
    check(w, h)?;
    let icc = reader.info().icc_profile.as_ref().map(|p| p.to_vec());
    let (color, _) = reader.output_color_type();
    let channels = match color {
        png::ColorType::Rgba | png::ColorType::GrayscaleAlpha => 4,
        _ => 3,
    };
    let widen = |row: &[u8], out: &mut Vec<u8>| match color {
        png::ColorType::Grayscale => out.extend(row.iter().flat_map(|&l| [l, l, l])),
        png::ColorType::GrayscaleAlpha => {
            out.extend(row.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]))
        }
        _ => out.extend_from_slice(row),
    };
    if matches!(color, png::ColorType::Indexed) {
        return Err(corrupt("palette not expanded"));
    }
    let narrow_to = stored_need(need, (w, h), orientation).0.clamp(1, w);
    let line = reader
        .output_line_size(w)
        .ok_or_else(|| corrupt("too large"))?;
    let narrowed = narrow_to < w && !reader.info().interlaced;
    let kept = if narrowed { narrow_to } else { w };
    fits(u64::from(kept) * u64::from(h) * u64::from(channels))?;
    if narrowed {
        let mut shrinker = crate::resample::RowShrinker::new(w, narrow_to, h, channels);
        let mut row = vec![0u8; line];
        let mut wide = Vec::with_capacity(w as usize * usize::from(channels));
        for _ in 0..h {
            reader
                .read_row(&mut row)
                .map_err(corrupt)?
                .ok_or_else(|| corrupt("image data ends early"))?;
            wide.clear();
            widen(&row, &mut wide);
            shrinker.push(&wide)?;
        }
        return Ok(((w, h), shrinker.finish()?, icc));
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| corrupt("too large"))?;
    let mut buf = vec![0u8; size];
    let out = reader.next_frame(&mut buf).map_err(corrupt)?;
    buf.truncate(out.buffer_size());
    let data = if matches!(
        color,
        png::ColorType::Grayscale | png::ColorType::GrayscaleAlpha
    ) {
        let mut wide = Vec::with_capacity(w as usize * h as usize * usize::from(channels));
        for row in buf.chunks_exact(line) {
            widen(row, &mut wide);
        }
        wide
    } else {
        buf
    };
    Ok((
        (w, h),
        Pixels {
            width: w,
            height: h,
            channels,
            data,
        },
        icc,
    ))
}

/// Turns stored pixels upright for EXIF orientation 1-8.
pub fn orient(p: Pixels, orientation: u8) -> Pixels {
    if orientation <= 1 || orientation > 8 {
        return p;
    }
    let (w, h, c) = (p.width as usize, p.height as usize, p.channels as usize);
    let swap = orientation >= 5;
    let (ow, oh) = if swap { (h, w) } else { (w, h) };
    let mut out = vec![0u8; p.data.len()];
    for y in 0..h {
        for x in 0..w {
            // Where stored (x, y) lands in the upright image.
            let (nx, ny) = match orientation {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (h - 1 - y, x),
                7 => (h - 1 - y, w - 1 - x),
                _ => (y, w - 1 - x),
            };
            let s = (y * w + x) * c;
            let t = (ny * ow + nx) * c;
            out[t..t + c].copy_from_slice(&p.data[s..s + c]);
        }
    }
    Pixels {
        width: ow as u32,
        height: oh as u32,
        channels: p.channels,
        data: out,
    }
}
