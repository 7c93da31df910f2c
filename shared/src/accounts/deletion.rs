//! Deleting an account: the account and its address go in the request's one atomic write, its
//! sessions at once; the rest (subscriptions and follows both ways with their counts, emailed
//! links, photo files) is erased by jobs that are retried until done and resume where they
//! stopped, so an author with a million subscribers is deleted as fast as one with none.

use super::{AccountError, AccountResult, Lifecycle};
use crate::{
    domain::{Role, User, UserId},
    ports::{ActivityStore, EmailJob, EmailMessage, Job, JobQueue, SocialStore, StoreError, TokenStore},
};

/// Subscriptions and follows one erasure job removes before it queues the next.
pub const ERASE_PAGE: u32 = 250;

/// Which account goes, and what it must still be for it to go.
#[derive(Debug)]
pub struct Deletion<'a> {
    pub id: &'a UserId,
    /// The role the account must have (the routes narrowed to one role answer 404 otherwise).
    pub role: Option<Role>,
    /// The credential whose password the caller just checked (`Conflict` if it changed).
    pub verified: Option<u64>,
    /// The account as the caller just read it, if it did; a lost race reads it afresh.
    pub read: Option<User>,
}

impl Lifecycle<'_> {
    /// Deletes the account and frees its address atomically (never the last active admin),
    /// ends its sessions, queues the erasure of what hangs off it (its photo files; its links,
    /// subscriptions and follows) and a goodbye email to the address.
    pub async fn delete_account(&self, jobs: &dyn JobQueue, mut deletion: Deletion<'_>) -> AccountResult<()> {
        let id = deletion.id;
        for _ in 0..super::WRITE_ATTEMPTS {
            let user = match deletion.read.take() {
                Some(user) => user,
                None => self.accounts.account(id).await?.ok_or(AccountError::NotFound)?,
            };
            if deletion.role.is_some_and(|role| user.role != role) {
                return Err(AccountError::NotFound);
            }
            if deletion.verified.is_some_and(|checked| checked != user.credential_version) {
                return Err(AccountError::Conflict); // the password changed since it was checked
            }
            match self.accounts.delete_account(&user).await {
                Ok(()) => {
                    // Queued first: the files are personal data, and their deletion is
                    // retried on its own whatever befalls the steps after this one.
                    jobs.enqueue(&Job::DeleteAccountPhotos { user_id: id.clone() }).await?;
                    self.sessions.delete_user_sessions(id).await?;
                    jobs.enqueue(&Job::EraseAccountData { user_id: id.clone() }).await?;
                    let goodbye = EmailJob { to: user.email.to_string(), message: EmailMessage::AccountDeleted };
                    jobs.enqueue(&Job::SendEmail(goodbye)).await?;
                    tracing::info!(user_id = %id, "account deleted");
                    return Ok(());
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AccountError::Conflict)
    }
}

/// One step of a deleted account's erasure: its emailed links and security activity, then up to [`ERASE_PAGE`] of
/// its subscriptions and follows (both ways, each with its counts); if some may remain, the
/// next step is queued. Each step starts from what is left, so a step redelivered or run
/// twice removes nothing twice, and a step that died is taken up where it stopped.
pub async fn erase_account_data(
    social: &dyn SocialStore,
    tokens: &dyn TokenStore,
    activity: &dyn ActivityStore,
    jobs: &dyn JobQueue,
    user_id: &UserId,
) -> anyhow::Result<()> {
    tokens.delete_user_tokens(user_id).await?;
    activity.delete_user_activity(user_id).await?;
    let more = social.delete_user_edges(user_id, ERASE_PAGE).await?;
    if more {
        jobs.enqueue(&Job::EraseAccountData { user_id: user_id.clone() }).await?;
    } else {
        tracing::info!(%user_id, "deleted account erased");
    }
    Ok(())
}
