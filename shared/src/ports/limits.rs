use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use super::StoreResult;

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

/// Counters behind the brute-force and abuse limits, shared by every instance of the service.
#[async_trait]
pub trait LimitStore: Send + Sync {
    /// Reads the attempts on record for `key`, applies `policy.decide` and writes the result,
    /// as one atomic step: of any number of parallel callers, no more are granted than the
    /// policy allows.
    async fn reserve_attempt(&self, key: &str, policy: &AttemptPolicy, now: OffsetDateTime)
    -> StoreResult<Reservation>;
    /// Forgets the attempts of `key` (after a success).
    async fn clear_attempts(&self, key: &str) -> StoreResult<()>;
    /// Atomically adds one to the counter `key` (which lives until `expires_at`) and returns
    /// the new count.
    async fn increment_counter(&self, key: &str, expires_at: OffsetDateTime) -> StoreResult<u32>;
}
