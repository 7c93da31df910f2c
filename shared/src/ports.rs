//! What the domain needs from the outside world, shaped so that an embedded database and
//! DynamoDB can both implement it with the same behaviour: every check-then-act is one atomic
//! call here (unique email, single-use tokens, rotating refresh tokens, counters).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    domain::{Role, User, UserId},
    pagination::Position,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another account already holds this email (compared without case).
    #[error("email already registered")]
    EmailTaken,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A login session: what a refresh token refreshes and what every access token points to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub user_id: UserId,
    /// SHA-256 of the current refresh token's secret; the token itself is never stored.
    pub refresh_hash: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    EmailConfirmation,
    PasswordReset,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::EmailConfirmation => "email_confirmation",
            TokenKind::PasswordReset => "password_reset",
        }
    }
}

/// A single-use token sent by email, stored by its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OneTimeToken {
    pub hash: String,
    pub kind: TokenKind,
    pub user_id: UserId,
    /// The address the token was sent to: a confirmation is only good for that address.
    pub email_key: String,
    pub expires_at: OffsetDateTime,
}

/// Failed logins counted for one key since the last success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginFailures {
    pub count: u32,
    pub last_failure_at: OffsetDateTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    Rotated,
    /// The presented hash was not the current one (already used, or a lost race).
    Stale,
    /// No such session (ended or expired).
    Missing,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Fails with [`StoreError::EmailTaken`] if the email key is taken, atomically.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    async fn user(&self, id: &UserId) -> StoreResult<Option<User>>;
    async fn user_by_email(&self, email_key: &str) -> StoreResult<Option<User>>;
    /// Replaces the stored account (same id, same email).
    async fn update_user(&self, user: &User) -> StoreResult<()>;
    /// Up to `limit` accounts after `after` (a position this store returned), ordered by role
    /// name then age (ids are time-ordered), or by age within one role; and the position after
    /// the last one, if there may be more.
    async fn list_users(
        &self,
        role: Option<Role>,
        limit: u32,
        after: Option<&Position>,
    ) -> StoreResult<(Vec<User>, Option<Position>)>;

    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    /// Sessions are found through their user: ending all of a user's sessions is then one
    /// strongly consistent query on DynamoDB.
    async fn session(&self, user_id: &UserId, id: &str) -> StoreResult<Option<Session>>;
    /// Replaces the refresh hash only if it still equals `presented_hash`.
    async fn rotate_session(
        &self,
        user_id: &UserId,
        id: &str,
        presented_hash: &str,
        new_hash: &str,
    ) -> StoreResult<Rotation>;
    async fn delete_session(&self, user_id: &UserId, id: &str) -> StoreResult<()>;
    async fn delete_user_sessions(&self, user_id: &UserId) -> StoreResult<()>;

    async fn put_token(&self, token: &OneTimeToken) -> StoreResult<()>;
    /// Removes and returns the token if it exists with this kind: a token can be taken once.
    /// A token of another kind is left alone and not returned.
    async fn take_token(&self, kind: TokenKind, hash: &str) -> StoreResult<Option<OneTimeToken>>;

    async fn login_failures(&self, key: &str) -> StoreResult<Option<LoginFailures>>;
    /// Atomically counts one more failure; a count whose last failure is older than
    /// `forget_before` starts again at one. Returns the new state.
    async fn record_login_failure(
        &self,
        key: &str,
        now: OffsetDateTime,
        forget_before: OffsetDateTime,
    ) -> StoreResult<LoginFailures>;
    async fn clear_login_failures(&self, key: &str) -> StoreResult<()>;

    /// Atomically adds one to the counter `key` (which lives until `expires_at`) and
    /// returns the new count.
    async fn increment_counter(&self, key: &str, expires_at: OffsetDateTime) -> StoreResult<u32>;
}

/// Work done after the response, by a worker: locally a background task, on AWS a Lambda
/// fed by SQS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Job {
    SendEmail(crate::email::EmailJob),
}

#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn enqueue(&self, job: &Job) -> anyhow::Result<()>;
}

/// A rendered email, ready to hand to a mail service.
#[derive(Clone, Debug)]
pub struct OutgoingEmail {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The link the email asks its reader to open; the local outbox logs it as a convenience.
    pub action_link: Option<String>,
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &OutgoingEmail) -> anyhow::Result<()>;
}
