//! EXIF, as far as resizing needs it: the Orientation tag, from whichever container carries it
//! (JPEG's APP1, PNG's eXIf chunk, WebP's EXIF chunk). A leaf module: it imports nothing of ours.

/// The EXIF Orientation (tag 0x0112 in IFD0), 1 when absent or unreadable. `exif` is a TIFF
/// header and its IFDs, with or without the "Exif\0\0" prefix JPEG's APP1 puts before them.
pub fn orientation(exif: &[u8]) -> u8 {
    // The APP1 payload: "Exif\0\0", then a TIFF header and IFD0.
    let t = exif.strip_prefix(b"Exif\0\0").unwrap_or(exif);
    let le = match t.get(..2) {
        Some(b"II") => true,
        Some(b"MM") => false,
        _ => return 1,
    };
    let u16_at = |o: usize| {
        t.get(o..o + 2).map(|b| {
            if le {
                u16::from_le_bytes([b[0], b[1]])
            } else {
                u16::from_be_bytes([b[0], b[1]])
            }
        })
    };
    let u32_at = |o: usize| {
        t.get(o..o + 4).map(|b| {
            let a = [b[0], b[1], b[2], b[3]];
            if le {
                u32::from_le_bytes(a)
            } else {
                u32::from_be_bytes(a)
            }
        })
    };
    let Some(ifd) = u32_at(4).map(|o| o as usize) else {
        return 1;
    };
    let Some(count) = u16_at(ifd) else { return 1 };
    for i in 0..usize::from(count) {
        let e = ifd + 2 + i * 12;
        if u16_at(e) == Some(0x0112) {
            return u16_at(e + 8)
                .filter(|v| (1..=8).contains(v))
                .map_or(1, |v| v as u8);
        }
    }
    1
}

/// The eXIf chunk of a PNG, wherever it stands: before the image data, or after it (which the
/// PNG specification allows and some writers do). Chunks are walked from the bytes, so the
/// orientation is known before any row is decoded.
pub fn png_chunk(png: &[u8]) -> Option<&[u8]> {
    let mut at = 8usize;
    while let Some(head) = png.get(at..at + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let data = at + 8;
        let end = data.checked_add(len)?;
        match &head[4..8] {
            b"eXIf" => return png.get(data..end),
            b"IEND" => return None,
            _ => {}
        }
        // Data, then a 4-byte CRC.
        at = end.checked_add(4)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian TIFF header with IFD0 holding one entry: Orientation (SHORT) = o.
    fn tiff(o: u16) -> Vec<u8> {
        let mut t = b"II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0".to_vec();
        t.extend_from_slice(&o.to_le_bytes());
        t.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        t
    }

    #[test]
    fn orientation_with_or_without_the_jpeg_prefix() {
        assert_eq!(orientation(&tiff(6)), 6);
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff(8));
        assert_eq!(orientation(&app1), 8);
        assert_eq!(orientation(&tiff(9)), 1, "out of range");
        assert_eq!(orientation(b"garbage"), 1);
        assert_eq!(orientation(&tiff(3)[..12]), 1, "cut short");
    }

    #[test]
    fn png_chunk_found_before_or_after_the_data_and_never_past_the_end() {
        let chunk = |kind: &[u8], data: &[u8]| {
            let mut c = (data.len() as u32).to_be_bytes().to_vec();
            c.extend_from_slice(kind);
            c.extend_from_slice(data);
            c.extend_from_slice(&[0, 0, 0, 0]);
            c
        };
        let sig = b"\x89PNG\r\n\x1a\n".to_vec();
        let ihdr = chunk(b"IHDR", &[0; 13]);
        let idat = chunk(b"IDAT", &[1, 2, 3]);
        let exif = chunk(b"eXIf", &tiff(6));
        let iend = chunk(b"IEND", &[]);
        let before = [&sig[..], &ihdr, &exif, &idat, &iend].concat();
        let after = [&sig[..], &ihdr, &idat, &exif, &iend].concat();
        let none = [&sig[..], &ihdr, &idat, &iend].concat();
        let past_end = [&sig[..], &ihdr, &idat, &iend, &exif].concat();
        assert_eq!(png_chunk(&before).map(orientation), Some(6));
        assert_eq!(png_chunk(&after).map(orientation), Some(6));
        assert_eq!(png_chunk(&none), None);
        assert_eq!(png_chunk(&past_end), None);
        // A length running past the end of the file is no chunk.
        let mut cut = [&sig[..], &ihdr].concat();
        cut.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xF0, b'e', b'X', b'I', b'f']);
        assert_eq!(png_chunk(&cut), None);
    }
}
