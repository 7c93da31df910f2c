//! Each account's security activity: what happened to how it is signed into (logins and failed
//! attempts, password and email changes, sessions ended, sign-in alerts, factor changes), kept
//! for [`ACTIVITY_RETENTION`] and then gone by itself, read newest first by its owner and by
//! admins.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;

use super::StoreResult;
use crate::domain::UserId;

/// How long an account's security activity is kept.
pub const ACTIVITY_RETENTION: Duration = Duration::days(90);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    SignedIn,
    SignInFailed,
    PasswordChanged,
    PasswordReset,
    EmailChanged,
    SessionEnded,
    SignInAlertSent,
    FactorAdded,
    FactorRemoved,
    FactorsReset,
    RecoveryCodesReplaced,
    IdentityLinked,
    IdentityUnlinked,
}

impl ActivityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::SignedIn => "signed_in",
            ActivityKind::SignInFailed => "sign_in_failed",
            ActivityKind::PasswordChanged => "password_changed",
            ActivityKind::PasswordReset => "password_reset",
            ActivityKind::EmailChanged => "email_changed",
            ActivityKind::SessionEnded => "session_ended",
            ActivityKind::SignInAlertSent => "sign_in_alert_sent",
            ActivityKind::FactorAdded => "factor_added",
            ActivityKind::FactorRemoved => "factor_removed",
            ActivityKind::FactorsReset => "factors_reset",
            ActivityKind::RecoveryCodesReplaced => "recovery_codes_replaced",
            ActivityKind::IdentityLinked => "identity_linked",
            ActivityKind::IdentityUnlinked => "identity_unlinked",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        use ActivityKind::*;
        [
            SignedIn,
            SignInFailed,
            PasswordChanged,
            PasswordReset,
            EmailChanged,
            SessionEnded,
            SignInAlertSent,
            FactorAdded,
            FactorRemoved,
            FactorsReset,
            RecoveryCodesReplaced,
            IdentityLinked,
            IdentityUnlinked,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// One thing that happened to an account's security.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityEntry {
    /// A UUIDv7 of `at`: entries sort by it.
    pub id: String,
    pub user_id: UserId,
    pub kind: ActivityKind,
    pub at: OffsetDateTime,
    /// Where the request came from, and on what (as its User-Agent told).
    pub source: Option<String>,
    pub device: Option<String>,
    /// What it was about: the session, the factor, who acted if not the owner.
    pub detail: String,
}

impl ActivityEntry {
    pub fn new(user_id: &UserId, kind: ActivityKind, at: OffsetDateTime) -> Self {
        // Entries of one process in the same millisecond keep their order (the context's
        // counter), so a page reads them as they happened.
        static ORDER: std::sync::Mutex<uuid::ContextV7> = std::sync::Mutex::new(uuid::ContextV7::new());
        let millis = (at.unix_timestamp_nanos() / 1_000_000) as u64;
        let context = ORDER.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            &*context,
            millis / 1000,
            ((millis % 1000) * 1_000_000) as u32,
        ));
        drop(context);
        Self {
            id: id.to_string(),
            user_id: user_id.clone(),
            kind,
            at,
            source: None,
            device: None,
            detail: String::new(),
        }
    }

    /// Where the request that did it came from, and on what.
    pub fn from_client(mut self, source: Option<String>, device: Option<String>) -> Self {
        (self.source, self.device) = (source, device);
        self
    }

    /// What it was about.
    pub fn about(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    /// When it is gone.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.at + ACTIVITY_RETENTION
    }
}

#[async_trait]
pub trait ActivityStore: Send + Sync {
    async fn record_activity(&self, entry: &ActivityEntry) -> StoreResult<()>;
    /// The account's entries not expired at `now`, newest first, `limit` at most, after the
    /// entry `before` (an id this returned) if given.
    async fn activity(
        &self,
        user_id: &UserId,
        now: OffsetDateTime,
        limit: usize,
        before: Option<&str>,
    ) -> StoreResult<Vec<ActivityEntry>>;
    /// Every entry of a deleted account.
    async fn delete_user_activity(&self, user_id: &UserId) -> StoreResult<()>;
}
