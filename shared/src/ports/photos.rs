use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// How a client uploads a photo: an HTML-form `POST` of `fields` (in that order) and then the
/// file as the field `file` to `url`. On AWS it is S3's presigned POST, whose signed policy
/// caps the size and fixes the key; on the laptop the local server's upload route, with the
/// same guarantees from a sealed field.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadForm {
    pub url: String,
    pub fields: BTreeMap<String, String>,
    /// The largest file accepted, in bytes.
    pub max_bytes: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
}

/// What reading an upload found.
#[derive(Debug, PartialEq, Eq)]
pub enum Upload {
    /// None there (processed and deleted already, or never sent).
    Missing,
    /// Larger than the cap: not read.
    TooLarge,
    Bytes(Vec<u8>),
}

/// Upload forms: what the users group hands out. Signing one touches no stored file.
#[async_trait]
pub trait UploadForms: Send + Sync {
    /// A form that lets its holder upload one file of at most `max_bytes` to `key`, until
    /// `expires_at`.
    async fn upload_form(&self, key: &str, max_bytes: u64, expires_at: OffsetDateTime) -> anyhow::Result<UploadForm>;
}

/// Photo files: uploads in, processed photos out, unused ones deleted. Only the photo worker
/// touches them.
#[async_trait]
pub trait PhotoStore: Send + Sync {
    /// The object at `key`, unless it is larger than `max_bytes`.
    async fn read(&self, key: &str, max_bytes: u64) -> anyhow::Result<Upload>;
    async fn write(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> anyhow::Result<()>;
    /// Deletes these objects; one that is not there is no error.
    async fn delete(&self, keys: &[String]) -> anyhow::Result<()>;
    /// Deletes every object under `prefix`.
    async fn delete_prefix(&self, prefix: &str) -> anyhow::Result<()>;
}
