//! Changing an account's email: the new address stays pending on the account until a link
//! sent to it is followed; the old address is told at once. The unique email moves only at
//! that confirmation, in the account's conditional write, so two accounts never hold one
//! address; a registration never confirmed holds none, and gives the address up then.

use time::Duration;

use super::{AccountError, AccountResult, Lifecycle, ProfileChanges, credentials::missing_is_invalid_link};
use crate::{
    credentials::tokens::{hash_token, random_token},
    domain::{AccountStatus, EmailAddress, User, UserId},
    ports::{EmailJob, EmailMessage, Job, JobQueue, OneTimeToken, TokenKind, TokenStore},
};

/// Whether the account `id` may ask for `email`: it is free, already its own, or held only
/// by a registration never confirmed (which the confirming write removes).
pub fn begin_email_change_allowed(holder: Option<&User>, id: &UserId) -> bool {
    holder.is_none_or(|holder| holder.id == *id || holder.status == AccountStatus::Pending)
}

/// `ada@example.com` as `a**@example.com`: enough for the owner to recognise, not to harvest.
pub fn hint(email: &EmailAddress) -> String {
    let text = email.to_string();
    let (local, domain) = text.split_once('@').unwrap_or((&text, ""));
    let first: String = local.chars().take(1).collect();
    format!("{first}{}@{domain}", "*".repeat(local.chars().count().saturating_sub(1).min(8)))
}

/// An email change as asked for: the new address, the credential whose password was checked
/// for it, the profile changes sent with it, and where its link points and for how long.
pub struct EmailChange<'a> {
    pub email: &'a EmailAddress,
    pub verified: u64,
    pub profile: &'a ProfileChanges,
    pub confirm_url: &'a str,
    pub link_ttl: Duration,
}

impl Lifecycle<'_> {
    /// Records `change.email` as the account's pending address, with the profile changes asked
    /// for with it, in one write, if the account is still at the credential whose password the
    /// caller just checked (`Conflict` otherwise); asking for the current address cancels a
    /// pending change. Then issues the link to the new address (good for `link_ttl`, at
    /// `confirm_url?token=`) and the notice to the old one.
    pub async fn begin_email_change(
        &self,
        tokens: &dyn TokenStore,
        jobs: &dyn JobQueue,
        id: &UserId,
        change: EmailChange<'_>,
    ) -> AccountResult<User> {
        let EmailChange { email, verified, profile, confirm_url, link_ttl } = change;
        let (user, ()) = self
            .modify(id, |user| {
                if user.credential_version != verified {
                    return Err(AccountError::Conflict);
                }
                profile.apply(user)?;
                user.pending_email = (*email != user.email).then(|| email.clone());
                Ok(())
            })
            .await?;
        if user.pending_email.as_ref() != Some(email) {
            tracing::info!(user_id = %user.id, "email change cancelled");
            return Ok(user);
        }
        let token = random_token();
        tokens
            .put_token(&OneTimeToken {
                hash: hash_token(&token),
                kind: TokenKind::EmailChange,
                user_id: user.id.clone(),
                email_key: email.key(),
                expires_at: self.now() + link_ttl,
                credential_version: user.credential_version,
                reset_generation: user.reset_generation,
                payload: None,
            })
            .await?;
        let link = crate::credentials::tokens::with_token(confirm_url, &token);
        let confirm = EmailJob { to: email.to_string(), message: EmailMessage::ConfirmEmailChange { link } };
        let notice = EmailJob {
            to: user.email.to_string(),
            message: EmailMessage::EmailChangeRequested { new_email_hint: hint(email) },
        };
        jobs.enqueue(&Job::SendEmail(confirm)).await?;
        jobs.enqueue(&Job::SendEmail(notice)).await?;
        tracing::info!(user_id = %user.id, "email change requested");
        Ok(user)
    }

    /// Moves the account to the address a change link (taken by the caller) was sent to, if
    /// it is still the pending one and the password has not changed since. `EmailTaken` if
    /// another confirmed account got the address meanwhile.
    pub async fn confirm_email_change(&self, link: &OneTimeToken) -> AccountResult<User> {
        let (user, ()) = self
            .modify(&link.user_id, |user| {
                let pending = user.pending_email.take().filter(|p| p.key() == link.email_key);
                match pending {
                    Some(email) if user.credential_version == link.credential_version => {
                        user.email = email;
                        Ok(())
                    }
                    _ => Err(AccountError::InvalidLink),
                }
            })
            .await
            .map_err(missing_is_invalid_link)?;
        tracing::info!(user_id = %user.id, "email changed");
        Ok(user)
    }
}
