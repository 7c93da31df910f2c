//! What an account's owner changes about themselves: the profile and the photo's state.

use super::{AccountError, AccountResult, Lifecycle};
use crate::{
    domain::{PhotoStatus, Profile, User, UserId},
    ports::{Job, JobQueue},
};

/// Changes to the profile, each optional: `None` keeps the field; `Some(None)` clears it
/// (a required name then fails validation).
#[derive(Clone, Debug, Default)]
pub struct ProfileChanges {
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub nickname: Option<Option<String>>,
    pub bio: Option<Option<String>>,
}

impl ProfileChanges {
    /// Merges the changes into the account as read and validates the result whole, by the
    /// registration rules: a retry merges into the fresh read.
    pub fn apply(&self, user: &mut User) -> AccountResult<()> {
        let pick =
            |change: &Option<Option<String>>, now: Option<&String>| change.clone().unwrap_or_else(|| now.cloned());
        let first_name = pick(&self.first_name, Some(&user.profile.first_name)).unwrap_or_default();
        let last_name = pick(&self.last_name, Some(&user.profile.last_name)).unwrap_or_default();
        let nickname = pick(&self.nickname, user.profile.nickname.as_ref());
        let bio = pick(&self.bio, user.profile.bio.as_ref());
        // An account made without a last name keeps none until one is given; one given (or one
        // it has) is required as at registration.
        let last_name_required = self.last_name.is_some() || !user.profile.last_name.is_empty();
        let mut errors = Vec::new();
        let last = (last_name.as_str(), last_name_required);
        user.profile = Profile::parse_names(&first_name, last, nickname.as_deref(), bio.as_deref(), &mut errors)
            .ok_or(AccountError::Invalid(errors))?;
        Ok(())
    }
}

/// What the photo worker made of an upload.
#[derive(Clone, Debug)]
pub enum PhotoOutcome {
    /// The photo's files are written, under the upload's id.
    Photo,
    /// Refused, and why, in words for the owner.
    Refused(String),
}

impl Lifecycle<'_> {
    /// The owner's profile changes.
    pub async fn update_profile(&self, id: &UserId, changes: &ProfileChanges) -> AccountResult<User> {
        let (user, ()) = self.modify(id, |user| changes.apply(user)).await?;
        tracing::info!(user_id = %user.id, "profile updated");
        Ok(user)
    }

    /// A new upload form was handed out: only its upload may become the photo.
    pub async fn expect_photo_upload(&self, id: &UserId, upload_id: &str) -> AccountResult<()> {
        self.modify(id, |user| {
            user.photo_upload = Some(upload_id.to_string());
            user.photo_status = Some(PhotoStatus::AwaitingUpload);
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// The photo is gone from the profile at once (an upload in flight is cancelled); the
    /// photo worker deletes its files.
    pub async fn remove_photo(&self, photo_jobs: &dyn JobQueue, id: &UserId) -> AccountResult<()> {
        let (_, removed) = self
            .modify(id, |user| {
                let removed = user.photo_id.take();
                (user.photo_upload, user.photo_status, user.photo_error) = (None, None, None);
                Ok(removed)
            })
            .await?;
        if let Some(photo_id) = removed {
            photo_jobs.enqueue(&Job::DeletePhoto { user_id: id.clone(), photo_id }).await?;
        }
        tracing::info!(user_id = %id, "photo removed");
        Ok(())
    }

    /// Records what became of the upload `upload_id`, if it is still the one the account
    /// expects (`Conflict` if a newer upload or a removal came first; `NotFound` if the account
    /// is gone). Returns the photo it replaced, whose files are now unused.
    pub async fn record_photo(
        &self,
        id: &UserId,
        upload_id: &str,
        outcome: &PhotoOutcome,
    ) -> AccountResult<Option<String>> {
        let (_, previous) = self
            .modify(id, |user| {
                if user.photo_upload.as_deref() != Some(upload_id) {
                    return Err(AccountError::Conflict);
                }
                user.photo_upload = None;
                Ok(match outcome {
                    PhotoOutcome::Photo => {
                        (user.photo_status, user.photo_error) = (Some(PhotoStatus::Ready), None);
                        user.photo_id.replace(upload_id.to_string())
                    }
                    PhotoOutcome::Refused(why) => {
                        (user.photo_status, user.photo_error) = (Some(PhotoStatus::Failed), Some(why.clone()));
                        None
                    }
                })
            })
            .await?;
        Ok(previous)
    }
}
