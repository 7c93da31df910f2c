//! Profile photos: what an upload must be, and what it becomes. Pure work on bytes, run by the
//! photo worker: the format is read from the content (never from a name or a declared type),
//! the size and the pixel count are checked before anything is decoded, decoding runs under
//! allocation limits, and what is stored is re-encoded from pixels, so no metadata (EXIF GPS,
//! comments, colour profiles) survives.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits, imageops::FilterType};

/// The largest upload accepted: the presigned form's policy says so on AWS, the local upload
/// route on the laptop, and the worker checks again (the emulator does not enforce policies).
pub const MAX_UPLOAD_BYTES: u64 = 5 * 1024 * 1024;
/// The most pixels an upload may declare: 24 megapixels (6000 x 4000), checked from the header
/// before decoding, so a small file declaring a huge image (a decompression bomb) is refused.
pub const MAX_PIXELS: u64 = 24_000_000;
/// Neither side longer than this.
pub const MAX_SIDE: u32 = 12_000;
/// The square profile image and its thumbnail, in pixels.
pub const PHOTO_SIDE: u32 = 512;
pub const THUMBNAIL_SIDE: u32 = 128;
/// The decoder's allocation ceiling: an RGBA image of `MAX_PIXELS` and some room.
const MAX_DECODE_ALLOC: u64 = MAX_PIXELS * 4 + 16 * 1024 * 1024;

/// Why an upload was refused, in words its owner can act on (shown as `photo_error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoRejection {
    #[error("the file is larger than 5 MiB")]
    TooLarge,
    #[error("the file is empty")]
    Empty,
    #[error("the file is not a PNG, JPEG, GIF or WebP image")]
    NotAnImage,
    #[error("the image is {width}x{height} pixels; at most 24 megapixels and 12000 pixels a side are accepted")]
    TooManyPixels { width: u32, height: u32 },
    #[error("the image could not be read: it is damaged or incomplete")]
    Unreadable,
}

/// The two JPEGs made from an upload.
pub struct ProcessedPhoto {
    pub photo: Vec<u8>,
    pub thumbnail: Vec<u8>,
}

/// Checks, decodes and re-encodes an upload. CPU-bound: call it off the async executor.
pub fn process(bytes: &[u8]) -> Result<ProcessedPhoto, PhotoRejection> {
    if bytes.is_empty() {
        return Err(PhotoRejection::Empty);
    }
    if bytes.len() as u64 > MAX_UPLOAD_BYTES {
        return Err(PhotoRejection::TooLarge);
    }
    let format = image::guess_format(bytes).map_err(|_| PhotoRejection::NotAnImage)?;
    if !matches!(format, ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP) {
        return Err(PhotoRejection::NotAnImage);
    }
    let reader = || ImageReader::with_format(Cursor::new(bytes), format);
    // The header alone: what the image claims to be, before a pixel is decoded.
    // No limits on this read: it decodes nothing, and a limit would hide what was declared.
    let mut header = reader();
    header.no_limits();
    let (width, height) = header.into_dimensions().map_err(|_| PhotoRejection::Unreadable)?;
    if width == 0 || height == 0 {
        return Err(PhotoRejection::Unreadable);
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS || width > MAX_SIDE || height > MAX_SIDE {
        return Err(PhotoRejection::TooManyPixels { width, height });
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    let mut reader = reader();
    reader.limits(limits);
    // The JPEG decoder fills in missing data as grey: a file cut short must end in its marker.
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(PhotoRejection::Unreadable);
    }
    let image = reader.decode().map_err(|_| PhotoRejection::Unreadable)?;
    let square = center_square(image);
    Ok(ProcessedPhoto { photo: jpeg(&square, PHOTO_SIDE)?, thumbnail: jpeg(&square, THUMBNAIL_SIDE)? })
}

/// Walks the JPEG's structure from its start-of-image marker: each segment by its declared
/// length, each scan's entropy-coded data up to the next marker (inside it a 0xFF byte is
/// always followed by 0x00, a restart marker or another 0xFF), until the end-of-image marker.
/// Bytes that merely look like markers inside a segment (a comment holding `FF DA ... FF D9`)
/// are skipped with it, so a file cut short is refused whatever it carries.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let mut at = 2;
    loop {
        if bytes.get(at) != Some(&0xFF) {
            return false;
        }
        while bytes.get(at) == Some(&0xFF) {
            at += 1; // fill bytes before a marker
        }
        let Some(&marker) = bytes.get(at) else { return false };
        at += 1;
        match marker {
            0xD9 => return true,
            0x01 | 0xD0..=0xD7 => continue, // markers with no segment
            _ => {
                let Some(&[high, low]) = bytes.get(at..at + 2) else { return false };
                let length = usize::from(u16::from_be_bytes([high, low]));
                if length < 2 || at + length > bytes.len() {
                    return false;
                }
                at += length;
                if marker == 0xDA {
                    // The scan's data, up to the marker that ends it.
                    loop {
                        let Some(offset) = bytes[at..].iter().position(|&b| b == 0xFF) else { return false };
                        at += offset;
                        match bytes.get(at + 1) {
                            None => return false,
                            Some(0x00 | 0xD0..=0xD7) => at += 2,
                            Some(0xFF) => at += 1,
                            Some(_) => break,
                        }
                    }
                }
            }
        }
    }
}

