//! Brute-force and abuse limits, kept in the store so every Lambda instance sees the same
//! counts.
//!
//! Password checks for an email address are counted twice: per address and source (5 before
//! a backoff of 30 s, doubling to 15 min), and per address over all sources (50 before the
//! same backoff). One source therefore locks itself out long before it could lock the owner
//! out. Counts are kept whether or not an account has the address, so a lockout reveals
//! nothing, and each attempt is counted (reserved) before the password is checked, so a burst
//! of parallel guesses gets no more checks than the count allows.

use time::{Duration, OffsetDateTime};

use super::{Identity, IdentityError, client::Source};
use crate::{
    clock::Clock,
    config::Limits,
    credentials::PasswordHasher,
    domain::{User, UserId},
    ports::{AttemptPolicy, CheckKey, CheckPolicies, CheckReservation, LimitStore, PasswordCheck},
};

const FIRST_LOCKOUT: Duration = Duration::seconds(30);
const MAX_LOCKOUT: Duration = Duration::minutes(15);
/// Attempts older than this are forgotten.
const ATTEMPT_MEMORY: Duration = Duration::hours(1);
const EMAIL_WINDOW_SECS: i64 = 3600;
const REGISTRATION_WINDOW_SECS: i64 = 60;
/// Sign-in alerts are counted per account and day (`identity::alerts::SIGN_IN_ALERTS_PER_DAY`).
const ALERT_WINDOW_SECS: i64 = 86_400;
/// Emailed codes checked are counted per address and day.
const CODE_CHECK_WINDOW_SECS: i64 = 86_400;

/// The limits, over the counters they keep.
pub struct Throttle<'a> {
    pub limits: &'a dyn LimitStore,
    pub clock: &'a dyn Clock,
    pub config: &'a Limits,
}

impl Identity {
    pub fn throttle(&self) -> Throttle<'_> {
        Throttle { limits: self.limits.as_ref(), clock: self.clock.as_ref(), config: &self.config.limits }
    }
}

/// The counts a password check for one address from one source was counted on; forgotten
/// when the password was right.
#[must_use]
pub struct LoginAttempt {
    email_key: String,
    source: String,
}

impl LoginAttempt {
    pub fn key(&self) -> CheckKey<'_> {
        CheckKey { email_key: &self.email_key, source: &self.source }
    }
}

