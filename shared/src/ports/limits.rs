use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use super::StoreResult;
use crate::domain::UserId;

/// Attempts counted for one key since the last success. Each attempt is counted before the
/// password is checked (a reservation), so parallel guesses cannot slip past the count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempts {
    pub count: u32,
    pub last_at: OffsetDateTime,
}

/// When a key must wait: after `threshold` attempts it waits `first_lockout`, doubling with
/// each further attempt up to `max_lockout`; attempts older than `memory` are forgotten.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptPolicy {
    pub threshold: u32,
    pub first_lockout: Duration,
    pub max_lockout: Duration,
    pub memory: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// The attempt is counted; the caller may check the password.
    Granted(Attempts),
    /// Locked out for this much longer; nothing was counted.
    Refused { wait: Duration },
}

impl AttemptPolicy {
    /// The rule, written once for every store: given what is on record, grant (and count) the
    /// attempt or refuse it. Stores apply it atomically.
    pub fn decide(&self, on_record: Option<Attempts>, now: OffsetDateTime) -> Reservation {
        let current = on_record.filter(|a| a.last_at > now - self.memory);
        if let Some(wait) = current.and_then(|a| self.lockout_remaining(a, now)) {
            return Reservation::Refused { wait };
        }
        Reservation::Granted(Attempts { count: current.map_or(0, |a| a.count) + 1, last_at: now })
    }

    pub fn lockout_remaining(&self, attempts: Attempts, now: OffsetDateTime) -> Option<Duration> {
        if attempts.count < self.threshold {
            return None;
        }
        let doublings = (attempts.count - self.threshold).min(10);
        let lockout = (self.first_lockout * 2_i32.pow(doublings)).min(self.max_lockout);
        let until = attempts.last_at + lockout;
        (until > now).then(|| until - now)
    }
}

/// Whose password checks are counted: those for one address, from one source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckKey<'a> {
    /// The canonical key of the email address checked against.
    pub email_key: &'a str,
    /// Where the request came from.
    pub source: &'a str,
}

/// A password check about to be made, counted twice: per address and source, and per address
/// over all sources, each under its own policy.
#[derive(Clone, Copy, Debug)]
pub struct PasswordCheck<'a> {
    pub key: CheckKey<'a>,
    pub policies: CheckPolicies,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckPolicies {
    pub per_source: AttemptPolicy,
    pub per_address: AttemptPolicy,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckReservation {
    /// Counted on both; `account` is the account that held the address then, if any.
    Granted { per_source: Attempts, per_address: Attempts, account: Option<UserId> },
    /// Locked out for this much longer (the longer of the two waits); nothing was counted.
    Refused { wait: Duration },
}

impl CheckPolicies {
    /// Both policies over what is on record: both counts one on, or the longer wait.
    pub fn decide(
        &self,
        per_source: Option<Attempts>,
        per_address: Option<Attempts>,
        now: OffsetDateTime,
    ) -> Result<(Attempts, Attempts), Duration> {
        match (self.per_source.decide(per_source, now), self.per_address.decide(per_address, now)) {
            (Reservation::Granted(source), Reservation::Granted(address)) => Ok((source, address)),
            (Reservation::Refused { wait: a }, Reservation::Refused { wait: b }) => Err(a.max(b)),
            (Reservation::Refused { wait }, _) | (_, Reservation::Refused { wait }) => Err(wait),
        }
    }
}

/// Counters behind the brute-force and abuse limits, shared by every instance of the service.
#[async_trait]
pub trait LimitStore: Send + Sync {
    /// Counts one password check on both of its counts, or refuses it, as one atomic step (of
    /// any number of parallel callers, no more are granted than the policies allow), and says
    /// which account holds the address: what a login reads first, in one store call.
    async fn reserve_password_check(
        &self,
        check: &PasswordCheck<'_>,
        now: OffsetDateTime,
    ) -> StoreResult<CheckReservation>;
    /// Forgets the checks counted for the address from this source, and over all sources.
    async fn forget_password_checks(&self, key: CheckKey<'_>) -> StoreResult<()>;
    /// Atomically adds one to the counter `key` (which lives until `expires_at`) and returns
    /// the new count.
    async fn increment_counter(&self, key: &str, expires_at: OffsetDateTime) -> StoreResult<u32>;
}
