//! The photo worker: turns an uploaded file into the profile photo, or records why not; and
//! deletes the files of removed photos and deleted accounts.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::Worker;
use crate::{
    accounts::{AccountError, Lifecycle, PhotoOutcome},
    clock::Clock,
    domain::{UserId, photo_keys},
    photos::{self, MAX_UPLOAD_BYTES},
    ports::{AccountStore, Job, PhotoStore, SessionStore, Upload},
};

#[derive(Clone)]
pub struct PhotoWorker {
    pub accounts: Arc<dyn AccountStore>,
    /// Only for the lifecycle's shape: recording a photo changes no role, status or password,
    /// so it never ends a session.
    pub sessions: Arc<dyn SessionStore>,
    pub photos: Arc<dyn PhotoStore>,
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl Worker for PhotoWorker {
    async fn handle(&self, job: &Job) -> anyhow::Result<()> {
        match job {
            Job::ProcessPhoto { user_id, upload_id } => self.process(user_id, upload_id).await,
            Job::DeletePhoto { user_id, photo_id } => self.photos.delete(&photo_keys::files(user_id, photo_id)).await,
            Job::DeleteAccountPhotos { user_id } => {
                for prefix in photo_keys::prefixes(user_id) {
                    self.photos.delete_prefix(&prefix).await?;
                }
                Ok(())
            }
            _ => anyhow::bail!("a job of another queue reached the photo worker"),
        }
    }
}

impl PhotoWorker {
    /// Processes the upload if it is still the account's newest; a redelivered or superseded
    /// upload is only cleaned up. Safe to run twice: the second run finds no upload.
    pub async fn process(&self, user_id: &UserId, upload_id: &str) -> anyhow::Result<()> {
        let upload_key = photo_keys::upload(user_id, upload_id);
        let current = self.accounts.account(user_id).await?;
        if current.as_ref().and_then(|u| u.photo_upload.as_deref()) != Some(upload_id) {
            tracing::info!(%user_id, upload_id, "an upload that is not the account's newest: discarded");
            return self.photos.delete(&[upload_key]).await;
        }
        let outcome = match self.photos.read(&upload_key, MAX_UPLOAD_BYTES).await? {
            Upload::Missing => return Ok(()), // not sent (yet): the form's next use brings it
            Upload::TooLarge => PhotoOutcome::Refused(photos::PhotoRejection::TooLarge.to_string()),
            Upload::Bytes(bytes) => {
                match tokio::task::spawn_blocking(move || photos::process(&bytes)).await.context("processing")? {
                    Ok(processed) => {
                        let [photo, thumbnail] = photo_keys::files(user_id, upload_id);
                        self.photos.write(&photo, processed.photo, "image/jpeg").await?;
                        self.photos.write(&thumbnail, processed.thumbnail, "image/jpeg").await?;
                        PhotoOutcome::Photo
                    }
                    Err(rejection) => PhotoOutcome::Refused(rejection.to_string()),
                }
            }
        };
        let lifecycle = Lifecycle {
            accounts: self.accounts.as_ref(),
            sessions: self.sessions.as_ref(),
            clock: self.clock.as_ref(),
        };
        let recorded = lifecycle.record_photo(user_id, upload_id, &outcome).await;
        let mut unused = vec![upload_key];
        match (recorded, &outcome) {
            (Ok(previous), PhotoOutcome::Photo) => {
                if let Some(old) = previous {
                    unused.extend(photo_keys::files(user_id, &old));
                }
                tracing::info!(%user_id, upload_id, "photo ready");
            }
            (Ok(_), PhotoOutcome::Refused(why)) => tracing::info!(%user_id, upload_id, reason = %why, "photo refused"),
            (Err(AccountError::Conflict | AccountError::NotFound), _) => {
                // Superseded or gone meanwhile: what this run made is nobody's photo.
                unused.extend(photo_keys::files(user_id, upload_id));
            }
            (Err(e), _) => return Err(anyhow::anyhow!("recording the photo: {e}")),
        }
        self.photos.delete(&unused).await
    }
}
