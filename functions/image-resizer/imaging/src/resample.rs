//! Lanczos3 resampling (fast_image_resize, SIMD), for whole images and for a stream of rows.
//! Alpha is premultiplied by the resizer itself, so edges do not darken.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::pixels::{Pixels, Refusal};

fn pixel_type(channels: u8) -> PixelType {
    if channels == 4 {
        PixelType::U8x4
    } else {
        PixelType::U8x3
    }
}

fn lanczos(
    resizer: &mut Resizer,
    src: &[u8],
    from: (u32, u32),
    to: (u32, u32),
    channels: u8,
) -> Result<Vec<u8>, Refusal> {
    let kind = pixel_type(channels);
    let fail = |e: &dyn std::fmt::Display| Refusal::Corrupt(format!("resize: {e}"));
    let src = ImageRef::new(from.0, from.1, src, kind).map_err(|e| fail(&e))?;
    let mut dst = Image::new(to.0, to.1, kind);
    resizer
        .resize(
            &src,
            &mut dst,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3)),
        )
        .map_err(|e| fail(&e))?;
    Ok(dst.into_vec())
}

/// `p` resampled to `to`.
pub fn resize(p: &Pixels, to: (u32, u32)) -> Result<Pixels, Refusal> {
    if to == (p.width, p.height) {
        return Ok(p.clone());
    }
    let data = lanczos(
        &mut Resizer::new(),
        &p.data,
        (p.width, p.height),
        to,
        p.channels,
    )?;
    Ok(Pixels {
        width: to.0,
        height: to.1,
        channels: p.channels,
        data,
    })
}

/// Takes full-width rows as a decoder yields them and keeps them narrowed to `width`: a
/// 4000-pixel-wide RGBA PNG bound for 1024 px holds 1024-pixel rows, not the full image.
/// Horizontal resampling stays within a row, so doing it a band of rows at a time gives the
/// same pixels as doing it on the whole image.
pub struct RowShrinker {
    resizer: Resizer,
    from: u32,
    to: u32,
    channels: u8,
    band: Vec<u8>,
    out: Vec<u8>,
    rows: u32,
}

/// Rows narrowed per call to the resizer: large enough to amortise its set-up.
const BAND_ROWS: usize = 64;

impl RowShrinker {
    pub fn new(from: u32, to: u32, height: u32, channels: u8) -> RowShrinker {
        let c = usize::from(channels);
        RowShrinker {
            resizer: Resizer::new(),
            from,
            to,
            channels,
            band: Vec::with_capacity(from as usize * c * BAND_ROWS),
            out: Vec::with_capacity(to as usize * c * height as usize),
            rows: 0,
        }
    }

    /// Appends one row of `from` pixels.
    pub fn push(&mut self, row: &[u8]) -> Result<(), Refusal> {
        self.band.extend_from_slice(row);
        if self.band.len() >= self.from as usize * usize::from(self.channels) * BAND_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Refusal> {
        let rows = (self.band.len() / (self.from as usize * usize::from(self.channels))) as u32;
        if rows == 0 {
            return Ok(());
        }
        let narrowed = lanczos(
            &mut self.resizer,
            &self.band,
            (self.from, rows),
            (self.to, rows),
            self.channels,
        )?;
        self.out.extend_from_slice(&narrowed);
        self.rows += rows;
        self.band.clear();
        Ok(())
    }

    pub fn finish(mut self) -> Result<Pixels, Refusal> {
        self.flush()?;
        Ok(Pixels {
            width: self.to,
            height: self.rows,
            channels: self.channels,
            data: self.out,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_narrowed_in_bands_match_the_whole_image() {
        // 300x150 RGBA with varied alpha, more rows than one band and not a multiple of it.
        let (w, h) = (300u32, 150u32);
        let data: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                [
                    (x * 7) as u8,
                    (y * 5) as u8,
                    ((x + y) * 3) as u8,
                    (x + 40) as u8,
                ]
            })
            .collect();
        let whole = Pixels {
            width: w,
            height: h,
            channels: 4,
            data: data.clone(),
        };
        let mut s = RowShrinker::new(w, 77, h, 4);
        for row in data.chunks_exact(w as usize * 4) {
            s.push(row).unwrap();
        }
        let banded = s.finish().unwrap();
        assert_eq!((banded.width, banded.height), (77, h));
        assert_eq!(banded, resize(&whole, (77, h)).unwrap());
    }
}
