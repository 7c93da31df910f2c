use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreResult;
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
    async fn create_session(&self, session: &Session) -> StoreResult<()>;
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
}
