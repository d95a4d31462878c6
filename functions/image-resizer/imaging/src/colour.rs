//! Colour: pixels under an embedded ICC profile (a phone's Display P3, a camera's Adobe RGB)
//! are converted to sRGB, since renditions carry no profile and are shown as sRGB. Without
//! this, such photos come out dull or shifted. moxcms does the conversion.

use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};

use crate::pixels::Pixels;

/// Converts `p` from the RGB profile `icc` to sRGB, in place. Pixels are left as they are,
/// with a warning, when the profile is unreadable or not an RGB profile (CMYK files are
/// converted by formula; grey profiles differ from sRGB's curve only slightly).
pub fn to_srgb(p: &mut Pixels, icc: &[u8]) {
    match transform(p, icc) {
        Ok(Some(data)) => p.data = data,
        Ok(None) => {}
        Err(why) => tracing::warn!(%why, "embedded colour profile not applied"),
    }
}

fn transform(p: &Pixels, icc: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let source = ColorProfile::new_from_slice(icc).map_err(|e| format!("unreadable: {e}"))?;
    if source.color_space != DataColorSpace::Rgb {
        return Ok(None);
    }
    let layout = if p.channels == 4 {
        Layout::Rgba
    } else {
        Layout::Rgb
    };
    let t = source
        .create_transform_8bit(
            layout,
            &ColorProfile::new_srgb(),
            layout,
            TransformOptions::default(),
        )
        .map_err(|e| format!("no transform to sRGB: {e}"))?;
    let mut out = vec![0u8; p.data.len()];
    t.transform(&p.data, &mut out)
        .map_err(|e| format!("transform failed: {e}"))?;
    Ok(Some(out))
}

/// Joins a JPEG's APP2 "ICC_PROFILE" chunks (payloads after the identifier) in their order.
pub fn join_jpeg_chunks(chunks: &mut [(u8, Vec<u8>)]) -> Option<Vec<u8>> {
    if chunks.is_empty() {
        return None;
    }
    chunks.sort_by_key(|c| c.0);
    Some(chunks.iter().flat_map(|c| c.1.iter().copied()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::linear_srgb_icc;

    #[test]
    fn a_linear_profile_is_brought_to_srgb() {
        let mut p = Pixels {
            width: 2,
            height: 1,
            channels: 4,
            data: vec![128, 128, 128, 77, 0, 255, 255, 255],
        };
        to_srgb(&mut p, &linear_srgb_icc());
        assert!(
            p.data[..3].iter().all(|&v| v.abs_diff(188) <= 2),
            "{:?}",
            p.data
        );
        assert_eq!(p.data[3], 77, "alpha untouched");
        assert_eq!(&p.data[4..], &[0, 255, 255, 255], "ends of the scale stay");
    }

    #[test]
    fn garbage_and_non_rgb_profiles_leave_pixels_alone() {
        let mut p = Pixels {
            width: 1,
            height: 1,
            channels: 3,
            data: vec![10, 20, 30],
        };
        to_srgb(&mut p, b"not a profile");
        let grey = ColorProfile::new_gray_with_gamma(2.2).encode().unwrap();
        to_srgb(&mut p, &grey);
        assert_eq!(p.data, vec![10, 20, 30]);
    }

    #[test]
    fn jpeg_chunks_join_in_sequence_order() {
        let mut c = vec![(2, b"def".to_vec()), (1, b"abc".to_vec())];
        assert_eq!(join_jpeg_chunks(&mut c).unwrap(), b"abcdef");
        assert_eq!(join_jpeg_chunks(&mut []), None);
    }
}
