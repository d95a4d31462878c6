//! Inputs more than one test module makes: built here, once.

use moxcms::{ColorProfile, ToneReprCurve};

/// sRGB's primaries with a straight (gamma 1.0) curve: mid-grey 128 is linear 0.5, which
/// sRGB writes as 188.
pub fn linear_srgb_icc() -> Vec<u8> {
    let mut p = ColorProfile::new_srgb();
    let linear = ToneReprCurve::Parametric(vec![1.0]);
    p.red_trc = Some(linear.clone());
    p.green_trc = Some(linear.clone());
    p.blue_trc = Some(linear);
    // new_srgb() also names sRGB's transfer in a CICP tag, which would win.
    p.cicp = None;
    p.encode().unwrap()
}
