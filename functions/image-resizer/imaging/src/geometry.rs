//! Where pixels go, for each fit mode: the size to resize to, the part to keep, the canvas and
//! where the image sits on it. Pure, so every edge is a unit test.

use crate::rendition::{Fit, Rendition};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The whole image is resized to this.
    pub resize_to: (u32, u32),
    /// Then this part of it is kept (cover crops; the others keep all).
    pub keep: Rect,
    /// The output's size.
    pub canvas: (u32, u32),
    /// Where the kept part sits on the canvas (contain pads around it).
    pub offset: (u32, u32),
}

fn scaled(side: u32, scale: f64) -> u32 {
    ((f64::from(side) * scale).round() as u32).max(1)
}

/// The layout of a `src`-sized image (orientation already applied) in rendition `r`.
pub fn layout(src: (u32, u32), r: &Rendition) -> Layout {
    let (w, h) = (src.0.max(1), src.1.max(1));
    let sx = f64::from(r.width) / f64::from(w);
    let sy = f64::from(r.height) / f64::from(h);
    let cap = |s: f64| if r.upscale { s } else { s.min(1.0) };
    match r.fit {
        Fit::Inside | Fit::Contain => {
            let s = cap(sx.min(sy));
            // Rounding must never spill past the box.
            let size = (scaled(w, s).min(r.width), scaled(h, s).min(r.height));
            let keep = Rect {
                x: 0,
                y: 0,
                width: size.0,
                height: size.1,
            };
            if r.fit == Fit::Inside {
                Layout {
                    resize_to: size,
                    keep,
                    canvas: size,
                    offset: (0, 0),
                }
            } else {
                let canvas = (r.width, r.height);
                let offset = ((canvas.0 - size.0) / 2, (canvas.1 - size.1) / 2);
                Layout {
                    resize_to: size,
                    keep,
                    canvas,
                    offset,
                }
            }
        }
        Fit::Cover => {
            let s = cap(sx.max(sy));
            let size = (scaled(w, s), scaled(h, s));
            let out = (r.width.min(size.0), r.height.min(size.1));
            let keep = Rect {
                x: (size.0 - out.0) / 2,
                y: (size.1 - out.1) / 2,
                width: out.0,
                height: out.1,
            };
            Layout {
                resize_to: size,
                keep,
                canvas: out,
                offset: (0, 0),
            }
        }
        Fit::Fill => {
            let size = if r.upscale {
                (r.width, r.height)
            } else {
                (r.width.min(w), r.height.min(h))
            };
            let keep = Rect {
                x: 0,
                y: 0,
                width: size.0,
                height: size.1,
            };
            Layout {
                resize_to: size,
                keep,
                canvas: size,
                offset: (0, 0),
            }
        }
    }
}

