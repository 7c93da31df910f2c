//! Photos on disk, under the data directory's `files/`, with the two routes that stand in for
//! S3 on the laptop: an upload form's target (`POST /local/photo-uploads`) and the photo files
//! (`GET /files/photos/...`). Neither is part of the API contract: on AWS, S3 and CloudFront
//! answer them.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use async_trait::async_trait;
use axum::{
    Router,
    extract::{DefaultBodyLimit, Multipart, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;
use time::OffsetDateTime;

use crate::{
    clock::Clock,
    credentials::JwtKeys,
    domain::photo_keys,
    http::{ApiError, PathParam},
    photos::MAX_UPLOAD_BYTES,
    ports::{AccountStore, Job, JobQueue, PhotoStore, Upload, UploadForm, UploadForms},
};

/// The sealed field of an upload form names its listing so it opens nowhere else.
const FORM_SEAL: &str = "local-photo-upload";

#[derive(Clone)]
pub struct DiskPhotos {
    root: PathBuf,
    /// Where the upload route is reached (the public URL).
    public_url: String,
    keys: Arc<JwtKeys>,
}

impl DiskPhotos {
    pub fn new(root: PathBuf, public_url: &str, keys: Arc<JwtKeys>) -> Self {
        Self { root, public_url: public_url.to_string(), keys }
    }

    /// The file of `key`; keys are ours (ids and fixed words), checked again here.
    fn path(&self, key: &str) -> anyhow::Result<PathBuf> {
        let plain = key.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with('.')
                && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
        anyhow::ensure!(plain, "not a photo key: {key:?}");
        Ok(self.root.join(key))
    }
}

#[async_trait]
impl UploadForms for DiskPhotos {
    async fn upload_form(&self, key: &str, max_bytes: u64, expires_at: OffsetDateTime) -> anyhow::Result<UploadForm> {
        let policy = json!({ "key": key, "max_bytes": max_bytes, "expires_at": expires_at.unix_timestamp() });
        let fields = BTreeMap::from([
            ("key".to_string(), key.to_string()),
            ("policy".to_string(), self.keys.cursor_signer().await.seal_for(FORM_SEAL, &policy)),
        ]);
        Ok(UploadForm { url: format!("{}/local/photo-uploads", self.public_url), fields, max_bytes, expires_at })
    }
}

#[async_trait]
impl PhotoStore for DiskPhotos {
    async fn read(&self, key: &str, max_bytes: u64) -> anyhow::Result<Upload> {
        let path = self.path(key)?;
        match tokio::fs::metadata(&path).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Upload::Missing),
            Err(e) => Err(e.into()),
            Ok(meta) if meta.len() > max_bytes => Ok(Upload::TooLarge),
            Ok(_) => Ok(Upload::Bytes(tokio::fs::read(&path).await?)),
        }
    }

    async fn write(&self, key: &str, bytes: Vec<u8>, _content_type: &str) -> anyhow::Result<()> {
        let path = self.path(key)?;
        write_whole(&path, &bytes).await
    }

    async fn delete(&self, keys: &[String]) -> anyhow::Result<()> {
        for key in keys {
            match tokio::fs::remove_file(self.path(key)?).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> anyhow::Result<()> {
        let dir = self.path(prefix.trim_end_matches('/'))?;
        match tokio::fs::remove_dir_all(&dir).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// Written beside and renamed into place: a reader never sees half a file. A folder removed
/// meanwhile (the photo worker deleting an account's files) is made again, as S3 would take
/// the object whatever was deleted before.
async fn write_whole(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let partial = path.with_extension("partial");
    let mut attempts = 0;
    loop {
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let written = match tokio::fs::write(&partial, bytes).await {
            Ok(()) => tokio::fs::rename(&partial, path).await,
            Err(e) => Err(e),
        };
        match written {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 3 => attempts += 1,
            other => return Ok(other?),
        }
    }
}

#[derive(Clone)]
pub struct LocalFiles {
    pub photos: DiskPhotos,
    /// Whose upload a form is for: a deleted account's form no longer works.
    pub accounts: Arc<dyn AccountStore>,
    pub jobs: Arc<dyn JobQueue>,
    pub clock: Arc<dyn Clock>,
}

/// The upload target and the photo files, each with its own body limit.
pub fn files_router(files: LocalFiles) -> Router {
    Router::new()
        .route("/local/photo-uploads", post(upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES as usize + 64 * 1024)))
        .route("/files/photos/{*key}", get(photo_file))
        .with_state(files)
}

/// What S3 does with a presigned POST, on the laptop: the sealed policy fixes the key, the size
/// cap and the expiry; the file is stored and its processing queued (S3's notification on AWS).
async fn upload(State(files): State<LocalFiles>, mut form: Multipart) -> Result<StatusCode, ApiError> {
    let mut fields = BTreeMap::new();
    let malformed = |why: &str| ApiError::MalformedJson(format!("upload form: {why}"));
    while let Some(mut field) = form.next_field().await.map_err(|e| malformed(&e.body_text()))? {
        let name = field.name().unwrap_or_default().to_string();
        if name != "file" {
            fields.insert(name, field.text().await.map_err(|e| malformed(&e.body_text()))?);
            continue;
        }
        let policy = fields.get("policy").ok_or_else(|| malformed("the policy field must come before the file"))?;
        let policy =
            files.photos.keys.cursor_signer().await.open_for(FORM_SEAL, policy).map_err(|_| ApiError::Forbidden)?;
        let key = policy["key"].as_str().unwrap_or_default().to_string();
        let max_bytes = policy["max_bytes"].as_u64().unwrap_or(0);
        let expired = policy["expires_at"].as_i64().is_none_or(|t| t <= files.clock.now().unix_timestamp());
        if expired || fields.get("key") != Some(&key) {
            return Err(ApiError::Forbidden);
        }
        let (user_id, upload_id) = photo_keys::parse_upload(&key).ok_or(ApiError::Forbidden)?;
        // The account went since the form was handed out: the form went with it (S3 would
        // take the file, and the photo worker discard it; here it is refused at once).
        if files.accounts.account(&user_id).await?.is_none() {
            return Err(ApiError::Forbidden);
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| malformed(&e.body_text()))? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > max_bytes {
                return Err(ApiError::PayloadTooLarge);
            }
        }
        files.photos.write(&key, bytes, "application/octet-stream").await?;
        files.jobs.enqueue(&Job::ProcessPhoto { user_id, upload_id }).await?;
        return Ok(StatusCode::NO_CONTENT);
    }
    Err(malformed("no file field"))
}

async fn photo_file(State(files): State<LocalFiles>, PathParam(key): PathParam<String>) -> Response {
    let Ok(path) = files.photos.path(&format!("photos/{key}")) else { return ApiError::NotFound.into_response() };
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            [(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "public, max-age=31536000, immutable")],
            bytes,
        )
            .into_response(),
        Err(_) => ApiError::NotFound.into_response(),
    }
}
