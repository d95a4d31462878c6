//! `resize-file`, the binary itself: a real run on a generated photo, and bad input refused
//! with a clear message and no output file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn resize_file(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_resize-file"))
        .args(args)
        .output()
        .expect("resize-file runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("resize-file-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn photo(path: &Path, w: u16, h: u16) {
    let px: Vec<u8> = (0..u32::from(w) * u32::from(h))
        .flat_map(|i| [(i % 251) as u8, (i / 97 % 256) as u8, 90])
        .collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(&px, w, h, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    std::fs::write(path, out).unwrap();
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn resizes_a_file_in_each_format() {
    let input = scratch("in.jpg");
    photo(&input, 640, 480);
    for (format, ext, magic) in [
        ("keep", "jpg", &b"\xFF\xD8\xFF"[..]),
        ("png", "png", &b"\x89PNG"[..]),
        ("webp", "webp", &b"RIFF"[..]),
    ] {
        let out = scratch(&format!("out.{ext}"));
        let o = resize_file(&[
            input.to_str().unwrap(),
            out.to_str().unwrap(),
            "--rendition",
            "m=200x200:inside",
            "--format",
            format,
            "--quality",
            "70",
        ]);
        assert!(o.status.success(), "{format}: {}", stderr(&o));
        let said = String::from_utf8_lossy(&o.stdout);
        assert!(said.contains("200x150"), "{format}: {said}");
        assert!(std::fs::read(&out).unwrap().starts_with(magic), "{format}");
    }
}

#[test]
fn bad_input_is_refused_clearly_and_writes_nothing() {
    let input = scratch("ok.jpg");
    photo(&input, 64, 64);
    let text = scratch("notes.jpg");
    std::fs::write(&text, "not a picture").unwrap();
    let out = scratch("never.jpg");
    let (i, o, t) = (
        input.to_str().unwrap(),
        out.to_str().unwrap(),
        text.to_str().unwrap(),
    );
    for (args, says) in [
        (vec![i, o], "--rendition is required"),
        (vec![i, o, "--rendition", "m=10x10:squash"], "squash"),
        (
            vec![i, o, "--rendition", "m=10x10:inside", "--quality", "0"],
            "--quality",
        ),
        (
            vec![i, o, "--rendition", "m=10x10:inside", "--format", "tiff"],
            "tiff",
        ),
        (
            vec![i, o, "--rendition", "m=10x10:inside", "--frobnicate"],
            "unknown option",
        ),
        (
            vec![t, o, "--rendition", "m=10x10:inside"],
            "not a JPEG, PNG, GIF or WebP",
        ),
        (
            vec![i, o, "--rendition", "m=10x10:inside", "--max-pixels", "100"],
            "MAX_PIXELS",
        ),
        (
            vec!["/no/such/file.jpg", o, "--rendition", "m=10x10:inside"],
            "/no/such/file.jpg",
        ),
    ] {
        let run = resize_file(&args);
        assert_eq!(run.status.code(), Some(1), "{args:?}");
        assert!(stderr(&run).contains(says), "{args:?}: {}", stderr(&run));
        assert!(!out.exists(), "{args:?} left an output file");
        assert!(!Path::new(&format!("{o}.partial")).exists());
    }
}
