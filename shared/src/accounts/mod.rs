//! The account lifecycle: every write to an account goes through here, and each operation
//! does everything its write implies (ends the sessions, queues the emails and jobs, writes
//! the audit record) in this one place. Routes and workers parse, call one operation, and
//! answer; nothing here knows about HTTP (errors are [`AccountError`], mapped to problem+json
//! in `http/error.rs`).
//!
//! Every write is [`Lifecycle::modify`]: read, change, write conditionally on the version
//! read, again on a fresh read if it lost a race. A write that changes the role or the status
//! moves the account's `access_version` and one that changes the password its
//! `credential_version`; both end every session, and a session is only granted while the
//! account is still at the versions its login read ([`Lifecycle::grant_session`]), so no
//! session outlives such a change, however the two race.

mod access;
mod credentials;
mod deletion;
mod devices;
mod email;
mod factors;
mod profile;

pub use access::{AccessChange, StatusChange, Target};
pub use credentials::Confirmation;
pub use deletion::{Deletion, ERASE_PAGE, erase_account_data};
pub use email::{EmailChange, begin_email_change_allowed, hint};
pub use factors::{FactorRefusal, PasskeyUpdate};
pub use profile::{PhotoOutcome, ProfileChanges};

use time::OffsetDateTime;

use crate::{
    clock::Clock,
    domain::{AccountStatus, FieldError, User, UserId},
    ports::{AccountStore, SessionStore, StoreError},
};

/// Why an account operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// No such account (or not one the operation applies to).
    #[error("no such account")]
    NotFound,
    /// The account kept changing under the operation, or the credential it was asked with
    /// changed meanwhile.
    #[error("the account changed meanwhile")]
    Conflict,
    /// The write would leave no active admin.
    #[error("the last active admin")]
    LastAdmin,
    #[error("an account with this address already exists")]
    EmailTaken,
    /// A provider's account is linked to another account already.
    #[error("the provider's account is linked to another account")]
    IdentityTaken,
    /// An emailed link that does not (or no longer) match the account it names.
    #[error("the link is not valid for this account")]
    InvalidLink,
    #[error("the account is not suspended")]
    NotSuspended,
    #[error("the email is not confirmed")]
    EmailNotConfirmed,
    #[error("the account is suspended")]
    Suspended { until: Option<OffsetDateTime> },
    /// A status change asked of an account that has not confirmed its email yet.
    #[error("the account is pending")]
    PendingAccount,
    /// A second-factor operation that does not apply to the account as it is.
    #[error("second factor: {0:?}")]
    Factor(FactorRefusal),
    /// The change is not valid for the account as it is now.
    #[error("invalid change")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Store(anyhow::Error),
}

impl AccountError {
    pub(crate) fn invalid(field: &'static str, code: &'static str, detail: &str) -> Self {
        AccountError::Invalid(vec![FieldError::new(field, code, detail)])
    }
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::EmailTaken => AccountError::EmailTaken,
            StoreError::IdentityTaken => AccountError::IdentityTaken,
            StoreError::Conflict => AccountError::Conflict,
            StoreError::LastAdmin => AccountError::LastAdmin,
            StoreError::Other(e) => AccountError::Store(e),
        }
    }
}

impl From<anyhow::Error> for AccountError {
    fn from(e: anyhow::Error) -> Self {
        AccountError::Store(e)
    }
}

pub type AccountResult<T> = Result<T, AccountError>;

/// The stores every account operation writes; operations that also queue jobs, issue links or
/// write audit records take those ports as arguments, so each group holds only what it uses.
#[derive(Clone, Copy)]
pub struct Lifecycle<'a> {
    pub accounts: &'a dyn AccountStore,
    pub sessions: &'a dyn SessionStore,
    pub clock: &'a dyn Clock,
}

/// How many times a write that lost a race is tried again on a fresh read.
const WRITE_ATTEMPTS: usize = 3;

impl Lifecycle<'_> {
    /// Reads the account, applies `change` and writes it back conditionally on the version
    /// read; a write that lost a race is tried again on a fresh read (`Conflict` after three).
    /// `change` refuses (with its error) when the fresh read no longer allows it, and returns
    /// what it computed. A change of role or status moves `access_version`; that or a new
    /// password ends every session of the account.
    pub async fn modify<T>(
        &self,
        id: &UserId,
        change: impl Fn(&mut User) -> AccountResult<T>,
    ) -> AccountResult<(User, T)> {
        let now = self.clock.now();
        for _ in 0..WRITE_ATTEMPTS {
            let mut user = self.accounts.account(id).await?.ok_or(AccountError::NotFound)?;
            let (access, credential) = ((user.role, user.status.tag()), user.credential_version);
            let access_version = user.access_version;
            // A pending account was never granted a session: confirming it has none to end.
            let may_have_sessions = user.status != AccountStatus::Pending;
            let computed = change(&mut user)?;
            // A change of role or status moves the access version; a change may also move it
            // itself (a factor reset), to the same effect.
            let access_changed = (user.role, user.status.tag()) != access || user.access_version != access_version;
            if access_changed && user.access_version == access_version {
                user.access_version += 1;
            }
            user.updated_at = now;
            match self.accounts.update_account(&user).await {
                Ok(()) => {
                    user.version += 1;
                    if may_have_sessions && (access_changed || user.credential_version != credential) {
                        // Authorization reads the role in access tokens, and every request
                        // checks its session: ending the sessions ends every older token.
                        self.sessions.delete_user_sessions(id).await?;
                        tracing::info!(user_id = %id, role = user.role.as_str(), status = user.status.tag().as_str(), "access or password changed; all sessions ended");
                    }
                    return Ok((user, computed));
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AccountError::Conflict)
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}