fn center_square(image: DynamicImage) -> DynamicImage {
    let side = image.width().min(image.height());
    let (x, y) = ((image.width() - side) / 2, (image.height() - side) / 2);
    image.crop_imm(x, y, side, side)
}

/// `square` at `side` pixels (never enlarged past its own size), as a JPEG: transparent
/// pixels over white, 8-bit RGB, quality 85, nothing but pixels in the file.
fn jpeg(square: &DynamicImage, side: u32) -> Result<Vec<u8>, PhotoRejection> {
    let side = side.min(square.width());
    let resized = square.resize_exact(side, side, FilterType::Lanczos3);
    let rgba = resized.to_rgba8();
    let mut rgb = image::RgbImage::new(side, side);
    for (out, pixel) in rgb.pixels_mut().zip(rgba.pixels()) {
        let [r, g, b, a] = pixel.0;
        let over_white = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        *out = image::Rgb([over_white(r), over_white(g), over_white(b)]);
    }
    let mut bytes = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85);
    rgb.write_with_encoder(encoder).map_err(|_| PhotoRejection::Unreadable)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbaImage::from_fn(width, height, |x, y| image::Rgba([x as u8, y as u8, 128, 255]));
        let mut bytes = Vec::new();
        image.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png).unwrap();
        bytes
    }

    #[test]
    fn a_png_becomes_a_square_jpeg_and_a_thumbnail() {
        let photo = process(&png(900, 600)).unwrap();
        let big = image::load_from_memory(&photo.photo).unwrap();
        let small = image::load_from_memory(&photo.thumbnail).unwrap();
        assert_eq!(image::guess_format(&photo.photo).unwrap(), ImageFormat::Jpeg);
        assert_eq!((big.width(), big.height()), (PHOTO_SIDE, PHOTO_SIDE));
        assert_eq!((small.width(), small.height()), (THUMBNAIL_SIDE, THUMBNAIL_SIDE));
    }

    #[test]
    fn a_text_file_is_not_an_image_whatever_it_is_called() {
        assert_eq!(process(b"just some text, saved as photo.jpg").err(), Some(PhotoRejection::NotAnImage));
    }

    #[test]
    fn a_truncated_image_is_unreadable() {
        let bytes = png(300, 300);
        assert_eq!(process(&bytes[..bytes.len() / 2]).err(), Some(PhotoRejection::Unreadable));
    }

    fn a_jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 90]));
        let mut bytes = Vec::new();
        image.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg).unwrap();
        bytes
    }

    #[test]
    fn a_whole_jpeg_is_complete_and_one_cut_short_is_not() {
        let bytes = a_jpeg(300, 200);
        assert!(jpeg_is_complete(&bytes));
        assert!(process(&bytes).is_ok());
        for cut in [bytes.len() - 2, bytes.len() / 2, 400] {
            assert!(!jpeg_is_complete(&bytes[..cut]), "cut at {cut}");
        }
    }

    #[test]
    fn a_jpeg_cut_short_is_refused_even_with_end_markers_hidden_in_a_comment() {
        // The attack: a comment segment right after the start-of-image marker holding the bytes
        // of a start-of-scan and an end-of-image marker, then the real image, cut in half. A
        // byte scan finds `FF DA` then `FF D9` and calls it complete.
        let whole = a_jpeg(300, 200);
        let comment = [0xFF, 0xDA, 0x00, 0x00, 0xFF, 0xD9];
        let mut forged = vec![0xFF, 0xD8, 0xFF, 0xFE];
        forged.extend_from_slice(&(comment.len() as u16 + 2).to_be_bytes());
        forged.extend_from_slice(&comment);
        forged.extend_from_slice(&whole[2..whole.len() / 2]);
        assert!(!jpeg_is_complete(&forged));
        assert_eq!(process(&forged).err(), Some(PhotoRejection::Unreadable));
        // The same comment in a whole image changes nothing.
        let mut with_comment = forged[..4 + 2 + comment.len()].to_vec();
        with_comment.extend_from_slice(&whole[2..]);
        assert!(jpeg_is_complete(&with_comment));
    }
}
