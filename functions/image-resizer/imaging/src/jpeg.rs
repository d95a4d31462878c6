//! JPEG decoding with libjpeg-turbo (the copy vendored by mozjpeg-sys, SIMD on x86_64 and
//! arm64) through its TurboJPEG API: DCT scaling for shrink-on-load, and errors as return
//! codes. TurboJPEG catches libjpeg's fatal errors itself (setjmp), so nothing unwinds across
//! the FFI boundary; the release build aborts on panic, which an unwinding wrapper would hit.
//!
//! The markers TurboJPEG does not hand over (EXIF orientation, Adobe's APP14) are read here
//! from the bytes.
//!
//! Encoding uses the same library's plain libjpeg API at libjpeg-turbo's settings (baseline,
//! 4:2:0, the standard tables) with optimised Huffman tables: TurboJPEG's encoder here is
//! mozjpeg's slow trellis profile.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_uchar, c_ulong, c_void};
use std::ptr::NonNull;

use crate::pixels::Pixels;

// Links the static library that holds the TurboJPEG functions below.
extern crate mozjpeg_sys;

unsafe extern "C" {
    fn tjInitDecompress() -> *mut c_void;
    fn tjDecompressHeader3(
        handle: *mut c_void,
        jpeg: *const c_uchar,
        size: c_ulong,
        width: *mut c_int,
        height: *mut c_int,
        subsampling: *mut c_int,
        colorspace: *mut c_int,
    ) -> c_int;
    fn tjDecompress2(
        handle: *mut c_void,
        jpeg: *const c_uchar,
        size: c_ulong,
        out: *mut c_uchar,
        width: c_int,
        pitch: c_int,
        height: c_int,
        pixel_format: c_int,
        flags: c_int,
    ) -> c_int;
    fn tjGetErrorStr2(handle: *mut c_void) -> *mut c_char;
    fn tjGetErrorCode(handle: *mut c_void) -> c_int;
    fn tjDestroy(handle: *mut c_void) -> c_int;
}

const TJPF_RGB: c_int = 0;
const TJPF_CMYK: c_int = 11;
const TJCS_CMYK: c_int = 3;
const TJCS_YCCK: c_int = 4;
const TJERR_WARNING: c_int = 0;

/// One TurboJPEG decompressor, destroyed on drop.
struct Handle(NonNull<c_void>);

impl Handle {
    fn new() -> Result<Handle, String> {
        // SAFETY: no arguments; a null return is handled.
        NonNull::new(unsafe { tjInitDecompress() })
            .map(Handle)
            .ok_or_else(|| "the JPEG decoder could not start".to_owned())
    }

    fn error(&self) -> (bool, String) {
        // SAFETY: the handle is live; TurboJPEG returns a NUL-terminated string it owns,
        // copied before the next call.
        unsafe {
            let warning = tjGetErrorCode(self.0.as_ptr()) == TJERR_WARNING;
            let text = tjGetErrorStr2(self.0.as_ptr());
            let text = if text.is_null() {
                "unknown JPEG error".to_owned()
            } else {
                CStr::from_ptr(text).to_string_lossy().into_owned()
            };
            (warning, text)
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: created by tjInitDecompress, destroyed once.
        unsafe {
            tjDestroy(self.0.as_ptr());
        }
    }
}

/// A JPEG whose header has been read.
pub struct Jpeg<'a> {
    handle: Handle,
    bytes: &'a [u8],
    pub width: u32,
    pub height: u32,
    cmyk: bool,
}

