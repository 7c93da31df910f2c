use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreResult;

/// Failed logins counted for one key since the last success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginFailures {
    pub count: u32,
    pub last_failure_at: OffsetDateTime,
}

/// Counters behind the brute-force and abuse limits, shared by every instance of the service.
#[async_trait]
pub trait LimitStore: Send + Sync {
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
    /// Atomically adds one to the counter `key` (which lives until `expires_at`) and returns
    /// the new count.
    async fn increment_counter(&self, key: &str, expires_at: OffsetDateTime) -> StoreResult<u32>;
}
