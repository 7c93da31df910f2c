//! A user gives their profile a photo: an upload form, the file sent straight to storage, the
//! worker's verdict on the profile. Every file here is made by the test, several of them the
//! way an attacker would make them.

use std::io::Cursor;

use image::ImageFormat;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp, assert_problem, spawn_app};

impl TestApp {
    /// `PUT user/photo`: the upload form.
    pub async fn put_photo(&self, access: &str) -> Value {
        let response = self.client.put(self.url("/api/v1/user/photo")).bearer_auth(access).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Posts `bytes` with the form, as a browser would: its fields, then the file.
    pub async fn post_upload(&self, upload: &Value, bytes: Vec<u8>, file_name: &str) -> reqwest::Response {
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in upload["form"]["fields"].as_object().unwrap() {
            form = form.text(name.clone(), value.as_str().unwrap().to_string());
        }
        form = form.part("file", reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_string()));
        self.client.post(upload["form"]["url"].as_str().unwrap()).multipart(form).send().await.unwrap()
    }

    /// A new form, the file sent with it, and the profile once the worker is done with it.
    pub async fn upload_photo(&self, access: &str, bytes: Vec<u8>, file_name: &str) -> Value {
        let upload = self.put_photo(access).await;
        let response = self.post_upload(&upload, bytes, file_name).await;
        assert!(response.status().is_success(), "upload refused: {}", response.status());
        self.photo_settled(access).await
    }