impl<'a> Jpeg<'a> {
    /// Reads the frame header only: no pixel is decoded.
    pub fn open(bytes: &'a [u8]) -> Result<Jpeg<'a>, String> {
        let handle = Handle::new()?;
        let size = c_ulong::try_from(bytes.len()).map_err(|_| "too large".to_owned())?;
        let (mut w, mut h, mut subsampling, mut colorspace) = (0, 0, 0, 0);
        // SAFETY: the pointers are valid for the call; TurboJPEG reads `size` bytes.
        let rc = unsafe {
            tjDecompressHeader3(
                handle.0.as_ptr(),
                bytes.as_ptr(),
                size,
                &mut w,
                &mut h,
                &mut subsampling,
                &mut colorspace,
            )
        };
        if rc != 0 {
            // libjpeg's warnings (stray bytes before a marker, which cameras and editors
            // write) are warnings in the header too, as libvips and Pillow treat them; the
            // header was read whole. Only an error refuses the file.
            let (warning, text) = handle.error();
            if !warning || w <= 0 || h <= 0 {
                return Err(text);
            }
            tracing::debug!(warning = %text, "JPEG header read with a warning");
        }
        Ok(Jpeg {
            handle,
            bytes,
            width: u32::try_from(w).unwrap_or(0),
            height: u32::try_from(h).unwrap_or(0),
            cmyk: colorspace == TJCS_CMYK || colorspace == TJCS_YCCK,
        })
    }

    /// Decodes at 1/`denominator` (1, 2, 4 or 8) of the stored size, as 8-bit RGB. CMYK and
    /// YCCK become RGB here; `adobe` says the ink values are stored inverted, as Photoshop
    /// writes them (an APP14 "Adobe" marker).
    pub fn decode(&self, denominator: u32, adobe: bool) -> Result<Pixels, String> {
        let (w, h) = (
            self.width.div_ceil(denominator),
            self.height.div_ceil(denominator),
        );
        let channels = if self.cmyk { 4 } else { 3 };
        let mut data = vec![0u8; w as usize * h as usize * channels];
        let size = c_ulong::try_from(self.bytes.len()).map_err(|_| "too large".to_owned())?;
        // Asked for exactly the 1/denominator size, TurboJPEG picks that scaling factor: the
        // largest that fits.
        // SAFETY: `data` holds w*h*channels bytes, the pitch TurboJPEG writes with.
        let rc = unsafe {
            tjDecompress2(
                self.handle.0.as_ptr(),
                self.bytes.as_ptr(),
                size,
                data.as_mut_ptr(),
                w as c_int,
                (w as usize * channels) as c_int,
                h as c_int,
                if self.cmyk { TJPF_CMYK } else { TJPF_RGB },
                0,
            )
        };
        if rc != 0 {
            let (warning, text) = self.handle.error();
            // A warning leaves a whole image; keep it unless the data ran out (the rest would
            // be grey). Cameras write harmless oddities, such as bytes before a marker, that
            // libvips and browsers accept too.
            if !warning || text.to_ascii_lowercase().contains("premature end") {
                return Err(text);
            }
            tracing::debug!(warning = %text, "JPEG decoded with a warning");
        }
        if self.cmyk {
            data = cmyk_to_rgb(&data, adobe);
        }
        Ok(Pixels {
            width: w,
            height: h,
            channels: 3,
            data,
        })
    }
}

/// Without a colour profile, the usual naive conversion (what browsers and Pillow do):
/// each colour is what its ink leaves of white, times what black leaves.
fn cmyk_to_rgb(cmyk: &[u8], inverted: bool) -> Vec<u8> {
    cmyk.chunks_exact(4)
        .flat_map(|p| {
            // Left of white: 255 means no ink.
            let left = |v: u8| u16::from(if inverted { v } else { 255 - v });
            let k = left(p[3]);
            let ch = |c: u8| ((left(c) * k + 127) / 255) as u8;
            [ch(p[0]), ch(p[1]), ch(p[2])]
        })
        .collect()
}

/// The largest side libjpeg writes.
pub const MAX_SIDE: u32 = 65_500;

unsafe extern "C" {
    // jpeg_mem_dest's buffer comes from malloc.
    fn free(p: *mut c_void);
}

/// Reached only when libjpeg cannot go on while encoding our own, valid buffer: out of memory
/// or a misuse here. It must not return, and nothing may unwind through C in this build, so
/// the process ends, as it would on any failed allocation.
unsafe extern "C-unwind" fn encoder_failed(cinfo: &mut mozjpeg_sys::jpeg_common_struct) {
    // SAFETY: libjpeg passes its live struct; `err` was set by us.
    let code = unsafe { cinfo.err.as_ref().map_or(-1, |e| e.msg_code) };
    tracing::error!(code, "libjpeg failed while encoding");
    std::process::abort();
}

/// Encodes 8-bit RGB (`data` holds `width * height * 3` bytes) as a baseline JPEG.
pub fn encode(data: &[u8], width: u32, height: u32, quality: u8) -> Result<Vec<u8>, String> {
    use mozjpeg_sys as j;
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(format!(
            "{width}x{height} is outside JPEG's 1 to {MAX_SIDE} pixels a side"
        ));
    }
    let row = width as usize * 3;
    if data.len() != row * height as usize {
        return Err("pixel buffer does not match the size".into());
    }
    // SAFETY: the structs are zeroed then set up by libjpeg before use; `rows` points into
    // `data`, which outlives the calls; the output buffer is copied and then freed.
    unsafe {
        let mut err: j::jpeg_error_mgr = std::mem::zeroed();
        let mut cinfo: j::jpeg_compress_struct = std::mem::zeroed();
        let handlers = j::jpeg_std_error(&mut err);
        handlers.error_exit = Some(encoder_failed);
        cinfo.common.err = handlers;
        j::jpeg_create_compress(&mut cinfo);
        let (mut buf, mut size): (*mut u8, c_ulong) = (std::ptr::null_mut(), 0);
        j::jpeg_mem_dest(&mut cinfo, &mut buf, &mut size);
        cinfo.image_width = width;
        cinfo.image_height = height;
        cinfo.input_components = 3;
        cinfo.in_color_space = j::J_COLOR_SPACE::JCS_RGB;
        j::jpeg_c_set_int_param(
            &mut cinfo,
            j::J_INT_PARAM::JINT_COMPRESS_PROFILE,
            j::JINT_COMPRESS_PROFILE_VALUE::JCP_FASTEST as c_int,
        );
        j::jpeg_set_defaults(&mut cinfo);
        j::jpeg_set_quality(&mut cinfo, c_int::from(quality), 1);
        // About 6% smaller for a few milliseconds a rendition.
        cinfo.optimize_coding = 1;
        j::jpeg_start_compress(&mut cinfo, 1);
        let rows: Vec<*const u8> = data.chunks_exact(row).map(<[u8]>::as_ptr).collect();
        let mut done = 0;
        while done < height {
            done +=
                j::jpeg_write_scanlines(&mut cinfo, rows[done as usize..].as_ptr(), height - done);
        }
        j::jpeg_finish_compress(&mut cinfo);
        let out = std::slice::from_raw_parts(buf, size as usize).to_vec();
        j::jpeg_destroy_compress(&mut cinfo);
        free(buf.cast());
        Ok(out)
    }
}