/// Shrink-on-load for JPEG (as libvips does): the largest DCT scale denominator (1, 2, 4 or
/// 8) whose decoded size still covers `need`, so a 6000x4000 photo bound for 1024 px is
/// decoded at 1500x1000 instead of in full.
pub fn jpeg_denominator(src: (u32, u32), need: (u32, u32)) -> u32 {
    [8u32, 4, 2]
        .into_iter()
        .find(|d| src.0.div_ceil(*d) >= need.0 && src.1.div_ceil(*d) >= need.1)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(spec: &str) -> Rendition {
        Rendition::parse(spec).unwrap()
    }

    #[test]
    fn inside_keeps_aspect_and_never_upscales_unless_asked() {
        let l = layout((6000, 4000), &r("m=1024x1024:inside"));
        assert_eq!((l.resize_to, l.canvas), ((1024, 683), (1024, 683)));
        let l = layout((4000, 6000), &r("m=1024x1024:inside"));
        assert_eq!(l.canvas, (683, 1024));
        // Smaller than the box: left as it is, unless upscale.
        assert_eq!(
            layout((300, 200), &r("m=1024x1024:inside")).canvas,
            (300, 200)
        );
        assert_eq!(
            layout((300, 200), &r("m=1024x1024:inside:upscale")).canvas,
            (1024, 683)
        );
        // Extreme aspect: at least one pixel, never past the box.
        let l = layout((10_000, 3), &r("m=100x100:inside"));
        assert_eq!(l.canvas, (100, 1));
    }

    #[test]
    fn contain_pads_to_the_box_centred() {
        let l = layout((6000, 4000), &r("c=1000x1000:contain"));
        assert_eq!(
            (l.resize_to, l.canvas, l.offset),
            ((1000, 667), (1000, 1000), (0, 166))
        );
        let small = layout((300, 200), &r("c=1000x1000:contain"));
        assert_eq!(
            (small.resize_to, small.canvas, small.offset),
            ((300, 200), (1000, 1000), (350, 400))
        );
    }

    #[test]
    fn cover_fills_and_crops_the_centre() {
        let l = layout((6000, 4000), &r("t=300x200:cover"));
        assert_eq!((l.resize_to, l.canvas), ((300, 200), (300, 200)));
        let l = layout((4000, 4000), &r("t=300x200:cover"));
        assert_eq!(l.resize_to, (300, 300));
        assert_eq!(
            l.keep,
            Rect {
                x: 0,
                y: 50,
                width: 300,
                height: 200
            }
        );
        let l = layout((1000, 3000), &r("t=300x200:cover"));
        assert_eq!(l.resize_to, (300, 900));
        assert_eq!(
            l.keep,
            Rect {
                x: 0,
                y: 350,
                width: 300,
                height: 200
            }
        );
        // Too small to cover without enlarging: cropped to what there is.
        let l = layout((250, 150), &r("t=300x200:cover"));
        assert_eq!((l.resize_to, l.canvas), ((250, 150), (250, 150)));
        let l = layout((400, 100), &r("t=300x200:cover"));
        assert_eq!(
            l.keep,
            Rect {
                x: 50,
                y: 0,
                width: 300,
                height: 100
            }
        );
    }

    #[test]
    fn fill_distorts_to_the_box() {
        assert_eq!(
            layout((6000, 4000), &r("f=300x300:fill")).canvas,
            (300, 300)
        );
        assert_eq!(layout((200, 100), &r("f=300x300:fill")).canvas, (200, 100));
        assert_eq!(
            layout((200, 100), &r("f=300x300:fill:upscale")).canvas,
            (300, 300)
        );
    }

    #[test]
    fn every_layout_fits_its_canvas() {
        let specs = [
            "a=1x1:cover",
            "b=97x13:inside",
            "c=640x480:contain",
            "d=333x777:cover",
            "e=5x5000:fill",
        ];
        for spec in specs {
            let rendition = r(spec);
            for w in [1u32, 2, 3, 17, 640, 1023, 4000, 9999] {
                for h in [1u32, 5, 480, 3001] {
                    let l = layout((w, h), &rendition);
                    assert!(
                        l.keep.x + l.keep.width <= l.resize_to.0,
                        "{spec} {w}x{h}: {l:?}"
                    );
                    assert!(
                        l.keep.y + l.keep.height <= l.resize_to.1,
                        "{spec} {w}x{h}: {l:?}"
                    );
                    assert!(
                        l.offset.0 + l.keep.width <= l.canvas.0,
                        "{spec} {w}x{h}: {l:?}"
                    );
                    assert!(
                        l.offset.1 + l.keep.height <= l.canvas.1,
                        "{spec} {w}x{h}: {l:?}"
                    );
                    assert!(
                        l.canvas.0 <= rendition.width && l.canvas.1 <= rendition.height,
                        "{spec} {w}x{h}: {l:?}"
                    );
                    assert!(l.canvas.0 >= 1 && l.canvas.1 >= 1);
                }
            }
        }
    }

    #[test]
    fn jpeg_shrink_on_load() {
        assert_eq!(jpeg_denominator((6000, 4000), (1024, 683)), 4);
        assert_eq!(jpeg_denominator((6000, 4000), (300, 200)), 8);
        assert_eq!(jpeg_denominator((4000, 3000), (1024, 768)), 2);
        assert_eq!(jpeg_denominator((1024, 768), (1024, 768)), 1);
        assert_eq!(jpeg_denominator((10, 10), (2, 2)), 8);
        assert_eq!(jpeg_denominator((10, 10), (3, 2)), 4);
    }
}
