//! Brute-force and abuse limits, kept in the store so every Lambda instance sees the same
//! counts.
//!
//! Failed logins are counted per email address, whether or not an account has it, so the
//! lockout itself does not reveal which emails are registered.

use time::{Duration, OffsetDateTime};

use super::AuthState;
use crate::{
    clock::Clock,
    config::Limits,
    http::ApiError,
    ports::{LimitStore, LoginFailures},
};

/// The first lockout; each further failure doubles it, up to [`MAX_LOCKOUT`].
const FIRST_LOCKOUT: Duration = Duration::seconds(30);
const MAX_LOCKOUT: Duration = Duration::minutes(15);
/// Failures older than this are forgotten.
const FAILURE_MEMORY: Duration = Duration::hours(1);
const EMAIL_WINDOW_SECS: i64 = 3600;

pub fn login_key(email_key: &str) -> String {
    format!("login#{email_key}")
}

/// How long the key must wait before its next attempt, if it must.
pub fn lockout_remaining(failures: LoginFailures, threshold: u32, now: OffsetDateTime) -> Option<Duration> {
    if failures.count < threshold {
        return None;
    }
    let doublings = (failures.count - threshold).min(10);
    let lockout = (FIRST_LOCKOUT * 2_i32.pow(doublings)).min(MAX_LOCKOUT);
    let until = failures.last_failure_at + lockout;
    (until > now).then(|| until - now)
}

/// The limits, over the counters they keep.
pub struct Throttle<'a> {
    pub limits: &'a dyn LimitStore,
    pub clock: &'a dyn Clock,
    pub config: &'a Limits,
}

impl AuthState {
    pub fn throttle(&self) -> Throttle<'_> {
        Throttle { limits: self.limits.as_ref(), clock: self.clock.as_ref(), config: &self.config.limits }
    }
}

#[must_use]
pub struct FailuresOnRecord(bool);

impl FailuresOnRecord {
    /// Forgets the failures after a success.
    pub async fn clear(self, throttle: &Throttle<'_>, key: &str) -> Result<(), ApiError> {
        if self.0 { throttle.clear_login_failures(key).await } else { Ok(()) }
    }
}

impl Throttle<'_> {
    /// Refuses with 429 while the key is locked out. Tells whether failures are on record, so
    /// a success clears them only when there is something to clear (a write saved per login).
    pub async fn ensure_login_allowed(&self, key: &str) -> Result<FailuresOnRecord, ApiError> {
        let Some(failures) = self.limits.login_failures(key).await? else {
            return Ok(FailuresOnRecord(false));
        };
        match lockout_remaining(failures, self.config.login_failures_before_backoff, self.clock.now()) {
            Some(wait) => Err(ApiError::TooManyAttempts { retry_after_secs: ceil_secs(wait) }),
            None => Ok(FailuresOnRecord(true)),
        }
    }

    pub async fn record_login_failure(&self, key: &str) -> Result<(), ApiError> {
        let now = self.clock.now();
        let failures = self.limits.record_login_failure(key, now, now - FAILURE_MEMORY).await?;
        if failures.count >= self.config.login_failures_before_backoff {
            tracing::warn!(failures = failures.count, "login backoff engaged for an email address");
        }
        Ok(())
    }

    pub async fn clear_login_failures(&self, key: &str) -> Result<(), ApiError> {
        Ok(self.limits.clear_login_failures(key).await?)
    }

    /// Counts one email to `email_key` in the current hour; 429 past the hourly limit.
    pub async fn allow_email_to(&self, email_key: &str) -> Result<(), ApiError> {
        let now = self.clock.now().unix_timestamp();
        let window = now.div_euclid(EMAIL_WINDOW_SECS);
        let window_end = (window + 1) * EMAIL_WINDOW_SECS;
        let key = format!("email#{email_key}#{window}");
        let expires_at = OffsetDateTime::from_unix_timestamp(window_end).map_err(anyhow::Error::from)?;
        let sent = self.limits.increment_counter(&key, expires_at).await?;
        if sent > self.config.emails_per_address_per_hour {
            return Err(ApiError::TooManyEmails { retry_after_secs: (window_end - now).max(1) as u64 });
        }
        Ok(())
    }
}

fn ceil_secs(d: Duration) -> u64 {
    let secs = d.whole_seconds() + i64::from(d.subsec_nanoseconds() > 0);
    secs.max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failures(count: u32, ago_secs: i64, now: OffsetDateTime) -> LoginFailures {
        LoginFailures { count, last_failure_at: now - Duration::seconds(ago_secs) }
    }

    #[test]
    fn backoff_starts_at_the_threshold_and_doubles_up_to_the_cap() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(lockout_remaining(failures(4, 0, now), 5, now), None);
        assert_eq!(lockout_remaining(failures(5, 0, now), 5, now), Some(Duration::seconds(30)));
        assert_eq!(lockout_remaining(failures(6, 0, now), 5, now), Some(Duration::seconds(60)));
        assert_eq!(lockout_remaining(failures(50, 0, now), 5, now), Some(Duration::minutes(15)));
        assert_eq!(lockout_remaining(failures(5, 31, now), 5, now), None);
    }
}