/// What the markers before the image data say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Markers {
    /// EXIF orientation, 1 (upright) when absent or unreadable.
    pub orientation: u8,
    /// An APP14 "Adobe" marker: CMYK values are stored inverted.
    pub adobe: bool,
    /// For a progressive (or other multi-scan) JPEG, the bytes its DCT coefficients take:
    /// the decoder must hold them all before the first row comes out.
    pub coefficient_bytes: Option<u64>,
    /// The embedded ICC profile, joined from its APP2 chunks.
    pub icc: Option<Vec<u8>>,
}

/// What libjpeg allocates for the coefficients of every component (2 bytes each, whole
/// blocks), from a frame header's payload.
fn coefficient_bytes(sof: &[u8]) -> Option<u64> {
    let (h, w) = (
        u64::from(u16::from_be_bytes([*sof.get(1)?, *sof.get(2)?])),
        u64::from(u16::from_be_bytes([*sof.get(3)?, *sof.get(4)?])),
    );
    let n = usize::from(*sof.get(5)?);
    let factors: Vec<(u64, u64)> = (0..n)
        .map(|i| {
            sof.get(7 + 3 * i)
                .map(|f| (u64::from(f >> 4), u64::from(f & 15)))
        })
        .collect::<Option<_>>()?;
    let hmax = factors.iter().map(|f| f.0).max()?.max(1);
    let vmax = factors.iter().map(|f| f.1).max()?.max(1);
    Some(
        factors
            .iter()
            .map(|(fh, fv)| (w * fh).div_ceil(hmax * 8) * (h * fv).div_ceil(vmax * 8) * 128)
            .sum(),
    )
}

