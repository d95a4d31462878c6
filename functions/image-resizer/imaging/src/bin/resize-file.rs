//! resize-file: image-resizer's pipeline on local files, for users and for the benchmark.
//!
//!     resize-file <in> <out> --rendition medium=1024x1024:inside [--quality 85]
//!                 [--format keep|jpeg|png|webp] [--lossless] [--max-pixels N]
//!
//! `--quality` is JPEG's and lossy WebP's (default 85 and 80, as JPEG_QUALITY and
//! WEBP_QUALITY); `--lossless` makes WebP lossless.

use std::process::ExitCode;

use imaging::Format;
use imaging::pipeline::{Settings, render};
use imaging::rendition::Rendition;

const USAGE: &str = "usage: resize-file <in> <out> --rendition name=WxH:fit [--quality 1-100] [--format keep|jpeg|png|webp] [--lossless] [--max-pixels N]";

fn run(args: &[String]) -> Result<String, String> {
    let mut files = Vec::new();
    let mut rendition = None;
    let mut settings = Settings::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or(format!("{name} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--rendition" => rendition = Some(Rendition::parse(&value("--rendition")?)?),
            "--quality" => {
                let v = value("--quality")?;
                settings.jpeg_quality = v
                    .parse()
                    .ok()
                    .filter(|q| (1..=100).contains(q))
                    .ok_or(format!("--quality {v:?}: a number from 1 to 100"))?;
                settings.webp_quality = settings.jpeg_quality;
            }
            "--format" => {
                settings.format = match value("--format")?.as_str() {
                    "keep" => Format::Keep,
                    "jpeg" | "jpg" => Format::Jpeg,
                    "png" => Format::Png,
                    "webp" => Format::Webp,
                    other => return Err(format!("--format {other:?}: keep, jpeg, png or webp")),
                }
            }
            "--max-pixels" => {
                let v = value("--max-pixels")?;
                settings.max_pixels = v
                    .parse()
                    .map_err(|_| format!("--max-pixels {v:?}: a number"))?;
            }
            "--lossless" => settings.webp_lossless = true,
            "-h" | "--help" => return Err(USAGE.into()),
            f if !f.starts_with("--") => files.push(f.to_owned()),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    let [input, output] = files.as_slice() else {
        return Err(USAGE.into());
    };
    let rendition = rendition.ok_or(format!("--rendition is required\n{USAGE}"))?;
    let bytes = std::fs::read(input).map_err(|e| format!("{input}: {e}"))?;
    let out = render(&bytes, &rendition, &settings).map_err(|e| format!("{input}: {e}"))?;
    // Written beside the target first, then renamed: a failed run never leaves half a file.
    let tmp = format!("{output}.partial");
    std::fs::write(&tmp, &out.bytes).map_err(|e| format!("{tmp}: {e}"))?;
    std::fs::rename(&tmp, output).map_err(|e| format!("{output}: {e}"))?;
    Ok(format!(
        "{output}: {}x{} {} ({} bytes)",
        out.width,
        out.height,
        out.format.content_type(),
        out.bytes.len()
    ))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("resize-file: {e}");
            ExitCode::FAILURE
        }
    }
}
