//! Renditions of one input: decode once (shrink-on-load), then for each: resize (Lanczos3,
//! SIMD), crop or pad as the fit says, encode. Metadata is not carried over: the output holds
//! pixels only.

use crate::Format;
use crate::decode::{Decoded, Kind, Limits, decode_within};
use crate::geometry::{Layout, layout};
use crate::pixels::{Pixels, Refusal};
use crate::rendition::Rendition;
use crate::resample::resize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Jpeg,
    Png,
    Webp,
}

impl OutputFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Png => "image/png",
            OutputFormat::Webp => "image/webp",
        }
    }

    /// FORMAT=keep keeps JPEG, PNG and WebP; a GIF's first frame becomes PNG.
    pub fn for_input(format: Format, kind: Kind) -> OutputFormat {
        match (format, kind) {
            (Format::Jpeg, _) | (Format::Keep, Kind::Jpeg) => OutputFormat::Jpeg,
            (Format::Webp, _) | (Format::Keep, Kind::Webp) => OutputFormat::Webp,
            _ => OutputFormat::Png,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub format: Format,
    pub jpeg_quality: u8,
    pub webp_quality: u8,
    pub webp_lossless: bool,
    pub pad: [u8; 3],
    pub max_pixels: u64,
    /// What the decoder's buffers may take (u64::MAX: no limit).
    pub max_decode_bytes: u64,
}

/// The same defaults as the function's settings (FORMAT keep, JPEG_QUALITY 85, WEBP_QUALITY
/// 80, PAD_COLOUR white, MAX_PIXELS 50 MP), with no memory limit: what `resize-file` uses.
impl Default for Settings {
    fn default() -> Self {
        Settings {
            format: Format::Keep,
            jpeg_quality: 85,
            webp_quality: 80,
            webp_lossless: false,
            pad: [255, 255, 255],
            max_pixels: 50_000_000,
            max_decode_bytes: u64::MAX,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub bytes: Vec<u8>,
    pub format: OutputFormat,
    pub width: u32,
    pub height: u32,
    pub input: Kind,
}

/// Renders `input` as rendition `r`.
pub fn render(input: &[u8], r: &Rendition, s: &Settings) -> Result<Output, Refusal> {
    render_decoded(&decode_for(input, &[r], s)?, r, s)
}

/// Decodes `input` once for all of `renditions`: large enough for the largest.
pub fn decode_for(
    input: &[u8],
    renditions: &[&Rendition],
    s: &Settings,
) -> Result<Decoded, Refusal> {
    let limits = Limits {
        max_pixels: s.max_pixels,
        max_decode_bytes: s.max_decode_bytes,
    };
    decode_within(input, limits, |upright| {
        renditions
            .iter()
            .map(|r| layout(upright, r).resize_to)
            .fold((1, 1), |a, b| (a.0.max(b.0), a.1.max(b.1)))
    })
}

/// Renders one rendition from pixels decoded by [`decode_for`].
pub fn render_decoded(d: &Decoded, r: &Rendition, s: &Settings) -> Result<Output, Refusal> {
    // Planned on the full upright size; the decoded pixels, whatever their size, stand for
    // the whole image and are resampled straight to the planned size.
    let plan = layout(d.upright, r);
    let format = OutputFormat::for_input(s.format, d.kind);
    let resized = resize(&d.pixels, plan.resize_to)?;
    // JPEG has no alpha: flatten on the pad colour (white by default). After resampling,
    // which works on premultiplied alpha, this is the same as before it, and cheaper.
    let resized = if format == OutputFormat::Jpeg && resized.channels == 4 {
        flatten(resized, s.pad)
    } else {
        resized
    };
    let placed = place(crop(resized, &plan)?, &plan, s.pad);
    let bytes = encode(&placed, format, s)?;
    Ok(Output {
        bytes,
        format,
        width: placed.width,
        height: placed.height,
        input: d.kind,
    })
}

fn flatten(p: Pixels, bg: [u8; 3]) -> Pixels {
    let data = p
        .data
        .chunks_exact(4)
        .flat_map(|px| {
            let a = u16::from(px[3]);
            let mix =
                |c: u8, b: u8| ((u16::from(c) * a + u16::from(b) * (255 - a) + 127) / 255) as u8;
            [mix(px[0], bg[0]), mix(px[1], bg[1]), mix(px[2], bg[2])]
        })
        .collect();
    Pixels {
        width: p.width,
        height: p.height,
        channels: 3,
        data,
    }
}

fn crop(p: Pixels, plan: &Layout) -> Result<Pixels, Refusal> {
    let k = plan.keep;
    if (k.x, k.y, k.width, k.height) == (0, 0, p.width, p.height) {
        return Ok(p);
    }
    let c = p.channels as usize;
    let mut data = Vec::with_capacity(k.width as usize * k.height as usize * c);
    for y in k.y..k.y + k.height {
        let start = ((y * p.width + k.x) as usize) * c;
        data.extend_from_slice(&p.data[start..start + k.width as usize * c]);
    }
    Ok(Pixels {
        width: k.width,
        height: k.height,
        channels: p.channels,
        data,
    })
}

/// Puts the kept pixels on the canvas (contain pads with the pad colour, opaque).
fn place(p: Pixels, plan: &Layout, pad: [u8; 3]) -> Pixels {
    if plan.canvas == (p.width, p.height) {
        return p;
    }
    let c = p.channels as usize;
    let (cw, ch) = plan.canvas;
    let fill: Vec<u8> = if c == 4 {
        vec![pad[0], pad[1], pad[2], 255]
    } else {
        pad.to_vec()
    };
    let mut data = fill.repeat(cw as usize * ch as usize);
    for y in 0..p.height {
        let s = (y * p.width) as usize * c;
        let t = (((y + plan.offset.1) * cw + plan.offset.0) as usize) * c;
        data[t..t + p.width as usize * c].copy_from_slice(&p.data[s..s + p.width as usize * c]);
    }
    Pixels {
        width: cw,
        height: ch,
        channels: p.channels,
        data,
    }
}

/// WebP's limit.
const WEBP_MAX_SIDE: u32 = 16_383;

fn encode(p: &Pixels, format: OutputFormat, s: &Settings) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::new();
    let fail = |e: String| Refusal::Corrupt(format!("encode: {e}"));
    match format {
        OutputFormat::Jpeg => {
            out = crate::jpeg::encode(&p.data, p.width, p.height, s.jpeg_quality).map_err(fail)?;
        }
        OutputFormat::Png => {
            let mut enc = png::Encoder::new(&mut out, p.width, p.height);
            enc.set_color(if p.channels == 4 {
                png::ColorType::Rgba
            } else {
                png::ColorType::Rgb
            });
            enc.set_depth(png::BitDepth::Eight);
            // fdeflate: a tenth of the default level's time for a few percent more bytes
            // (bench/results/image-resizer.md).
            enc.set_compression(png::Compression::Fast);
            let mut writer = enc.write_header().map_err(|e| fail(e.to_string()))?;
            writer
                .write_image_data(&p.data)
                .map_err(|e| fail(e.to_string()))?;
            writer.finish().map_err(|e| fail(e.to_string()))?;
        }
        OutputFormat::Webp => {
            if p.width > WEBP_MAX_SIDE || p.height > WEBP_MAX_SIDE {
                return Err(fail(format!(
                    "{}x{} is over WebP's {WEBP_MAX_SIDE} pixels a side",
                    p.width, p.height
                )));
            }
            let enc = if p.channels == 4 {
                webp::Encoder::from_rgba(&p.data, p.width, p.height)
            } else {
                webp::Encoder::from_rgb(&p.data, p.width, p.height)
            };
            let webp = enc
                .encode_simple(s.webp_lossless, f32::from(s.webp_quality))
                .map_err(|e| fail(format!("{e:?}")))?;
            out = webp.to_vec();
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode;

    fn settings(format: Format) -> Settings {
        Settings {
            format,
            ..Settings::default()
        }
    }

    fn rendition(spec: &str) -> Rendition {
        Rendition::parse(spec).unwrap()
    }

    /// A w x h RGB gradient, left half red, right half blue (so orientation shows).
    fn rgb(w: u32, h: u32) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| {
                if i % w < w / 2 {
                    [220u8, 30, 30]
                } else {
                    [30, 30, 220]
                }
            })
            .collect()
    }

    fn jpeg(w: u16, h: u16, exif_orientation: Option<u16>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut out, 90);
        if let Some(o) = exif_orientation {
            // Exif\0\0, little-endian TIFF, IFD0 with one entry: Orientation (SHORT) = o.
            let mut app1 = b"Exif\0\0II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0".to_vec();
            app1.extend_from_slice(&o.to_le_bytes());
            app1.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            enc.add_app_segment(1, &app1).unwrap();
        }
        enc.encode(
            &rgb(u32::from(w), u32::from(h)),
            w,
            h,
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
        out
    }

    fn png(
        w: u32,
        h: u32,
        color: png::ColorType,
        depth: png::BitDepth,
        data: &[u8],
        palette: Option<(&[u8], &[u8])>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(color);
        enc.set_depth(depth);
        if let Some((pal, trns)) = palette {
            enc.set_palette(pal.to_vec());
            enc.set_trns(trns.to_vec());
        }
        let mut wr = enc.write_header().unwrap();
        wr.write_image_data(data).unwrap();
        wr.finish().unwrap();
        out
    }

    fn decode_output(o: &Output) -> Decoded {
        decode(&o.bytes, u64::MAX, |s| s).unwrap()
    }

    #[test]
    fn jpeg_shrinks_on_load_and_keeps_aspect() {
        let input = jpeg(1600, 1200, None);
        let o = render(
            &input,
            &rendition("m=400x400:inside"),
            &settings(Format::Keep),
        )
        .unwrap();
        assert_eq!(
            (o.format, o.width, o.height),
            (OutputFormat::Jpeg, 400, 300)
        );
        let back = decode_output(&o);
        assert_eq!((back.pixels.width, back.pixels.height), (400, 300));
        // Shrink-on-load: the decoder was asked for 400x300 and gave 1/4 scale.
        let d = decode(&input, u64::MAX, |_| (400, 300)).unwrap();
        assert_eq!((d.pixels.width, d.pixels.height), (400, 300));
        assert_eq!(d.stored, (1600, 1200));
    }

    #[test]
    fn one_decode_serves_every_rendition() {
        let input = jpeg(1600, 1200, None);
        let (big, small) = (rendition("m=400x400:inside"), rendition("t=90x90:cover"));
        let s = settings(Format::Png);
        let d = decode_for(&input, &[&small, &big], &s).unwrap();
        // Shrunk on load for the larger rendition only: 1/4, not 1/8.
        assert_eq!((d.pixels.width, d.pixels.height), (400, 300));
        let m = render_decoded(&d, &big, &s).unwrap();
        let t = render_decoded(&d, &small, &s).unwrap();
        assert_eq!((m.width, m.height, t.width, t.height), (400, 300, 90, 90));
        // The same pixels as a rendition decoded on its own, give or take rounding.
        let alone = decode_output(&render(&input, &small, &s).unwrap());
        let shared = decode_output(&t);
        let worst = alone
            .pixels
            .data
            .iter()
            .zip(&shared.pixels.data)
            .map(|(a, b)| a.abs_diff(*b))
            .max();
        assert!(worst.is_some_and(|w| w <= 24), "worst difference {worst:?}");
    }

    #[test]
    fn wide_png_is_narrowed_row_by_row_and_cropped_centred() {
        // 400x100, red left half, blue right half; cover to 50x50 keeps the centre: both.
        let p = png(
            400,
            100,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            &rgb(400, 100),
            None,
        );
        let s = settings(Format::Keep);
        let d = decode_for(&p, &[&rendition("c=50x50:cover")], &s).unwrap();
        // Narrowed while decoding, full height kept.
        assert_eq!(
            (d.pixels.width, d.pixels.height, d.upright),
            (200, 100, (400, 100))
        );
        let o = render_decoded(&d, &rendition("c=50x50:cover"), &s).unwrap();
        let back = decode_output(&o);
        assert_eq!((back.pixels.width, back.pixels.height), (50, 50));
        let px = |x: usize| &back.pixels.data[(25 * 50 + x) * 3..(25 * 50 + x) * 3 + 3];
        assert!(px(2)[0] > 150 && px(2)[2] < 100, "{:?}", px(2));
        assert!(px(47)[2] > 150 && px(47)[0] < 100, "{:?}", px(47));
    }

    #[test]
    fn exif_orientation_is_applied() {
        // Stored 200x100 (red left, blue right), orientation 6: shown rotated 90 degrees
        // clockwise, 100x200 with red on top.
        let input = jpeg(200, 100, Some(6));
        let d = decode(&input, u64::MAX, |s| s).unwrap();
        assert_eq!((d.pixels.width, d.pixels.height), (100, 200));
        let px = |x: u32, y: u32| {
            let i = ((y * d.pixels.width + x) * 3) as usize;
            [d.pixels.data[i], d.pixels.data[i + 1], d.pixels.data[i + 2]]
        };
        assert!(
            px(50, 20)[0] > 150 && px(50, 20)[2] < 100,
            "{:?}",
            px(50, 20)
        );
        assert!(
            px(50, 180)[2] > 150 && px(50, 180)[0] < 100,
            "{:?}",
            px(50, 180)
        );
        let o = render(&input, &rendition("t=50x50:cover"), &settings(Format::Keep)).unwrap();
        assert_eq!((o.width, o.height), (50, 50));
    }

    /// A little-endian TIFF header with IFD0 holding one entry: Orientation (SHORT) = o.
    fn tiff_orientation(o: u8) -> Vec<u8> {
        let mut t = b"II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0".to_vec();
        t.extend_from_slice(&u16::from(o).to_le_bytes());
        t.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        t
    }

    const RED: [u8; 3] = [230, 20, 20];
    const GREEN: [u8; 3] = [20, 230, 20];
    const BLUE: [u8; 3] = [20, 20, 230];
    const WHITE: [u8; 3] = [240, 240, 240];

    /// 60x40 stored, in quadrants: red top left, green top right, blue bottom left, white
    /// bottom right.
    fn quadrants() -> Vec<u8> {
        let (w, h) = (60, 40);
        (0..w * h)
            .flat_map(|i| match (i % w < w / 2, i / w < h / 2) {
                (true, true) => RED,
                (false, true) => GREEN,
                (true, false) => BLUE,
                (false, false) => WHITE,
            })
            .collect()
    }

    /// Checks one decoded image against EXIF's definition of `o`: its upright size and where
    /// the stored top-left (red) and top-right (green) corners end up. The table is EXIF's,
    /// written out here, not derived from the code under test.
    fn assert_upright(d: &Decoded, o: u8, container: &str) {
        let swap = o >= 5;
        let (w, h) = if swap { (40, 60) } else { (60, 40) };
        assert_eq!(
            d.upright,
            (w, h),
            "{container} orientation {o}: upright size"
        );
        assert_eq!(
            (d.pixels.width, d.pixels.height),
            (w, h),
            "{container} orientation {o}: pixels"
        );
        // Corner names: (right?, bottom?) in the upright image.
        let (red_at, green_at) = match o {
            1 => ((false, false), (true, false)),
            2 => ((true, false), (false, false)),
            3 => ((true, true), (false, true)),
            4 => ((false, true), (true, true)),
            5 => ((false, false), (false, true)),
            6 => ((true, false), (true, true)),
            7 => ((true, true), (true, false)),
            _ => ((false, true), (false, false)),
        };
        let c = usize::from(d.pixels.channels);
        let sample = |(right, bottom): (bool, bool)| {
            let x = if right { w - 5 } else { 4 } as usize;
            let y = if bottom { h - 5 } else { 4 } as usize;
            let i = (y * w as usize + x) * c;
            [d.pixels.data[i], d.pixels.data[i + 1], d.pixels.data[i + 2]]
        };
        let near = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| x.abs_diff(y) < 40);
        assert!(
            near(sample(red_at), RED),
            "{container} orientation {o}: red expected at {red_at:?}, got {:?}",
            sample(red_at)
        );
        assert!(
            near(sample(green_at), GREEN),
            "{container} orientation {o}: green expected at {green_at:?}, got {:?}",
            sample(green_at)
        );
    }

    #[test]
    fn exif_orientation_from_every_container_all_eight_values() {
        for o in 1..=8u8 {
            // JPEG: APP1.
            let mut j = Vec::new();
            let mut enc = jpeg_encoder::Encoder::new(&mut j, 95);
            let mut app1 = b"Exif\0\0".to_vec();
            app1.extend_from_slice(&tiff_orientation(o));
            enc.add_app_segment(1, &app1).unwrap();
            enc.encode(&quadrants(), 60, 40, jpeg_encoder::ColorType::Rgb)
                .unwrap();
            assert_upright(&decode(&j, u64::MAX, |s| s).unwrap(), o, "JPEG");

            // PNG: an eXIf chunk before the image data, and one after it.
            for after in [false, true] {
                let mut p = Vec::new();
                let mut enc = png::Encoder::new(&mut p, 60, 40);
                enc.set_color(png::ColorType::Rgb);
                let mut wr = enc.write_header().unwrap();
                let exif = png::chunk::ChunkType(*b"eXIf");
                if !after {
                    wr.write_chunk(exif, &tiff_orientation(o)).unwrap();
                }
                wr.write_image_data(&quadrants()).unwrap();
                if after {
                    wr.write_chunk(exif, &tiff_orientation(o)).unwrap();
                }
                wr.finish().unwrap();
                let where_ = if after {
                    "PNG (eXIf after IDAT)"
                } else {
                    "PNG"
                };
                assert_upright(&decode(&p, u64::MAX, |s| s).unwrap(), o, where_);
            }

            // WebP: an EXIF chunk (extended format).
            let mut w = Vec::new();
            let mut enc = image_webp::WebPEncoder::new(&mut w);
            enc.set_exif_metadata(tiff_orientation(o));
            enc.encode(&quadrants(), 60, 40, image_webp::ColorType::Rgb8)
                .unwrap();
            assert_upright(&decode(&w, u64::MAX, |s| s).unwrap(), o, "WebP");
        }
    }

    #[test]
    fn a_turned_png_is_narrowed_along_its_stored_height() {
        // 600x400 stored, orientation 6: upright 400x600. Asked for 200x300 upright, rows are
        // narrowed to 300 stored columns (the upright height), not 200.
        let mut p = Vec::new();
        let mut enc = png::Encoder::new(&mut p, 600, 400);
        enc.set_color(png::ColorType::Rgb);
        let mut wr = enc.write_header().unwrap();
        wr.write_chunk(png::chunk::ChunkType(*b"eXIf"), &tiff_orientation(6))
            .unwrap();
        wr.write_image_data(&rgb(600, 400)).unwrap();
        wr.finish().unwrap();
        let d = decode(&p, u64::MAX, |_| (200, 300)).unwrap();
        assert_eq!(d.upright, (400, 600));
        assert_eq!((d.pixels.width, d.pixels.height), (400, 300));
        let o = render(&p, &rendition("m=400x400:inside"), &settings(Format::Keep)).unwrap();
        assert_eq!((o.width, o.height), (267, 400));
    }

    #[test]
    fn stray_bytes_before_a_header_marker_are_a_warning_not_a_refusal() {
        // Three bytes between two markers of the header (before DQT, 0xFFDB), as some cameras
        // and editors write: libjpeg warns "extraneous bytes before marker"; libvips and
        // Pillow decode the image.
        let clean = jpeg(64, 48, None);
        let dqt = clean
            .windows(2)
            .position(|w| w == [0xFF, 0xDB])
            .expect("a DQT marker");
        let mut stray = clean[..dqt].to_vec();
        stray.extend_from_slice(&[0x00, 0x12, 0x34]);
        stray.extend_from_slice(&clean[dqt..]);
        let d = decode(&stray, u64::MAX, |s| s).unwrap();
        assert_eq!((d.pixels.width, d.pixels.height), (64, 48));
        let o = render(
            &stray,
            &rendition("s=32x32:inside"),
            &settings(Format::Keep),
        )
        .unwrap();
        assert_eq!((o.width, o.height), (32, 24));
        // A real error in the header still refuses it: the frame header cut short.
        let sof = clean
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .expect("an SOF0 marker");
        assert!(matches!(
            decode(&clean[..sof + 6], u64::MAX, |s| s),
            Err(Refusal::Corrupt(_))
        ));
    }

    #[test]
    fn png_kinds_and_alpha_flattened_for_jpeg() {
        // 16-bit RGB.
        let data16: Vec<u8> = (0..64 * 64)
            .flat_map(|_| [0xFF, 0xFF, 0x00, 0x00, 0x80, 0x00])
            .collect();
        let p16 = png(
            64,
            64,
            png::ColorType::Rgb,
            png::BitDepth::Sixteen,
            &data16,
            None,
        );
        let o = render(&p16, &rendition("s=32x32:inside"), &settings(Format::Keep)).unwrap();
        assert_eq!((o.format, o.width, o.height), (OutputFormat::Png, 32, 32));
        // Palette with a transparent entry, to JPEG: transparent becomes the pad colour (white).
        let idx: Vec<u8> = (0..16 * 16).map(|i| (i % 2) as u8).collect();
        let pal = png(
            16,
            16,
            png::ColorType::Indexed,
            png::BitDepth::Eight,
            &idx,
            Some((&[255, 0, 0, 0, 0, 255], &[0, 255])),
        );
        let o = render(&pal, &rendition("s=16x16:fill"), &settings(Format::Jpeg)).unwrap();
        assert_eq!(o.format, OutputFormat::Jpeg);
        let back = decode_output(&o);
        let avg: u32 = back.pixels.data.iter().map(|&b| u32::from(b)).sum::<u32>()
            / back.pixels.data.len() as u32;
        assert!(
            avg > 100,
            "transparent half flattened on white, got average {avg}"
        );
        // Grey with alpha stays RGBA in PNG.
        let ga: Vec<u8> = (0..8 * 8).flat_map(|_| [128u8, 64]).collect();
        let g = png(
            8,
            8,
            png::ColorType::GrayscaleAlpha,
            png::BitDepth::Eight,
            &ga,
            None,
        );
        let o = render(&g, &rendition("s=4x4:inside"), &settings(Format::Keep)).unwrap();
        assert_eq!(decode_output(&o).pixels.channels, 4);
    }

    #[test]
    fn contain_pads_and_webp_round_trips() {
        let p = png(
            100,
            50,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            &rgb(100, 50),
            None,
        );
        let o = render(&p, &rendition("c=80x80:contain"), &settings(Format::Webp)).unwrap();
        assert_eq!((o.format, o.width, o.height), (OutputFormat::Webp, 80, 80));
        let back = decode_output(&o);
        assert_eq!(back.kind, Kind::Webp);
        // Top row is padding (white), the middle row is image.
        let near = |a: &[u8], b: [u8; 3]| a.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= 12);
        assert!(near(&back.pixels.data[..3], [255, 255, 255]));
        let mid = ((40 * 80 + 5) * back.pixels.channels as u32) as usize;
        assert!(back.pixels.data[mid] > 150, "red on the left");
        // Lossless keeps every pixel; lossy at a low quality is smaller.
        let lossless = Settings {
            webp_lossless: true,
            ..settings(Format::Webp)
        };
        let exact = render(&p, &rendition("c=80x80:contain"), &lossless).unwrap();
        assert_eq!(&decode_output(&exact).pixels.data[..3], &[255, 255, 255]);
        let rough = Settings {
            webp_quality: 10,
            ..settings(Format::Webp)
        };
        let small = render(&p, &rendition("c=80x80:contain"), &rough).unwrap();
        assert!(
            small.bytes.len() < o.bytes.len(),
            "{} !< {}",
            small.bytes.len(),
            o.bytes.len()
        );
    }

    #[test]
    fn gif_first_frame() {
        let mut out = Vec::new();
        {
            let mut enc = gif::Encoder::new(&mut out, 20, 10, &[255, 0, 0, 0, 0, 255]).unwrap();
            for colour in [0u8, 1] {
                let frame = gif::Frame {
                    width: 20,
                    height: 10,
                    buffer: std::borrow::Cow::Owned(vec![colour; 200]),
                    ..Default::default()
                };
                enc.write_frame(&frame).unwrap();
            }
        }
        let o = render(&out, &rendition("g=10x10:inside"), &settings(Format::Keep)).unwrap();
        assert_eq!((o.format, o.width, o.height), (OutputFormat::Png, 10, 5));
        let back = decode_output(&o);
        assert!(
            back.pixels.data[0] > 200 && back.pixels.data[2] < 50,
            "the first (red) frame"
        );
    }

    #[test]
    fn a_decode_over_the_memory_budget_is_refused_from_the_header() {
        let px = rgb(256, 256);
        let mut progressive = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut progressive, 80);
        enc.set_progressive(true);
        enc.encode(&px, 256, 256, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        let baseline = jpeg(256, 256, None);
        let tight = Settings {
            max_decode_bytes: 100_000,
            ..settings(Format::Keep)
        };
        let r = rendition("t=64x64:inside");
        // Progressive: every coefficient is held (over 100 kB); baseline at 1/4 is 48 kB.
        let err = render(&progressive, &r, &tight).unwrap_err();
        assert!(
            matches!(err, Refusal::TooMuchMemory { need, budget: 100_000 } if need > 100_000),
            "{err:?}"
        );
        assert!(err.to_string().contains("more memory"), "{err}");
        assert_eq!(render(&baseline, &r, &tight).unwrap().width, 64);
        // Without the budget the progressive file renders too.
        assert_eq!(
            render(&progressive, &r, &settings(Format::Keep))
                .unwrap()
                .width,
            64
        );
        // PNG: the narrowed rows count, not the full width.
        let p = png(
            256,
            256,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            &px,
            None,
        );
        assert_eq!(render(&p, &r, &tight).unwrap().width, 64);
        let wide = Settings {
            max_decode_bytes: 10_000,
            ..settings(Format::Keep)
        };
        assert!(matches!(
            render(&p, &r, &wide),
            Err(Refusal::TooMuchMemory { .. })
        ));
    }

    #[test]
    fn embedded_profiles_come_out_as_srgb() {
        let icc = crate::testdata::linear_srgb_icc();
        let grey = vec![128u8; 32 * 32 * 3];
        let s = settings(Format::Png);
        let r = rendition("g=16x16:inside");
        let centre = |o: &Output| decode_output(o).pixels.data[(8 * 16 + 8) * 3];
        // JPEG: the profile in APP2 chunks.
        let mut j = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut j, 95);
        enc.add_icc_profile(&icc).unwrap();
        enc.encode(&grey, 32, 32, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        let v = centre(&render(&j, &r, &s).unwrap());
        assert!(
            v.abs_diff(188) <= 3,
            "JPEG grey 128 in linear light is {v}, not ~188"
        );
        // PNG: the profile in iCCP.
        let mut p = Vec::new();
        let mut info = png::Info::with_size(32, 32);
        info.color_type = png::ColorType::Rgb;
        info.bit_depth = png::BitDepth::Eight;
        info.icc_profile = Some(std::borrow::Cow::Owned(icc));
        let mut w = png::Encoder::with_info(&mut p, info)
            .unwrap()
            .write_header()
            .unwrap();
        w.write_image_data(&grey).unwrap();
        w.finish().unwrap();
        let v = centre(&render(&p, &r, &s).unwrap());
        assert!(
            v.abs_diff(188) <= 3,
            "PNG grey 128 in linear light is {v}, not ~188"
        );
        // Without a profile, grey stays grey.
        let mut bare = Vec::new();
        jpeg_encoder::Encoder::new(&mut bare, 95)
            .encode(&grey, 32, 32, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        let v = centre(&render(&bare, &r, &s).unwrap());
        assert!(v.abs_diff(128) <= 2, "{v}");
    }

    #[test]
    fn traps_are_refused_cheaply() {
        let r = rendition("m=100x100:inside");
        let s = settings(Format::Keep);
        assert_eq!(render(b"", &r, &s).unwrap_err(), Refusal::NotAnImage);
        assert_eq!(
            render(b"hello, I am a text file named photo.jpg", &r, &s).unwrap_err(),
            Refusal::NotAnImage
        );
        let full = jpeg(64, 64, None);
        let truncated = &full[..full.len() / 2];
        assert!(matches!(
            render(truncated, &r, &s),
            Err(Refusal::Corrupt(_))
        ));
        // A PNG whose header claims 100000x100000: refused from the header, nothing decoded.
        let mut bomb = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut bomb, 100_000, 100_000);
            enc.set_color(png::ColorType::Rgb);
            let mut w = enc.write_header().unwrap();
            // One small IDAT (zlib of a single zero byte), as a real bomb would carry.
            w.write_chunk(
                png::chunk::IDAT,
                &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
            )
            .unwrap();
        }
        let err = render(&bomb, &r, &s).unwrap_err();
        assert!(
            matches!(err, Refusal::TooManyPixels { width: 100_000, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("over MAX_PIXELS"));
    }
}