/// Walks the marker segments from SOI to the first SOS.
pub fn markers(bytes: &[u8]) -> Markers {
    let mut m = Markers {
        orientation: 1,
        adobe: false,
        coefficient_bytes: None,
        icc: None,
    };
    let mut icc_chunks = Vec::new();
    let mut i = 2;
    while i + 4 <= bytes.len() {
        if bytes[i] != 0xFF {
            break;
        }
        let marker = bytes[i + 1];
        match marker {
            // Fill byte before a marker.
            0xFF => {
                i += 1;
                continue;
            }
            // Markers with no length.
            0x01 | 0xD0..=0xD7 => {
                i += 2;
                continue;
            }
            // Start of scan, or end of image: no more markers of interest.
            0xDA | 0xD9 => break,
            _ => {}
        }
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        if len < 2 {
            break;
        }
        let end = (i + 2 + len).min(bytes.len());
        let payload = &bytes[i + 4..end];
        match marker {
            0xE1 if payload.starts_with(b"Exif\0\0") => {
                m.orientation = crate::exif::orientation(payload);
            }
            0xEE if payload.starts_with(b"Adobe") => m.adobe = true,
            // "ICC_PROFILE\0", the chunk's number, the count, then the data.
            0xE2 if payload.len() > 14 && payload.starts_with(b"ICC_PROFILE\0") => {
                icc_chunks.push((payload[12], payload[14..].to_vec()));
            }
            // Progressive frames, Huffman or arithmetic.
            0xC2 | 0xC6 | 0xCA | 0xCE => m.coefficient_bytes = coefficient_bytes(payload),
            _ => {}
        }
        i = end;
    }
    m.icc = crate::colour::join_jpeg_chunks(&mut icc_chunks);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" {
        fn tjInitCompress() -> *mut c_void;
        fn tjCompress2(
            handle: *mut c_void,
            src: *const c_uchar,
            width: c_int,
            pitch: c_int,
            height: c_int,
            pixel_format: c_int,
            jpeg: *mut *mut c_uchar,
            size: *mut c_ulong,
            subsampling: c_int,
            quality: c_int,
            flags: c_int,
        ) -> c_int;
        fn tjFree(buf: *mut c_uchar);
    }

    /// A YCCK JPEG as Photoshop writes them: inverted ink values, an Adobe marker (libjpeg
    /// writes one for YCCK). Pillow writes plain CMYK only; its file is in tests/data.
    fn ycck(w: u32, h: u32, ink: [u8; 4]) -> Vec<u8> {
        let inverted: Vec<u8> = (0..w * h).flat_map(|_| ink.map(|v| 255 - v)).collect();
        let (mut buf, mut size) = (std::ptr::null_mut(), 0);
        // SAFETY: valid pointers for the call; the buffer TurboJPEG allocates is copied, then
        // freed with tjFree.
        unsafe {
            let handle = tjInitCompress();
            assert!(!handle.is_null());
            let rc = tjCompress2(
                handle,
                inverted.as_ptr(),
                w as c_int,
                0,
                h as c_int,
                TJPF_CMYK,
                &mut buf,
                &mut size,
                0,
                95,
                0,
            );
            assert_eq!(rc, 0);
            let out = std::slice::from_raw_parts(buf, size as usize).to_vec();
            tjFree(buf);
            tjDestroy(handle);
            out
        }
    }

    fn near(a: &[u8], b: [u8; 3], tolerance: u8) -> bool {
        a.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= tolerance)
    }

    #[test]
    fn cmyk_files_from_pillow_and_photoshop_style_ycck_have_right_colours() {
        // Pillow's CMYK (Adobe marker, inverted): quadrants red, green, blue, white.
        let file = include_bytes!("../tests/data/cmyk-adobe.jpg");
        let m = markers(file);
        assert!(m.adobe);
        let p = Jpeg::open(file).unwrap().decode(1, m.adobe).unwrap();
        assert_eq!((p.width, p.height, p.channels), (32, 32, 3));
        let at = |x: usize, y: usize| &p.data[(y * 32 + x) * 3..(y * 32 + x) * 3 + 3];
        for (x, y, want) in [
            (8, 8, [220, 30, 30]),
            (24, 8, [30, 180, 40]),
            (8, 24, [30, 40, 200]),
            (24, 24, [255, 255, 255]),
        ] {
            assert!(
                near(at(x, y), want, 8),
                "({x},{y}) {:?} != {want:?}",
                at(x, y)
            );
        }
        // YCCK, magenta ink plus a little black: a darkish magenta.
        let j = ycck(16, 16, [0, 255, 0, 64]);
        let m = markers(&j);
        assert!(m.adobe);
        let p = Jpeg::open(&j).unwrap().decode(2, m.adobe).unwrap();
        assert_eq!((p.width, p.height), (8, 8));
        assert!(near(&p.data[..3], [191, 0, 191], 8), "{:?}", &p.data[..3]);
    }

    #[test]
    fn greyscale_comes_out_as_rgb() {
        let mut j = Vec::new();
        jpeg_encoder::Encoder::new(&mut j, 90)
            .encode(&[100u8; 16 * 16], 16, 16, jpeg_encoder::ColorType::Luma)
            .unwrap();
        let p = Jpeg::open(&j).unwrap().decode(1, false).unwrap();
        assert_eq!((p.width, p.height, p.channels), (16, 16, 3));
        assert!(near(&p.data[..3], [100, 100, 100], 2), "{:?}", &p.data[..3]);
    }

    #[test]
    fn encodes_baseline_and_refuses_impossible_sizes() {
        let px: Vec<u8> = (0..40 * 30).flat_map(|_| [200u8, 40, 90]).collect();
        let j = encode(&px, 40, 30, 90).unwrap();
        let back = Jpeg::open(&j).unwrap().decode(1, false).unwrap();
        assert_eq!((back.width, back.height), (40, 30));
        assert!(
            near(&back.data[..3], [200, 40, 90], 6),
            "{:?}",
            &back.data[..3]
        );
        assert!(encode(&px, 40, 29, 90).is_err(), "buffer size mismatch");
        assert!(encode(&[], 0, 0, 90).is_err());
        assert!(
            encode(&[], MAX_SIDE + 1, 1, 90)
                .unwrap_err()
                .contains("65500")
        );
    }

    #[test]
    fn progressive_files_announce_their_coefficient_memory() {
        // A frame header: 8 bit, 4000 high, 6000 wide, Y at 2x2 and Cb, Cr at 1x1 (4:2:0).
        let sof = [
            8, 0x0F, 0xA0, 0x17, 0x70, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1,
        ];
        // Y: 750x500 blocks, Cb and Cr: 375x250 each, 128 bytes a block.
        assert_eq!(coefficient_bytes(&sof), Some(72_000_000));
        assert_eq!(coefficient_bytes(&sof[..8]), None, "cut short");
        let px = vec![128u8; 64 * 48 * 3];
        let mut progressive = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut progressive, 80);
        enc.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
        enc.set_progressive(true);
        enc.encode(&px, 64, 48, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        // 8x6 luma blocks, 4x3 for each chroma.
        assert_eq!(
            markers(&progressive).coefficient_bytes,
            Some((48 + 12 + 12) * 128)
        );
        let baseline = encode(&px, 64, 48, 80).unwrap();
        assert_eq!(markers(&baseline).coefficient_bytes, None);
    }

    #[test]
    fn damaged_files_are_refused_with_the_reason() {
        let j = ycck(64, 64, [0, 0, 0, 0]);
        let half = &j[..j.len() / 2];
        let err = Jpeg::open(half).unwrap().decode(1, true).unwrap_err();
        assert!(err.to_ascii_lowercase().contains("premature end"), "{err}");
        assert!(Jpeg::open(&j[..20]).is_err());
        assert!(Jpeg::open(b"\xFF\xD8\xFF not a jpeg").is_err());
    }

    #[test]
    fn cmyk_conversion_both_conventions() {
        // Pure cyan ink on white: no red, full green and blue.
        assert_eq!(cmyk_to_rgb(&[255, 0, 0, 0], false), vec![0, 255, 255]);
        assert_eq!(cmyk_to_rgb(&[0, 255, 255, 255], true), vec![0, 255, 255]);
        // Half black only.
        assert_eq!(cmyk_to_rgb(&[0, 0, 0, 128], false), vec![127, 127, 127]);
    }

    #[test]
    fn markers_are_found_before_the_scan() {
        let mut j = vec![0xFF, 0xD8];
        // APP0 JFIF, then APP14 Adobe, then APP1 EXIF with orientation 8, then SOS.
        j.extend_from_slice(&[0xFF, 0xE0, 0, 7, b'J', b'F', b'I', b'F', 0]);
        j.extend_from_slice(&[0xFF, 0xEE, 0, 8, b'A', b'd', b'o', b'b', b'e', 0]);
        let exif = b"Exif\0\0MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x08\0\0";
        j.extend_from_slice(&[0xFF, 0xE1, 0, (exif.len() + 2) as u8]);
        j.extend_from_slice(exif);
        j.extend_from_slice(&[0xFF, 0xDA, 0, 2, 0xFF, 0xE1, 0, 2]);
        assert_eq!(
            markers(&j),
            Markers {
                orientation: 8,
                adobe: true,
                coefficient_bytes: None,
                icc: None,
            }
        );
        // Garbage and truncation stop the walk without harm.
        assert_eq!(markers(&j[..12]).orientation, 1);
        assert_eq!(markers(&[0xFF, 0xD8, 0xFF]).orientation, 1);
        assert!(!markers(&[0xFF, 0xD8, 0x00, 0x00, 0x00, 0x00]).adobe);
    }
}
