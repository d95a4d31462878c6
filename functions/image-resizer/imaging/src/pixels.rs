//! The decoded image and the reasons an image is refused: the types every stage shares. A leaf
//! module: it imports nothing of ours, so no module imports one that imports it back.

/// Why an input is not turned into renditions; reported, never fatal to other records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotAnImage,
    TooManyPixels {
        width: u32,
        height: u32,
        max: u64,
    },
    /// Decoding would take more memory than the function has to spare.
    TooMuchMemory {
        need: u64,
        budget: u64,
    },
    Corrupt(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotAnImage => f.write_str("not a JPEG, PNG, GIF or WebP image"),
            Refusal::TooManyPixels { width, height, max } => write!(
                f,
                "{width}x{height} is {} pixels, over MAX_PIXELS ({max}); not decoded",
                u64::from(*width) * u64::from(*height)
            ),
            Refusal::TooMuchMemory { need, budget } => write!(
                f,
                "decoding needs about {} MiB, more than the {} MiB this function has to spare; \
                 not decoded (give the function more memory, or lower MAX_PIXELS)",
                need.div_ceil(1 << 20),
                budget >> 20
            ),
            Refusal::Corrupt(why) => write!(f, "cannot be decoded: {why}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pixels {
    pub width: u32,
    pub height: u32,
    /// 3 (RGB) or 4 (RGBA) bytes a pixel.
    pub channels: u8,
    pub data: Vec<u8>,
}
