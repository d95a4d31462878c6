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

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG of `w`x`h` RGB pixels, each byte `fill`.
    fn png(w: u32, h: u32, fill: u8) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().unwrap();
        writer
            .write_image_data(&vec![fill; (w * h * 3) as usize])
            .unwrap();
        writer.finish().unwrap();
        out
    }

    fn jpeg(w: u16, h: u16) -> Vec<u8> {
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 90)
            .encode(
                &vec![128u8; usize::from(w) * usize::from(h) * 3],
                w,
                h,
                jpeg_encoder::ColorType::Rgb,
            )
            .unwrap();
        out
    }

    #[test]
    fn the_format_comes_from_the_bytes() {
        assert_eq!(Kind::sniff(&png(1, 1, 0)), Some(Kind::Png));
        assert_eq!(Kind::sniff(&jpeg(8, 8)), Some(Kind::Jpeg));
        assert_eq!(Kind::sniff(b"GIF89a...."), Some(Kind::Gif));
        assert_eq!(Kind::sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(Kind::Webp));
        assert_eq!(Kind::sniff(b"RIFF\0\0\0\0WAVEfmt "), None);
        assert_eq!(Kind::sniff(b"%PDF-1.7"), None);
        assert_eq!(
            decode(b"hello, I am text", 1_000_000, |s| s).unwrap_err(),
            Refusal::NotAnImage
        );
    }

    #[test]
    fn a_small_image_decodes_whole_and_upright() {
        let d = decode(&png(30, 20, 200), 1_000_000, |s| s).unwrap();
        assert_eq!(
            (d.kind, d.stored, d.upright),
            (Kind::Png, (30, 20), (30, 20))
        );
        assert_eq!(
            (d.pixels.width, d.pixels.height, d.pixels.channels),
            (30, 20, 3)
        );
        assert!(d.pixels.data.iter().all(|b| *b == 200));
        let j = decode(&jpeg(64, 48), 1_000_000, |s| s).unwrap();
        assert_eq!((j.kind, j.upright), (Kind::Jpeg, (64, 48)));
    }

    #[test]
    fn a_bomb_is_refused_from_its_header() {
        // 30x20 is 600 pixels: over a limit of 500, refused before any pixel is decoded.
        match decode(&png(30, 20, 0), 500, |s| s).unwrap_err() {
            Refusal::TooManyPixels { width, height, max } => {
                assert_eq!((width, height, max), (30, 20, 500))
            }
            other => panic!("{other:?}"),
        }
        // Decoding that would take more memory than allowed is refused the same way.
        let limits = Limits {
            max_pixels: 1_000_000,
            max_decode_bytes: 100,
        };
        assert!(matches!(
            decode_within(&jpeg(64, 48), limits, |s| s).unwrap_err(),
            Refusal::TooMuchMemory { .. }
        ));
    }

    #[test]
    fn a_truncated_file_is_corrupt_not_a_crash() {
        let whole = png(30, 20, 9);
        let cut = &whole[..whole.len() / 2];
        assert!(matches!(
            decode(cut, 1_000_000, |s| s).unwrap_err(),
            Refusal::Corrupt(_)
        ));
        let j = jpeg(64, 48);
        assert!(decode(&j[..40], 1_000_000, |s| s).is_err());
    }

    #[test]
    fn every_exif_orientation_lands_upright() {
        // A 2x1 image: left pixel 1, right pixel 2 (one channel's worth repeated in 3).
        let p = Pixels {
            width: 2,
            height: 1,
            channels: 3,
            data: vec![1, 1, 1, 2, 2, 2],
        };
        let firsts = |q: &Pixels| q.data.chunks(3).map(|c| c[0]).collect::<Vec<u8>>();
        assert_eq!(firsts(&orient(p.clone(), 1)), [1, 2]);
        assert_eq!(firsts(&orient(p.clone(), 2)), [2, 1], "mirrored");
        assert_eq!(firsts(&orient(p.clone(), 3)), [2, 1], "rotated 180");
        for o in 5..=8 {
            let q = orient(p.clone(), o);
            assert_eq!(
                (q.width, q.height),
                (1, 2),
                "orientation {o} swaps the sides"
            );
        }
        assert_eq!(
            firsts(&orient(p.clone(), 6)),
            [1, 2],
            "rotated 90 clockwise"
        );
        assert_eq!(
            firsts(&orient(p.clone(), 8)),
            [2, 1],
            "rotated 90 anticlockwise"
        );
        assert_eq!(orient(p.clone(), 9), p, "out of range: left as stored");
    }
}
