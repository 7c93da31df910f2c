use async_trait::async_trait;
use time::OffsetDateTime;

use super::{CheckKey, StoreResult};
use crate::domain::UserId;

/// A login session: what a refresh token refreshes and what every access token points to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub user_id: UserId,
    /// SHA-256 of the current refresh token's secret; the token itself is never stored.
    pub refresh_hash: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// The account's credential version when the session began: a password change or reset
    /// moves the account on, and no session of an older credential may be written after it.
    pub credential_version: u64,
    /// The account's access version (role and status) when the session began: a role or
    /// status change moves the account on, and no session of an older one may be written.
    pub access_version: u64,
    /// Hashes of the refresh secrets this session had before, newest first (at most
    /// [`REMEMBERED_REFRESH_HASHES`]): presenting one of them is reuse of a stolen token.
    pub previous_hashes: Vec<String>,
    /// When the refresh token last rotated.
    pub rotated_at: Option<OffsetDateTime>,
    /// How the login proved who it was (RFC 8176 names: `pwd`, `otp`, `mfa`), carried into
    /// every access token of the session.
    pub amr: Vec<String>,
    /// Where the login came from (the client's address) and on what (a short description of
    /// its User-Agent): shown to the account's owner to recognise it, never used to decide.
    pub source: Option<String>,
    pub device: Option<String>,
    /// A console session (a browser's cookie, never refreshed): when it was last used, for its
    /// idle timeout. `None` for the API's sessions.
    pub seen_at: Option<OffsetDateTime>,
    /// A console session's last step-up (its holder proved who they were again); `None`: its
    /// sign-in was the last proof.
    pub proved_at: Option<OffsetDateTime>,
}

impl Session {
    /// When the session was last used to get tokens: its login, or its latest refresh.
    pub fn last_used_at(&self) -> OffsetDateTime {
        self.seen_at.or(self.rotated_at).unwrap_or(self.created_at)
    }

    /// Whether this is a console session (a browser's cookie) rather than an API client's.
    pub fn is_console(&self) -> bool {
        self.seen_at.is_some()
    }
}

/// How many earlier refresh secrets a session remembers, to tell reuse from garbage.
pub const REMEMBERED_REFRESH_HASHES: usize = 8;

impl Session {
    /// The history after rotating away from `presented`.
    pub fn history_after(&self, presented: &str) -> Vec<String> {
        std::iter::once(presented.to_string())
            .chain(self.previous_hashes.iter().cloned())
            .take(REMEMBERED_REFRESH_HASHES)
            .collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    Rotated,
    /// The presented hash was not the current one (already used, or a lost race).
    Stale,
    /// No such session (ended or expired).
    Missing,
}

/// Sessions, found through their user: ending all of a user's sessions is then one strongly
/// consistent query on DynamoDB.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Writes the session only if its account exists and is still at
    /// `session.credential_version` and `session.access_version`, atomically; otherwise
    /// [`super::StoreError::Conflict`].
    /// With `forget_checks`, the password checks counted for them are forgotten in the same
    /// step (a login's last store call).
    async fn create_session(&self, session: &Session, forget_checks: Option<CheckKey<'_>>) -> StoreResult<()>;
    async fn session(&self, user_id: &UserId, id: &str) -> StoreResult<Option<Session>>;
    /// Replaces the refresh hash with `new_hash`, the history with `history` and the rotation
    /// time with `now`, only if the refresh hash still equals `presented_hash`.
    async fn rotate_session(
        &self,
        user_id: &UserId,
        id: &str,
        presented_hash: &str,
        new_hash: &str,
        history: &[String],
        now: OffsetDateTime,
    ) -> StoreResult<Rotation>;
    /// Marks a console session used at `seen_at` (and proved again at `proved_at`, if given),
    /// only if its refresh hash is still `hash`; false if it is not (ended, or another secret).
    async fn touch_session(
        &self,
        user_id: &UserId,
        id: &str,
        hash: &str,
        seen_at: OffsetDateTime,
        proved_at: Option<OffsetDateTime>,
    ) -> StoreResult<bool>;
    /// Every session of the user (for the owner's data export), oldest first.
    async fn user_sessions(&self, user_id: &UserId) -> StoreResult<Vec<Session>>;
    async fn delete_session(&self, user_id: &UserId, id: &str) -> StoreResult<()>;
    async fn delete_user_sessions(&self, user_id: &UserId) -> StoreResult<()>;
}
