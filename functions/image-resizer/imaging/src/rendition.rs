//! RENDITIONS: `thumb=300x200:cover,medium=1024x1024:inside`, optionally `:upscale`.

use std::fmt;

/// How an image is brought to a rendition's box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Fill the box, aspect kept, the overflow cropped (centred).
    Cover,
    /// Fit inside the box, aspect kept, padded to the box with the pad colour.
    Contain,
    /// Fit inside the box, aspect kept, no padding: the output may be smaller than the box.
    Inside,
    /// Exactly the box, aspect not kept (distorts; only when asked for).
    Fill,
}

impl Fit {
    fn parse(s: &str) -> Option<Fit> {
        match s {
            "cover" => Some(Fit::Cover),
            "contain" => Some(Fit::Contain),
            "inside" => Some(Fit::Inside),
            "fill" => Some(Fit::Fill),
            _ => None,
        }
    }
}

impl fmt::Display for Fit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fit::Cover => "cover",
            Fit::Contain => "contain",
            Fit::Inside => "inside",
            Fit::Fill => "fill",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// Also the folder under the output prefix: `resized/<name>/<key>`.
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub fit: Fit,
    /// Enlarge images smaller than the box (off unless asked).
    pub upscale: bool,
}

/// The largest box side accepted.
pub const MAX_SIDE: u32 = 10_000;

impl Rendition {
    /// One `name=WxH:fit[:upscale]`.
    pub fn parse(spec: &str) -> Result<Rendition, String> {
        let spec = spec.trim();
        let bad = |why: &str| {
            format!(
                "{spec:?}: {why} (expected name=WIDTHxHEIGHT:fit, fit one of cover, contain, inside, fill)"
            )
        };
        let (name, rest) = spec.split_once('=').ok_or_else(|| bad("no '='"))?;
        let name = name.trim();
        let name_ok = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(bad("the name must be 1-32 of a-z, 0-9, '-', '_'"));
        }
        let mut parts = rest.split(':');
        let size = parts.next().unwrap_or("");
        let (w, h) = size.split_once('x').ok_or_else(|| bad("no WIDTHxHEIGHT"))?;
        let side = |s: &str| {
            s.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_SIDE).contains(n))
        };
        let (Some(width), Some(height)) = (side(w), side(h)) else {
            return Err(bad(&format!("sides must be 1 to {MAX_SIDE} pixels")));
        };
        let fit =
            Fit::parse(parts.next().unwrap_or("").trim()).ok_or_else(|| bad("unknown fit"))?;
        let upscale = match parts.next().map(str::trim) {
            None => false,
            Some("upscale") => true,
            Some(_) => return Err(bad("only ':upscale' may follow the fit")),
        };
        if parts.next().is_some() {
            return Err(bad("too many ':' parts"));
        }
        Ok(Rendition {
            name: name.to_owned(),
            width,
            height,
            fit,
            upscale,
        })
    }

    /// A comma-separated list; names must differ.
    pub fn parse_list(list: &str) -> Result<Vec<Rendition>, String> {
        let mut out: Vec<Rendition> = Vec::new();
        for spec in list.split(',').filter(|s| !s.trim().is_empty()) {
            let r = Rendition::parse(spec)?;
            if out.iter().any(|o| o.name == r.name) {
                return Err(format!("rendition {:?} is named twice", r.name));
            }
            out.push(r);
        }
        if out.is_empty() {
            return Err("at least one rendition, e.g. thumb=300x200:cover".into());
        }
        Ok(out)
    }
}

impl fmt::Display for Rendition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={}x{}:{}",
            self.name, self.width, self.height, self.fit
        )?;
        if self.upscale {
            f.write_str(":upscale")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let list = Rendition::parse_list("thumb=300x200:cover, medium=1024x1024:inside").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(
            list[0],
            Rendition {
                name: "thumb".into(),
                width: 300,
                height: 200,
                fit: Fit::Cover,
                upscale: false
            }
        );
        assert_eq!(list[1].to_string(), "medium=1024x1024:inside");
        let up = Rendition::parse("hero=2000x800:contain:upscale").unwrap();
        assert!(up.upscale);
        assert_eq!(up.to_string(), "hero=2000x800:contain:upscale");
    }

    #[test]
    fn refuses_bad_specs() {
        for bad in [
            "thumb",
            "thumb=300:cover",
            "thumb=0x200:cover",
            "thumb=300x20000:cover",
            "thumb=300x200",
            "thumb=300x200:stretch",
            "thumb=300x200:cover:big",
            "thumb=300x200:cover:upscale:x",
            "Thumb=300x200:cover",
            "=300x200:cover",
            "a/b=300x200:cover",
        ] {
            assert!(Rendition::parse(bad).is_err(), "{bad}");
        }
        assert!(
            Rendition::parse_list("")
                .unwrap_err()
                .contains("at least one")
        );
        assert!(
            Rendition::parse_list("a=1x1:fill,a=2x2:fill")
                .unwrap_err()
                .contains("named twice")
        );
    }
}