impl Throttle<'_> {
    fn policy(&self, threshold: u32) -> AttemptPolicy {
        AttemptPolicy { threshold, first_lockout: FIRST_LOCKOUT, max_lockout: MAX_LOCKOUT, memory: ATTEMPT_MEMORY }
    }

    /// Checks an account's current password (to change it, to delete the account), counted as
    /// a login's check is: 429 while locked out, 403 `wrong_current_password` if wrong.
    pub async fn check_current_password(
        &self,
        hasher: &PasswordHasher,
        user: &User,
        password: &str,
        source: &Source,
    ) -> Result<LoginAttempt, IdentityError> {
        let (attempt, _) = self.reserve_password_check(&user.email.key(), source).await?;
        if !hasher.verify(password, user.password_hash.as_ref()).await? {
            return Err(IdentityError::WrongCurrentPassword);
        }
        Ok(attempt)
    }

    /// Counts one password check for `email_key` from `source`, or refuses it with 429 while
    /// either count is locked out; with the account that holds the address, if any.
    pub async fn reserve_password_check(
        &self,
        email_key: &str,
        source: &Source,
    ) -> Result<(LoginAttempt, Option<UserId>), IdentityError> {
        let check = PasswordCheck {
            key: CheckKey { email_key, source: &source.0 },
            policies: CheckPolicies {
                per_source: self.policy(self.config.login_failures_before_backoff),
                per_address: self.policy(self.config.login_failures_before_account_backoff),
            },
        };
        match self.limits.reserve_password_check(&check, self.clock.now()).await? {
            CheckReservation::Refused { wait } => {
                tracing::warn!("login backoff engaged for an email address");
                Err(IdentityError::TooManyAttempts { retry_after_secs: ceil_secs(wait) })
            }
            CheckReservation::Granted { account, .. } => {
                Ok((LoginAttempt { email_key: email_key.to_string(), source: source.0.clone() }, account))
            }
        }
    }

    /// The password was right: the checks counted for it are forgotten.
    pub async fn succeeded(&self, attempt: LoginAttempt) -> Result<(), IdentityError> {
        Ok(self.limits.forget_password_checks(attempt.key()).await?)
    }

    /// Forgets the checks counted for an address over all sources and from `source` (after a
    /// password reset from there, which proves the address). Other sources stay locked out.
    pub async fn forget_address(&self, email_key: &str, source: &Source) -> Result<(), IdentityError> {
        Ok(self.limits.forget_password_checks(CheckKey { email_key, source: &source.0 }).await?)
    }

    /// Counts one email to `email_key` in the current hour; 429 past the hourly limit.
    pub async fn allow_email_to(&self, email_key: &str) -> Result<(), IdentityError> {
        let (count, retry_after_secs) = self.count_in_window(&format!("email#{email_key}"), EMAIL_WINDOW_SECS).await?;
        if count > self.config.emails_per_address_per_hour {
            return Err(IdentityError::TooManyEmails { retry_after_secs });
        }
        Ok(())
    }

    /// Counts one email change asked for by `account` and one from `source` in the current
    /// hour, before anything is looked up; 429 past either limit. Each change emails a
    /// stranger's address and tells whether it holds an account, so both stay few.
    pub async fn allow_email_change(&self, account: &UserId, source: &Source) -> Result<(), IdentityError> {
        let (by_account, retry_after_secs) =
            self.count_in_window(&format!("email-change#{account}"), EMAIL_WINDOW_SECS).await?;
        if by_account > self.config.email_changes_per_account_per_hour {
            return Err(IdentityError::TooManyEmailChanges { retry_after_secs });
        }
        let (from_source, retry_after_secs) =
            self.count_in_window(&format!("email-change-from#{}", source.0), EMAIL_WINDOW_SECS).await?;
        if from_source > self.config.email_changes_per_source_per_hour {
            return Err(IdentityError::TooManyEmailChanges { retry_after_secs });
        }
        Ok(())
    }

    /// Counts one registration from `source` and one in total in the current minute; 429 past
    /// either limit.
    pub async fn allow_registration(&self, source: &Source) -> Result<(), IdentityError> {
        let (from_source, retry_after_secs) =
            self.count_in_window(&format!("register#{}", source.0), REGISTRATION_WINDOW_SECS).await?;
        if from_source > self.config.registrations_per_source_per_minute {
            return Err(IdentityError::TooManyRegistrations { retry_after_secs });
        }
        let (in_total, retry_after_secs) = self.count_in_window("register", REGISTRATION_WINDOW_SECS).await?;
        if in_total > self.config.registrations_per_minute {
            tracing::warn!("the service-wide registration limit was reached");
            return Err(IdentityError::TooManyRegistrations { retry_after_secs });
        }
        Ok(())
    }

    /// Counts one passkey sign-in started from `source` in the current minute, before anything
    /// is looked up or kept; 429 past the limit. Each start keeps a ceremony (a write) for
    /// whoever asks, with no account needed.
    pub async fn allow_passkey_sign_in(&self, source: &Source) -> Result<(), IdentityError> {
        let (count, retry_after_secs) =
            self.count_in_window(&format!("passkey-sign-in#{}", source.0), REGISTRATION_WINDOW_SECS).await?;
        if count > self.config.passkey_sign_ins_per_source_per_minute {
            return Err(IdentityError::TooManyAttempts { retry_after_secs });
        }
        Ok(())
    }

    /// Counts one provider sign-in started from `source` in the current minute, before anything
    /// is looked up or kept; 429 past the limit. Each start keeps a flow for whoever asks.
    pub async fn allow_provider_sign_in(&self, source: &Source) -> Result<(), IdentityError> {
        let (count, retry_after_secs) =
            self.count_in_window(&format!("provider-sign-in#{}", source.0), REGISTRATION_WINDOW_SECS).await?;
        if count > self.config.provider_sign_ins_per_source_per_minute {
            return Err(IdentityError::TooManyAttempts { retry_after_secs });
        }
        Ok(())
    }

    /// Counts one sign-in by email asked for from `source` in the current minute, before anything
    /// is kept or sent; 429 past the limit. Each ask sends an email to whatever address is given.
    pub async fn allow_email_sign_in(&self, source: &Source) -> Result<(), IdentityError> {
        let (count, retry_after_secs) =
            self.count_in_window(&format!("email-sign-in#{}", source.0), REGISTRATION_WINDOW_SECS).await?;
        if count > self.config.email_sign_ins_per_source_per_minute {
            return Err(IdentityError::TooManyEmails { retry_after_secs });
        }
        Ok(())
    }

    /// Counts one check of an emailed code for `email_key` in the current day (UTC), before it is
    /// made; 429 past the daily limit. A code is checked at most five times and an address is
    /// sent a few an hour, but anyone may ask for them: without a bound over the day, someone
    /// asking and guessing around the clock would try 25 codes an hour of a million, a fifth of
    /// the million in a year.
    pub async fn allow_code_check(&self, email_key: &str) -> Result<(), IdentityError> {
        let (count, retry_after_secs) =
            self.count_in_window(&format!("code-check#{email_key}"), CODE_CHECK_WINDOW_SECS).await?;
        if count > self.config.emailed_code_checks_per_address_per_day {
            tracing::warn!("the day's emailed code checks for an address are used up");
            return Err(IdentityError::TooManyAttempts { retry_after_secs });
        }
        Ok(())
    }

    /// Counts one sign-in alert for `account` in the current day (UTC); the count, this one
    /// included.
    pub async fn count_sign_in_alert(&self, account: &UserId) -> Result<u32, IdentityError> {
        Ok(self.count_in_window(&format!("sign-in-alert#{account}"), ALERT_WINDOW_SECS).await?.0)
    }

    /// Adds one to `key`'s counter for the current fixed window; the count and the seconds
    /// left in the window.
    async fn count_in_window(&self, key: &str, window_secs: i64) -> Result<(u32, u64), IdentityError> {
        let now = self.clock.now().unix_timestamp();
        let window = now.div_euclid(window_secs);
        let window_end = (window + 1) * window_secs;
        let expires_at = OffsetDateTime::from_unix_timestamp(window_end).map_err(anyhow::Error::from)?;
        let count = self.limits.increment_counter(&format!("{key}#{window}"), expires_at).await?;
        Ok((count, (window_end - now).max(1) as u64))
    }
}

