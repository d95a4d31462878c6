//! Settings from environment variables.

use fleetkeeper::{ConfigError, Env, Mode};

use crate::rendition::Rendition;

pub use imaging::Format;

#[derive(Debug, Clone)]
pub struct Config {
    pub renditions: Vec<Rendition>,
    /// `OUTPUT_BUCKET`: None writes next to the original.
    pub output_bucket: Option<String>,
    /// `OUTPUT_PREFIX` (`resized/`): renditions go to `<prefix><rendition>/<key>`.
    pub output_prefix: String,
    pub format: Format,
    /// `JPEG_QUALITY` (85) / `WEBP_QUALITY` (80): 1-100.
    pub jpeg_quality: u8,
    pub webp_quality: u8,
    /// `WEBP_LOSSLESS`: lossless WebP instead (WEBP_QUALITY is then unused).
    pub webp_lossless: bool,
    /// `CACHE_CONTROL` on every rendition written.
    pub cache_control: Option<String>,
    /// `PAD_COLOUR` for contain, as RRGGBB.
    pub pad: [u8; 3],
    /// `REPLACE_ORIGINAL`: the (single) rendition replaces the original, written and checked first.
    pub replace_original: bool,
    /// `MAX_INPUT_BYTES` (50 MB), checked with HEAD before any download.
    pub max_input_bytes: u64,
    /// `MAX_PIXELS` (50 MP), checked from the header before decoding.
    pub max_pixels: u64,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (MB), set by Lambda: an image whose decode would not
    /// fit is refused from its header instead of crashing the invocation. None locally.
    pub memory_mib: Option<u64>,
    pub mode: Mode,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let raw = env.string("RENDITIONS", "thumb=300x200:cover,medium=1024x1024:inside");
        let renditions = Rendition::parse_list(&raw)
            .map_err(|why| ConfigError::invalid("RENDITIONS", &raw, why))?;
        let format = match env.string("FORMAT", "keep").to_ascii_lowercase().as_str() {
            "keep" => Format::Keep,
            "jpeg" | "jpg" => Format::Jpeg,
            "png" => Format::Png,
            "webp" => Format::Webp,
            other => {
                return Err(ConfigError::invalid(
                    "FORMAT",
                    other,
                    "keep, jpeg, png or webp",
                ));
            }
        };
        let prefix = env.string("OUTPUT_PREFIX", "resized/");
        if prefix.is_empty() || !prefix.ends_with('/') || prefix.starts_with('/') {
            return Err(ConfigError::invalid(
                "OUTPUT_PREFIX",
                &prefix,
                "a key prefix ending in '/', such as resized/ (renditions must never land where originals do)",
            ));
        }
        let pad_raw = env.string("PAD_COLOUR", "ffffff");
        let pad = parse_colour(&pad_raw).ok_or_else(|| {
            ConfigError::invalid("PAD_COLOUR", &pad_raw, "a colour as RRGGBB, e.g. ffffff")
        })?;
        let replace_original = env.bool("REPLACE_ORIGINAL", false)?;
        if replace_original && renditions.len() != 1 {
            return Err(ConfigError::invalid(
                "REPLACE_ORIGINAL",
                "true",
                "exactly one rendition in RENDITIONS (it is the one that replaces the original)",
            ));
        }
        Ok(Config {
            renditions,
            output_bucket: env.get("OUTPUT_BUCKET"),
            output_prefix: prefix,
            format,
            jpeg_quality: env.u64_in("JPEG_QUALITY", 85, 1, 100)? as u8,
            webp_quality: env.u64_in("WEBP_QUALITY", 80, 1, 100)? as u8,
            webp_lossless: env.bool("WEBP_LOSSLESS", false)?,
            cache_control: env.get("CACHE_CONTROL"),
            pad,
            replace_original,
            max_input_bytes: env.u64_in("MAX_INPUT_BYTES", 50_000_000, 1, 5_000_000_000)?,
            max_pixels: env.u64_in("MAX_PIXELS", 50_000_000, 1, 1_000_000_000)?,
            memory_mib: match env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") {
                Some(_) => Some(env.u64_in("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 128, 128, 10_240)?),
                None => None,
            },
            mode: Mode::from_env(env)?,
        })
    }
}

fn parse_colour(s: &str) -> Option<[u8; 3]> {
    let hex = s.trim().trim_start_matches('#');
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::from_env(&Env::of(&[])).unwrap();
        assert_eq!(c.renditions.len(), 2);
        assert_eq!(c.output_prefix, "resized/");
        assert_eq!(
            (c.format, c.jpeg_quality, c.pad),
            (Format::Keep, 85, [255, 255, 255])
        );
        assert_eq!((c.max_input_bytes, c.max_pixels), (50_000_000, 50_000_000));
        assert!(!c.replace_original);
    }

    #[test]
    fn bad_settings_name_the_variable() {
        for (var, value) in [
            ("RENDITIONS", "thumb=300x200:stretch"),
            ("FORMAT", "tiff"),
            ("OUTPUT_PREFIX", "resized"),
            ("OUTPUT_PREFIX", "/resized/"),
            ("PAD_COLOUR", "white"),
            ("JPEG_QUALITY", "0"),
            ("WEBP_QUALITY", "101"),
            ("WEBP_LOSSLESS", "maybe"),
            ("REPLACE_ORIGINAL", "true"),
        ] {
            let err = Config::from_env(&Env::of(&[(var, value)])).unwrap_err();
            assert!(err.to_string().contains(var), "{var}={value}: {err}");
        }
        let one = Config::from_env(&Env::of(&[
            ("RENDITIONS", "web=2048x2048:inside"),
            ("REPLACE_ORIGINAL", "true"),
            ("PAD_COLOUR", "#102030"),
        ]))
        .unwrap();
        assert!(one.replace_original);
        assert_eq!(one.pad, [0x10, 0x20, 0x30]);
    }
}
