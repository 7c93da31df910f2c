//! Where an account stands, as one type: a suspension's end date and reason exist only on a
//! suspended account, so no write can leave them on an active one.
//!
//! ```text
//!   register ──► Pending ──confirm / reset──► Active ◄──reinstate / end date passed──┐
//!                                               │                                    │
//!                                               └────────suspend (admin)────► Suspended(Suspension)
//! ```
//! Stored and answered as three fields (`status`, `suspended_until`, `suspension_reason`), as
//! before the type existed: no migration.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime, UtcOffset, format_description::well_known::Rfc3339};

use super::{FieldError, Status, multiline};

/// The longest reason a report, flag, suspension or reinstatement may give.
pub const MAX_REASON_CHARS: usize = 1000;

/// How far ahead a suspension may end: past this, suspend with no end date.
pub const SUSPENSION_HORIZON: Duration = Duration::days(3653);

/// Why a moderation action was taken: 1 to 1000 characters of text (lines allowed), no
/// invisible characters. One rule for reports, flags, suspensions and reinstatements.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Reason(String);

impl Reason {
    /// The reason in `raw`, trimmed, or why not (on `field`).
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, FieldError> {
        let mut errors = Vec::new();
        match multiline(field, raw, MAX_REASON_CHARS, &mut errors) {
            Some(text) if !text.is_empty() => Ok(Self(text)),
            Some(_) => Err(FieldError::new(field, "required", "is required")),
            None => Err(errors.remove(0)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// When a suspension ends by itself: in UTC, after `now`, within [`SUSPENSION_HORIZON`].
pub fn parse_suspension_end(field: &'static str, raw: &str, now: OffsetDateTime) -> Result<OffsetDateTime, FieldError> {
    let too_far = || {
        let why = "must be within 10 years; suspend with no end date for longer";
        FieldError::new(field, "too_far", why)
    };
    let until = OffsetDateTime::parse(raw, &Rfc3339)
        .map_err(|_| FieldError::new(field, "invalid_value", "must be an RFC 3339 date and time"))?
        .checked_to_offset(UtcOffset::UTC)
        .ok_or_else(too_far)?;
    if until <= now {
        return Err(FieldError::new(field, "in_the_past", "must be in the future"));
    }
    if until > now + SUSPENSION_HORIZON {
        return Err(too_far());
    }
    Ok(until)
}

/// A suspension's end as stored (Unix seconds), read back whatever was stored: one written
/// before ends were bounded may lie past year 9999, which reads as the last instant shown,
/// so that no listing that holds it fails.
pub fn stored_end(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(if secs > 0 {
        time::PrimitiveDateTime::MAX.assume_utc()
    } else {
        time::PrimitiveDateTime::MIN.assume_utc()
    })
}

/// A suspension: until an admin reinstates the account, or until a date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suspension {
    /// When it ends by itself; none: until reinstated.
    pub until: Option<OffsetDateTime>,
    pub reason: Option<Reason>,
}

impl Suspension {
    /// Its end date has passed: it no longer holds, whether or not anything has written the
    /// account since (no job lifts it).
    pub fn is_over(&self, now: OffsetDateTime) -> bool {
        self.until.is_some_and(|until| until <= now)
    }
}

/// Where an account stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredStatus", into = "StoredStatus")]
pub enum AccountStatus {
    /// Registered; the email is not confirmed yet. Cannot log in.
    Pending,
    Active,
    Suspended(Suspension),
}

impl AccountStatus {
    /// The status's name, as listings filter and clients see it.
    pub fn tag(&self) -> Status {
        match self {
            AccountStatus::Pending => Status::Pending,
            AccountStatus::Active => Status::Active,
            AccountStatus::Suspended(_) => Status::Suspended,
        }
    }

    pub fn suspension(&self) -> Option<&Suspension> {
        match self {
            AccountStatus::Suspended(suspension) => Some(suspension),
            _ => None,
        }
    }

    pub fn suspended_until(&self) -> Option<OffsetDateTime> {
        self.suspension().and_then(|s| s.until)
    }

    pub fn suspension_reason(&self) -> Option<&str> {
        self.suspension().and_then(|s| s.reason.as_ref()).map(Reason::as_str)
    }
}

/// The stored form: three fields, the last two only with `suspended`.
#[derive(Clone, Serialize, Deserialize)]
struct StoredStatus {
    status: Status,
    #[serde(with = "time::serde::rfc3339::option", default, skip_serializing_if = "Option::is_none")]
    suspended_until: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    suspension_reason: Option<Reason>,
}

impl From<StoredStatus> for AccountStatus {
    fn from(stored: StoredStatus) -> Self {
        match stored.status {
            Status::Pending => AccountStatus::Pending,
            Status::Active => AccountStatus::Active,
            Status::Suspended => AccountStatus::Suspended(Suspension {
                // Older records may carry another offset; one past what UTC can show stays as stored.
                until: stored.suspended_until.map(|t| t.checked_to_offset(UtcOffset::UTC).unwrap_or(t)),
                reason: stored.suspension_reason,
            }),
        }
    }
}

impl From<AccountStatus> for StoredStatus {
    fn from(status: AccountStatus) -> Self {
        let tag = status.tag();
        match status {
            AccountStatus::Suspended(Suspension { until, reason }) => {
                StoredStatus { status: tag, suspended_until: until, suspension_reason: reason }
            }
            _ => StoredStatus { status: tag, suspended_until: None, suspension_reason: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_date_is_utc_future_and_within_the_horizon() {
        let now = OffsetDateTime::parse("2026-12-02T10:00:00Z", &Rfc3339).unwrap();
        let until = parse_suspension_end("until", "2027-01-01T00:00:00+02:00", now).unwrap();
        assert_eq!(until.offset(), UtcOffset::UTC);
        assert_eq!(until, OffsetDateTime::parse("2026-12-31T22:00:00Z", &Rfc3339).unwrap());
        for (raw, code) in [
            ("9999-12-31T23:59:59-23:59", "too_far"),
            ("2037-01-01T00:00:00Z", "too_far"),
            ("2026-12-01T00:00:00Z", "in_the_past"),
            ("tomorrow", "invalid_value"),
        ] {
            assert_eq!(parse_suspension_end("until", raw, now).unwrap_err().code, code, "{raw}");
        }
    }

    #[test]
    fn an_end_stored_past_year_9999_still_reads() {
        let stored = 253_402_387_139; // 9999-12-31T23:59:59-23:59, as an older version stored it
        assert_eq!(stored_end(stored).year(), 9999);
        assert_eq!(stored_end(1_900_000_000).unix_timestamp(), 1_900_000_000);
    }

    #[test]
    fn a_reason_is_one_rule_for_every_action() {
        assert_eq!(Reason::parse("reason", "  Spam.\nTwice. ").unwrap().as_str(), "Spam.\nTwice.");
        assert_eq!(Reason::parse("reason", "   ").unwrap_err().code, "required");
        assert_eq!(Reason::parse("reason", &"x".repeat(1001)).unwrap_err().code, "too_long");
        assert_eq!(Reason::parse("reason", "a\u{200B}b").unwrap_err().code, "invalid_characters");
    }

    #[test]
    fn the_stored_form_is_the_three_fields() {
        let status = AccountStatus::Suspended(Suspension {
            until: Some(OffsetDateTime::parse("2030-01-01T00:00:00Z", &Rfc3339).unwrap()),
            reason: Some(Reason::parse("reason", "Spam").unwrap()),
        });
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"status": "suspended", "suspended_until": "2030-01-01T00:00:00Z", "suspension_reason": "Spam"})
        );
        assert_eq!(serde_json::from_value::<AccountStatus>(json).unwrap(), status);
        assert_eq!(serde_json::to_value(AccountStatus::Active).unwrap(), serde_json::json!({"status": "active"}));
    }
}