fn ceil_secs(d: Duration) -> u64 {
    let secs = d.whole_seconds() + i64::from(d.subsec_nanoseconds() > 0);
    secs.max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{Attempts, Reservation};

    fn policy() -> AttemptPolicy {
        AttemptPolicy { threshold: 5, first_lockout: FIRST_LOCKOUT, max_lockout: MAX_LOCKOUT, memory: ATTEMPT_MEMORY }
    }

    fn attempts(count: u32, ago_secs: i64, now: OffsetDateTime) -> Option<Attempts> {
        Some(Attempts { count, last_at: now - Duration::seconds(ago_secs) })
    }

    #[test]
    fn backoff_starts_at_the_threshold_and_doubles_up_to_the_cap() {
        let now = OffsetDateTime::now_utc();
        let p = policy();
        assert!(matches!(p.decide(attempts(4, 0, now), now), Reservation::Granted(a) if a.count == 5));
        assert_eq!(p.decide(attempts(5, 0, now), now), Reservation::Refused { wait: Duration::seconds(30) });
        assert_eq!(p.decide(attempts(6, 0, now), now), Reservation::Refused { wait: Duration::seconds(60) });
        assert_eq!(p.decide(attempts(50, 0, now), now), Reservation::Refused { wait: Duration::minutes(15) });
        assert!(matches!(p.decide(attempts(5, 31, now), now), Reservation::Granted(a) if a.count == 6));
        assert!(matches!(p.decide(attempts(40, 7200, now), now), Reservation::Granted(a) if a.count == 1), "forgotten");
    }
}
