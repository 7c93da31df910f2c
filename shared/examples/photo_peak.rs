//! The photo worker's memory on the largest upload it accepts, for `scripts/photo-memory`.
//!
//!     photo_peak make FILE      writes a 24-megapixel JPEG just under the 5 MiB cap
//!     photo_peak make-png FILE  writes a 24-megapixel PNG with transparency (RGBA) under the cap
//!     photo_peak process FILE   processes it as the worker does; prints the peak RSS

use std::io::Cursor;

use shared::photos::{self, MAX_PIXELS, MAX_UPLOAD_BYTES};

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("VmHWM: 0 kB");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// 6000 x 4000 with detail, at the highest JPEG quality that stays under the cap.
fn make() -> Vec<u8> {
    let (width, height) = (6000u32, 4000u32);
    assert_eq!(u64::from(width * height), MAX_PIXELS);
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        let noise = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 28;
        image::Rgb([(x / 24) as u8 ^ noise as u8, (y / 16) as u8, ((x + y) / 40) as u8])
    });
    for quality in (30..=95).rev().step_by(5) {
        let mut bytes = Vec::new();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(Cursor::new(&mut bytes), quality);
        image.write_with_encoder(encoder).unwrap();
        if bytes.len() as u64 <= MAX_UPLOAD_BYTES {
            eprintln!("quality {quality}: {} bytes", bytes.len());
            return bytes;
        }
    }
    panic!("no quality fits the cap");
}

/// 6000 x 4000 RGBA: the most pixel memory an accepted upload can ask for.
fn make_png() -> Vec<u8> {
    let image =
        image::RgbaImage::from_fn(6000, 4000, |x, y| image::Rgba([(x / 24) as u8, (y / 16) as u8, 90, (x / 32) as u8]));
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    assert!(bytes.len() as u64 <= MAX_UPLOAD_BYTES, "{} bytes", bytes.len());
    bytes
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("make"), Some(file)) => std::fs::write(file, make()).unwrap(),
        (Some("make-png"), Some(file)) => std::fs::write(file, make_png()).unwrap(),
        (Some("process"), Some(file)) => {
            let bytes = std::fs::read(file).unwrap();
            let before = peak_rss_kib();
            let started = std::time::Instant::now();
            let photo = photos::process(&bytes).expect("the largest accepted image is accepted");
            println!(
                "input {} bytes; peak RSS {} MiB (before processing {} MiB); took {} ms; photo {} bytes, thumbnail {} bytes",
                bytes.len(),
                peak_rss_kib() / 1024,
                before / 1024,
                started.elapsed().as_millis(),
                photo.photo.len(),
                photo.thumbnail.len()
            );
        }
        _ => eprintln!("usage: photo_peak make|process FILE"),
    }
}
