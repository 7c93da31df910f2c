//! Registration, confirmation, the session a login is granted, and password changes.

use time::{Duration, OffsetDateTime};

use super::{AccountError, AccountResult, Lifecycle};
use crate::{
    domain::{AccountStatus, EmailAddress, LinkedIdentity, PasswordHash, Profile, Role, User, UserId},
    ports::{CheckKey, Job, JobQueue, LinkRequest, OneTimeToken, Session, StoreError, TokenKind},
};

/// How a new account's email address gets confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// The account starts pending and is emailed a confirmation link.
    ByEmail,
    /// An operator vouches for the address (`ums admin create`): the account starts active.
    VouchedByOperator,
}

impl Lifecycle<'_> {
    /// Creates an account, pending or active as `confirmation` says, and queues the
    /// confirmation link of a pending one. A pending account that held the address is
    /// replaced, and its links die with it.
    pub async fn register(
        &self,
        jobs: &dyn JobQueue,
        email: EmailAddress,
        profile: Profile,
        password_hash: PasswordHash,
        role: Role,
        confirmation: Confirmation,
    ) -> AccountResult<User> {
        let now = self.now();
        let vouched = confirmation == Confirmation::VouchedByOperator;
        let status = if vouched { AccountStatus::Active } else { AccountStatus::Pending };
        let mut user = new_account(now, email, role, status, profile);
        user.password_hash = Some(password_hash);
        user.email_confirmed_at = vouched.then_some(now);
        self.accounts.create_account(&user).await?;
        tracing::info!(user_id = %user.id, role = role.as_str(), "account registered");
        if confirmation == Confirmation::ByEmail {
            let request = LinkRequest {
                kind: TokenKind::EmailConfirmation,
                email: user.email.key(),
                user_id: Some(user.id.clone()),
            };
            jobs.enqueue(&Job::SendLink(request)).await?;
        }
        Ok(user)
    }

    /// Creates a reader's account for a provider's account nobody has linked: active at once
    /// (the provider vouched for the address), without a password, the identity linked in the
    /// same write. Fails with [`AccountError::IdentityTaken`] when another account took the
    /// identity meanwhile, and [`AccountError::EmailTaken`] when one holds the address.
    pub async fn join_with_identity(
        &self,
        email: EmailAddress,
        profile: Profile,
        identity: LinkedIdentity,
    ) -> AccountResult<User> {
        let now = self.now();
        let mut user = new_account(now, email, Role::Reader, AccountStatus::Active, profile);
        user.email_confirmed_at = Some(now);
        user.identities.push(identity);
        self.accounts.create_account(&user).await?;
        tracing::info!(user_id = %user.id, "account made by a provider's sign-in");
        Ok(user)
    }

    /// Creates a reader's account for an address proven by an emailed code or link: active at
    /// once, without a password (it may set one by the reset flow, or never). Replaces a
    /// registration never confirmed (its password goes with it); fails with
    /// [`AccountError::EmailTaken`] when a confirmed account holds the address.
    pub async fn join_by_email(&self, email: EmailAddress, profile: Profile) -> AccountResult<User> {
        let now = self.now();
        let mut user = new_account(now, email, Role::Reader, AccountStatus::Active, profile);
        user.email_confirmed_at = Some(now);
        self.accounts.create_account(&user).await?;
        tracing::info!(user_id = %user.id, "account made by a sign-in by email");
        Ok(user)
    }

    /// Activates the account a confirmation link (taken by the caller) was issued for.
    pub async fn confirm_email(&self, link: &OneTimeToken, pending_ttl: Duration) -> AccountResult<User> {
        let now = self.now();
        let (user, ()) = self
            .modify(&link.user_id, |user| {
                ensure_current(link, user, now, pending_ttl)?;
                prove_address(user, now);
                Ok(())
            })
            .await
            .map_err(missing_is_invalid_link)?;
        tracing::info!(user_id = %user.id, "email confirmed");
        Ok(user)
    }

    /// Starts `session` for `user` as its login read it, the password just verified: written
    /// only while the account is still at the credential and access versions read, in one
    /// atomic store call with the forgetting of `forget_checks`. So a password, role or status
    /// change racing the login leaves no session behind (`Conflict`). A suspension past its
    /// end date is lifted first; a pending or suspended account gets no session.
    pub async fn grant_session(
        &self,
        user: User,
        mut session: Session,
        forget_checks: Option<CheckKey<'_>>,
    ) -> AccountResult<User> {
        let now = self.now();
        let user = if user.suspension_is_over(now) { self.lift_suspension(&user).await? } else { user };
        match &user.status {
            AccountStatus::Active => {}
            AccountStatus::Pending => return Err(AccountError::EmailNotConfirmed),
            AccountStatus::Suspended(suspension) => return Err(AccountError::Suspended { until: suspension.until }),
        }
        session.user_id = user.id.clone();
        (session.credential_version, session.access_version) = (user.credential_version, user.access_version);
        match self.sessions.create_session(&session, forget_checks).await {
            Ok(()) => Ok(user),
            Err(StoreError::Conflict) => Err(AccountError::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    /// A suspension past its end date is written off at the account's next login: the date
    /// alone decides, so nothing has to run at the end date. Only if the account is still at
    /// the credential the login verified.
    async fn lift_suspension(&self, read: &User) -> AccountResult<User> {
        let now = self.now();
        let verified = read.credential_version;
        let (user, ()) = self
            .modify(&read.id, |user| {
                if user.credential_version != verified {
                    return Err(AccountError::Conflict);
                }
                if user.suspension_is_over(now) {
                    user.status = AccountStatus::Active;
                }
                Ok(())
            })
            .await?;
        tracing::info!(user_id = %user.id, "suspension over; account active again");
        Ok(user)
    }

    /// Sets a new password, if the account is still at the credential whose password the
    /// caller just checked (`Conflict` otherwise). Every session ends; a pending email change
    /// asked for with the old password is void.
    pub async fn change_password(&self, id: &UserId, verified: u64, new_hash: PasswordHash) -> AccountResult<User> {
        let (user, ()) = self
            .modify(id, |user| {
                if user.credential_version != verified {
                    return Err(AccountError::Conflict);
                }
                set_password(user, &new_hash);
                Ok(())
            })
            .await?;
        tracing::info!(user_id = %user.id, "password changed; all sessions ended");
        Ok(user)
    }

    /// Sets a new password with a reset link (taken by the caller). The link proves the
    /// address too, so a pending account becomes active. Every session ends.
    pub async fn reset_password(
        &self,
        link: &OneTimeToken,
        new_hash: PasswordHash,
        pending_ttl: Duration,
    ) -> AccountResult<User> {
        let now = self.now();
        let (user, ()) = self
            .modify(&link.user_id, |user| {
                ensure_current(link, user, now, pending_ttl)?;
                set_password(user, &new_hash);
                prove_address(user, now);
                Ok(())
            })
            .await
            .map_err(missing_is_invalid_link)?;
        tracing::info!(user_id = %user.id, "password reset; all sessions ended");
        Ok(user)
    }

    /// Moves the account's reset generation on, so that only the link about to be issued
    /// works (each reset request makes the links sent before it unusable).
    pub async fn next_reset_generation(&self, id: &UserId) -> AccountResult<User> {
        let (user, ()) = self
            .modify(id, |user| {
                user.reset_generation += 1;
                Ok(())
            })
            .await?;
        Ok(user)
    }
}

/// A new account with nothing set but what it is given.
fn new_account(now: OffsetDateTime, email: EmailAddress, role: Role, status: AccountStatus, profile: Profile) -> User {
    User {
        id: UserId::generate(),
        email,
        role,
        status,
        profile,
        password_hash: None,
        email_confirmed_at: None,
        created_at: now,
        updated_at: now,
        version: 0,
        credential_version: 0,
        reset_generation: 0,
        access_version: 0,
        pending_email: None,
        factors: Default::default(),
        photo_id: None,
        photo_upload: None,
        photo_status: None,
        photo_error: None,
        known_devices: Vec::new(),
        identities: Vec::new(),
    }
}

/// An emailed link was followed: the address is proven, so a pending account becomes active.
fn prove_address(user: &mut User, now: time::OffsetDateTime) {
    if user.status == AccountStatus::Pending {
        user.status = AccountStatus::Active;
    }
    user.email_confirmed_at.get_or_insert(now);
}

fn set_password(user: &mut User, hash: &PasswordHash) {
    user.password_hash = Some(hash.clone());
    user.credential_version += 1;
    // A new password voids an email change asked for with the old one.
    user.pending_email = None;
}

/// A link is good only for the account, address, credential and (for resets) the newest
/// request it was issued for, and not for a registration past its time.
fn ensure_current(
    link: &OneTimeToken,
    user: &User,
    now: time::OffsetDateTime,
    pending_ttl: Duration,
) -> AccountResult<()> {
    let current = user.email.key() == link.email_key
        && user.credential_version == link.credential_version
        && (link.kind != TokenKind::PasswordReset || user.reset_generation == link.reset_generation)
        && !user.is_expired_pending(now, pending_ttl);
    if current { Ok(()) } else { Err(AccountError::InvalidLink) }
}

/// The account a link names is gone: the link is as good as invalid.
pub(super) fn missing_is_invalid_link(e: AccountError) -> AccountError {
    match e {
        AccountError::NotFound => AccountError::InvalidLink,
        e => e,
    }
}
