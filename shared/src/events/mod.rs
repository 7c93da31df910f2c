//! Account events: what the rest of the platform learns when an account changes (registered,
//! confirmed, suspended, deleted, ...). Each is recorded in the same atomic write as the change
//! it describes (the outbox), then delivered at least once, in order per account.
//!
//! An event says only what other services need: never a secret, an email address only where
//! the event is about it. Consumers deduplicate on `id`; `schema_version` moves when a field's
//! meaning changes (fields may be added without it).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::{AccountStatus, Role, User};

/// The version of every event's shape this service publishes.
pub const SCHEMA_VERSION: u32 = 1;

/// One change of one account, as published.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct AccountEvent {
    /// Unique (UUIDv7, time-ordered): deliveries may repeat, consumers deduplicate on it.
    pub id: String,
    /// What happened, and its fields.
    #[serde(flatten)]
    pub change: Change,
    /// When the change was written.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub time: OffsetDateTime,
    /// The account the event is about (for subscriptions, follows and reports: the one who
    /// acted). Events of one account are delivered in the order they happened.
    pub account_id: String,
    pub schema_version: u32,
}

/// What happened: `type` names it, `data` holds its fields.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(tag = "type", content = "data")]
pub enum Change {
    /// An account was made (by its owner, an admin, or the operator). Pending until its
    /// email is confirmed, unless an admin or the operator vouched for it.
    #[serde(rename = "account.registered")]
    Registered { role: Role, email: String, pending: bool },
    #[serde(rename = "account.email_confirmed")]
    EmailConfirmed { email: String },
    /// The public profile, whole, as it is now.
    #[serde(rename = "account.profile_updated")]
    ProfileUpdated { first_name: String, last_name: String, nickname: Option<String>, bio: Option<String> },
    /// The new address, confirmed by a link sent to it.
    #[serde(rename = "account.email_changed")]
    EmailChanged { email: String },
    #[serde(rename = "account.role_changed")]
    RoleChanged { from: Role, to: Role },
    /// The account may not log in or write until reinstated or `until` (none: until reinstated).
    #[serde(rename = "account.suspended")]
    Suspended {
        #[serde(with = "time::serde::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        until: Option<OffsetDateTime>,
    },
    #[serde(rename = "account.reinstated")]
    Reinstated {},
    /// The account and its personal data are gone: erase what you keep of it.
    #[serde(rename = "account.deleted")]
    Deleted {},
    /// A new profile photo is ready, or the photo was removed.
    #[serde(rename = "account.photo_changed")]
    PhotoChanged { has_photo: bool },
    #[serde(rename = "author.subscribed")]
    Subscribed { author_id: String },
    #[serde(rename = "author.unsubscribed")]
    Unsubscribed { author_id: String },
    #[serde(rename = "author.followed")]
    Followed { author_id: String },
    #[serde(rename = "author.unfollowed")]
    Unfollowed { author_id: String },
    /// The account reported an author.
    #[serde(rename = "author.reported")]
    Reported { author_id: String, report_id: String },
    /// The account (a moderator) flagged an author.
    #[serde(rename = "author.flagged")]
    Flagged { author_id: String },
}

impl Change {
    /// The event's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Registered { .. } => "account.registered",
            Change::EmailConfirmed { .. } => "account.email_confirmed",
            Change::ProfileUpdated { .. } => "account.profile_updated",
            Change::EmailChanged { .. } => "account.email_changed",
            Change::RoleChanged { .. } => "account.role_changed",
            Change::Suspended { .. } => "account.suspended",
            Change::Reinstated {} => "account.reinstated",
            Change::Deleted {} => "account.deleted",
            Change::PhotoChanged { .. } => "account.photo_changed",
            Change::Subscribed { .. } => "author.subscribed",
            Change::Unsubscribed { .. } => "author.unsubscribed",
            Change::Followed { .. } => "author.followed",
            Change::Unfollowed { .. } => "author.unfollowed",
            Change::Reported { .. } => "author.reported",
            Change::Flagged { .. } => "author.flagged",
        }
    }
}

impl AccountEvent {
    pub fn new(account_id: &str, change: Change, time: OffsetDateTime) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            change,
            time,
            account_id: account_id.to_string(),
            schema_version: SCHEMA_VERSION,
        }
    }
}

/// The changes one write of an account makes, from the account before and after it (none:
/// the write changed nothing another service reads, such as a password or a reset link).
pub fn account_changes(before: &User, after: &User) -> Vec<Change> {
    let mut changes = Vec::new();
    if before.email != after.email {
        changes.push(Change::EmailChanged { email: after.email.to_string() });
    }
    match (&before.status, &after.status) {
        (AccountStatus::Pending, AccountStatus::Pending) => {}
        (AccountStatus::Pending, _) => changes.push(Change::EmailConfirmed { email: after.email.to_string() }),
        (AccountStatus::Suspended(_), AccountStatus::Active) => changes.push(Change::Reinstated {}),
        (was, AccountStatus::Suspended(now)) if *was != after.status => {
            changes.push(Change::Suspended { until: now.until })
        }
        _ => {}
    }
    if before.role != after.role {
        changes.push(Change::RoleChanged { from: before.role, to: after.role });
    }
    if before.profile != after.profile {
        let profile = after.profile.clone();
        changes.push(Change::ProfileUpdated {
            first_name: profile.first_name,
            last_name: profile.last_name,
            nickname: profile.nickname,
            bio: profile.bio,
        });
    }
    if before.photo_id != after.photo_id {
        changes.push(Change::PhotoChanged { has_photo: after.photo_id.is_some() });
    }
    changes
}