    /// The profile, once no upload is waiting to be processed.
    pub async fn photo_settled(&self, access: &str) -> Value {
        for _ in 0..400 {
            let me: Value = self.get_me(access).await.json().await.unwrap();
            if me["photo_status"] != "awaiting_upload" {
                return me;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the photo was never processed");
    }

    pub async fn fetch(&self, url: &str) -> reqwest::Response {
        self.client.get(url).send().await.unwrap()
    }

    /// Whether the file at `url` is gone once the photo worker has had its turn (deletions
    /// are its jobs).
    pub async fn gone_eventually(&self, url: &str) -> bool {
        for _ in 0..400 {
            if self.fetch(url).await.status().is_client_error() {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    }
}

fn encoded(image: image::DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
    bytes
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let pixels = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
    encoded(pixels.into(), ImageFormat::Png)
}

/// A JPEG carrying an EXIF block with GPS coordinates (51° 30' 2" N), as phones write them.
fn jpeg_with_gps() -> Vec<u8> {
    let jpeg = encoded(image::RgbImage::from_pixel(640, 480, image::Rgb([200, 120, 40])).into(), ImageFormat::Jpeg);
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    // IFD0: one entry, GPSInfo (0x8825) -> the GPS IFD at offset 26.
    tiff.extend([0, 1, 0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 26, 0, 0, 0, 0]);
    // GPS IFD: GPSLatitudeRef "N", GPSLatitude -> three rationals at offset 56.
    tiff.extend([0, 2, 0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0, 0, 2, 0, 5, 0, 0, 0, 3, 0, 0, 0, 56, 0, 0, 0, 0]);
    for value in [51u32, 30, 2] {
        tiff.extend(value.to_be_bytes());
        tiff.extend(1u32.to_be_bytes());
    }
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend(tiff);
    let length = (app1.len() + 2) as u16;
    let mut bytes = jpeg[..2].to_vec(); // SOI
    bytes.extend([0xFF, 0xE1]);
    bytes.extend(length.to_be_bytes());
    bytes.extend(app1);
    bytes.extend(&jpeg[2..]);
    assert!(image::load_from_memory(&bytes).is_ok(), "still a valid JPEG");
    bytes
}

/// A PNG whose header declares 100000 x 100000 pixels, and almost no data: a decompression bomb.
fn png_declaring_a_huge_image() -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend(13u32.to_be_bytes());
    bytes.extend(&ihdr);
    bytes.extend(crc32(&ihdr).to_be_bytes());
    // A first scrap of pixel data (a zlib stream of four zero bytes): the rest "to follow".
    let mut idat = b"IDAT".to_vec();
    idat.extend([0x78, 0x01, 0x01, 0x04, 0x00, 0xFB, 0xFF, 0, 0, 0, 0, 0x00, 0x04, 0x00, 0x01]);
    bytes.extend(((idat.len() - 4) as u32).to_be_bytes());
    bytes.extend(&idat);
    bytes.extend(crc32(&idat).to_be_bytes());
    bytes.extend([0, 0, 0, 0]);
    bytes.extend(b"IEND");
    bytes.extend(crc32(b"IEND").to_be_bytes());
    bytes
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[tokio::test]
async fn a_png_becomes_a_square_profile_photo_and_a_thumbnail() {
    let app = spawn_app().await;
    let tokens = app.signed_up("author", "ada@example.com").await;

    let me = app.upload_photo(&tokens.access, png(900, 600), "me.png").await;

    assert_eq!((me["photo_status"].as_str(), me["photo_error"].clone()), (Some("ready"), Value::Null));
    for (field, side) in [("photo_url", 512), ("thumbnail_url", 128)] {
        let response = app.fetch(me[field].as_str().unwrap()).await;
        assert_eq!(response.status(), StatusCode::OK, "{field}");
        let bytes = response.bytes().await.unwrap();
        assert_eq!(image::guess_format(&bytes).unwrap(), ImageFormat::Jpeg);
        let image = image::load_from_memory(&bytes).unwrap();
        assert_eq!((image.width(), image.height()), (side, side), "{field}");
    }
    // Anyone sees it on the author's public profile.
    let author: Value = app
        .client
        .get(app.url(&format!("/api/v1/author?id={}", me["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(author["photo_url"], me["photo_url"]);
    assert_eq!(author["photo_status"], Value::Null, "its processing is its owner's business");
}

#[tokio::test]
async fn the_gps_position_in_a_phone_photo_does_not_survive() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;
    let upload = jpeg_with_gps();
    assert!(upload.windows(4).any(|w| w == b"Exif"), "the upload carries EXIF");

    let me = app.upload_photo(&tokens.access, upload, "IMG_0042.JPG").await;

    assert_eq!(me["photo_status"], "ready");
    for field in ["photo_url", "thumbnail_url"] {
        let response = app.fetch(me[field].as_str().unwrap()).await;
        assert_eq!(response.status(), StatusCode::OK, "{field}");
        let bytes = response.bytes().await.unwrap();
        assert!(!bytes.windows(4).any(|w| w == b"Exif"), "{field} has no EXIF block");
        assert!(!bytes.windows(2).any(|w| w == [0xFF, 0xE1]), "{field} has no APP1 segment");
    }
}

#[tokio::test]
async fn a_one_pixel_gif_is_a_photo_too() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;
    let gif = encoded(image::RgbaImage::from_pixel(1, 1, image::Rgba([0, 0, 0, 0])).into(), ImageFormat::Gif);

    let me = app.upload_photo(&tokens.access, gif, "pixel.gif").await;

    assert_eq!(me["photo_status"], "ready");
    let response = app.fetch(me["photo_url"].as_str().unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let image = image::load_from_memory(&response.bytes().await.unwrap()).unwrap();
    assert_eq!((image.width(), image.height()), (1, 1), "never enlarged");
}

#[tokio::test]
async fn files_that_are_not_acceptable_photos_are_refused_with_a_reason_and_the_photo_stays() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;
    let before = app.upload_photo(&tokens.access, png(64, 64), "first.png").await;
    let mut truncated = jpeg_with_gps();
    truncated.truncate(truncated.len() / 2);

    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("a decompression bomb", png_declaring_a_huge_image(), "megapixels"),
        ("a text file named .jpg", b"<html>definitely a photo</html>".to_vec(), "not a PNG, JPEG, GIF or WebP"),
        ("a truncated JPEG", truncated, "damaged or incomplete"),
    ];
    for (what, bytes, reason) in cases {
        let me = app.upload_photo(&tokens.access, bytes, "photo.jpg").await;

        assert_eq!(me["photo_status"], "failed", "{what}");
        assert!(me["photo_error"].as_str().unwrap().contains(reason), "{what}: {}", me["photo_error"]);
        assert_eq!(me["photo_url"], before["photo_url"], "{what}: the earlier photo stays");
    }
    let still = app.fetch(before["photo_url"].as_str().unwrap()).await;
    assert_eq!(still.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_upload_over_the_size_cap_never_becomes_a_photo() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;
    let upload = app.put_photo(&tokens.access).await;
    assert_eq!(upload["form"]["max_bytes"], 5 * 1024 * 1024);
    let mut oversized = png(16, 16);
    oversized.resize(5 * 1024 * 1024 + 1, 0);

    let response = app.post_upload(&upload, oversized, "big.png").await;

    // Refused at the door where the store enforces the form's cap (S3, the local server); an
    // emulator that does not is caught by the worker.
    if response.status().is_success() {
        let me = app.photo_settled(&tokens.access).await;
        assert_eq!(
            (me["photo_status"].as_str(), me["photo_error"].as_str()),
            (Some("failed"), Some("the file is larger than 5 MiB"))
        );
    } else {
        assert!(matches!(response.status().as_u16(), 400 | 413), "{}", response.status());
        let me: Value = app.get_me(&tokens.access).await.json().await.unwrap();
        assert_eq!(me["photo_url"], Value::Null);
    }
}

#[tokio::test]
async fn a_removed_photo_is_gone_from_the_profile_and_from_storage() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;
    let me = app.upload_photo(&tokens.access, png(100, 100), "me.png").await;
    let url = me["photo_url"].as_str().unwrap().to_string();

    let response = app.client.delete(app.url("/api/v1/user/photo")).bearer_auth(&tokens.access).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let me: Value = app.get_me(&tokens.access).await.json().await.unwrap();
    assert_eq!((me["photo_url"].clone(), me["photo_status"].clone()), (Value::Null, Value::Null));
    assert!(app.gone_eventually(&url).await, "the file is gone");
}

#[tokio::test]
async fn a_deleted_accounts_photos_go_with_it() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;
    let me = app.upload_photo(&tokens.access, png(100, 100), "me.png").await;

    assert_eq!(app.delete_me(&tokens.access, PASSWORD).await.status(), StatusCode::NO_CONTENT);

    for field in ["photo_url", "thumbnail_url"] {
        assert!(app.gone_eventually(me[field].as_str().unwrap()).await, "{field} is gone");
    }
}

#[tokio::test]
async fn only_the_newest_upload_form_makes_the_photo() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;
    let older = app.put_photo(&tokens.access).await;
    let newer = app.put_photo(&tokens.access).await;

    app.post_upload(&older, png(50, 50), "old.png").await;
    app.post_upload(&newer, png(70, 70), "new.png").await;
    let me = app.photo_settled(&tokens.access).await;

    assert_eq!(me["photo_status"], "ready");
    assert!(me["photo_url"].as_str().unwrap().contains(newer["upload_id"].as_str().unwrap()));
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_a_form_cannot_be_bent_to_upload_into_another_account() {
    let app = spawn_app().await;
    let ada = app.signed_up("reader", "ada@example.com").await;
    let grace = app.signed_up("reader", "grace@example.com").await;
    let grace_id = app.get_me(&grace.access).await.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let mut upload = app.put_photo(&ada.access).await;
    upload["form"]["fields"]["key"] = format!("uploads/{grace_id}/{}", upload["upload_id"].as_str().unwrap()).into();

    let response = app.post_upload(&upload, png(10, 10), "x.png").await;

    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    let mut forged = app.put_photo(&ada.access).await;
    forged["form"]["fields"]["policy"] = "eyJrZXkiOiJ4In0.AAAA".into();
    assert_eq!(app.post_upload(&forged, png(10, 10), "x.png").await.status(), StatusCode::FORBIDDEN);
}

/// A whole JPEG cut in half, with a comment segment up front holding the bytes of a
/// start-of-scan and an end-of-image marker: what fooled a byte scan for completeness.
fn jpeg_cut_short_with_markers_in_a_comment() -> Vec<u8> {
    let image = image::RgbImage::from_fn(400, 300, |x, y| image::Rgb([x as u8, y as u8, 60]));
    let mut whole = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut whole), image::ImageFormat::Jpeg).unwrap();
    let comment = [0xFF, 0xDA, 0x00, 0x00, 0xFF, 0xD9];
    let mut forged = vec![0xFF, 0xD8, 0xFF, 0xFE, 0x00, comment.len() as u8 + 2];
    forged.extend_from_slice(&comment);
    forged.extend_from_slice(&whole[2..whole.len() / 2]);
    forged
}

#[tokio::test]
async fn a_jpeg_cut_short_is_refused_whatever_its_comment_holds() {
    let app = spawn_app().await;
    let ada = app.signed_up("reader", "ada@example.com").await;

    let me = app.upload_photo(&ada.access, jpeg_cut_short_with_markers_in_a_comment(), "me.jpg").await;

    assert_eq!(me["photo_status"], "failed", "{me}");
    assert_eq!(me["photo_url"], Value::Null);
}

// In process only: S3 takes any upload its policy allows; the photo worker discards it.
#[tokio::test]
async fn in_process_an_upload_for_an_account_deleted_meanwhile_is_refused_cleanly() {
    let app = spawn_app().await;
    let ada = app.signed_up("reader", "ada@example.com").await;
    let upload = app.put_photo(&ada.access).await;
    assert_eq!(app.delete_me(&ada.access, PASSWORD).await.status(), StatusCode::NO_CONTENT);

    // Posted over and over as the photo worker removes the account's folder: never a 500.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(app.post_upload(&upload, png(64, 64), "me.png").await.status().as_u16());
    }
    assert!(statuses.iter().all(|s| *s == 403), "{statuses:?}");
}
