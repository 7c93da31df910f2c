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

use crate::{
    domain::{AccountStatus, Role, User},
    ports::EdgeKind,
};

pub mod webhooks;

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
    /// A provider's account (`provider`: the operator's id for it, `google` say) now signs in
    /// to this one.
    #[serde(rename = "account.identity_linked")]
    IdentityLinked { provider: String },
    #[serde(rename = "account.identity_unlinked")]
    IdentityUnlinked { provider: String },
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
            Change::IdentityLinked { .. } => "account.identity_linked",
            Change::IdentityUnlinked { .. } => "account.identity_unlinked",
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
    for linked in after.identities.iter().filter(|i| before.identity(&i.provider, &i.subject).is_none()) {
        changes.push(Change::IdentityLinked { provider: linked.provider.clone() });
    }
    for unlinked in before.identities.iter().filter(|i| after.identity(&i.provider, &i.subject).is_none()) {
        changes.push(Change::IdentityUnlinked { provider: unlinked.provider.clone() });
    }
    changes
}

/// A stored record as one write left it, in the shape both outboxes keep: the SQLite change rows
/// (written by triggers in the write's own transaction) and the DynamoDB table's stream (the
/// item's old and new images). Events are derived from records by [`events_of`], the same way
/// on both paths.
#[derive(Clone, Debug, PartialEq)]
pub enum Image {
    Account(Box<User>),
    Edge { kind: EdgeKind, from: String, to: String },
    Report { id: String, author_id: String, reporter_id: String },
    Flag { id: String, author_id: String, moderator_id: String },
}

/// One write of one record: before (none: it was made) and after (none: it was deleted).
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Unique to this write and the same on every redelivery of it (a change row's number, a
    /// stream record's `eventID`): event ids are derived from it, so a redelivered record
    /// makes the same events.
    pub id: String,
    /// When the write happened.
    pub time: OffsetDateTime,
    pub old: Option<Image>,
    pub new: Option<Image>,
}

/// The events one write makes, in order; none for a write no other service reads (a password,
/// a session, a counter) and none for an edge removed with a deleted account
/// (`account.deleted` says it: the outboxes leave those writes out).
pub fn events_of(record: &Record) -> Vec<AccountEvent> {
    let changes: Vec<(String, Change)> = match (&record.old, &record.new) {
        (None, Some(Image::Account(user))) => vec![(
            user.id.0.clone(),
            Change::Registered {
                role: user.role,
                email: user.email.to_string(),
                pending: user.status == AccountStatus::Pending,
            },
        )],
        (Some(Image::Account(before)), Some(Image::Account(after))) => {
            account_changes(before, after).into_iter().map(|change| (after.id.0.clone(), change)).collect()
        }
        (Some(Image::Account(before)), None) => vec![(before.id.0.clone(), Change::Deleted {})],
        (None, Some(Image::Edge { kind, from, to })) => {
            let author_id = to.clone();
            let change = match kind {
                EdgeKind::Subscription => Change::Subscribed { author_id },
                EdgeKind::Follow => Change::Followed { author_id },
            };
            vec![(from.clone(), change)]
        }
        (Some(Image::Edge { kind, from, to }), None) => {
            let author_id = to.clone();
            let change = match kind {
                EdgeKind::Subscription => Change::Unsubscribed { author_id },
                EdgeKind::Follow => Change::Unfollowed { author_id },
            };
            vec![(from.clone(), change)]
        }
        (None, Some(Image::Report { id, author_id, reporter_id })) => {
            vec![(reporter_id.clone(), Change::Reported { author_id: author_id.clone(), report_id: id.clone() })]
        }
        (None, Some(Image::Flag { author_id, moderator_id, .. })) => {
            vec![(moderator_id.clone(), Change::Flagged { author_id: author_id.clone() })]
        }
        // A report linked to a flag, a record read back unchanged: nothing another service reads.
        _ => Vec::new(),
    };
    changes
        .into_iter()
        .enumerate()
        .map(|(index, (account_id, change))| AccountEvent {
            id: event_id(&record.id, index, record.time),
            change,
            time: record.time,
            account_id,
            schema_version: SCHEMA_VERSION,
        })
        .collect()
}

/// A UUIDv7 of the write's time whose other bits are a hash of the record and the event's place
/// in it: time-ordered like every id here, and the same each time the record is read again.
fn event_id(record_id: &str, index: usize, time: OffsetDateTime) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new().chain_update(record_id.as_bytes()).chain_update(index.to_be_bytes()).finalize();
    let mut bits = [0u8; 10];
    bits.copy_from_slice(&digest[..10]);
    let millis = u64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &bits).into_uuid().to_string()
}

/// One example of each change, in the order `docs/events.md` lists them.
pub fn examples() -> Vec<Change> {
    let author = "01936f4e-0000-7000-8000-0000000000a1".to_string();
    vec![
        Change::Registered { role: Role::Author, email: "ada@example.com".into(), pending: true },
        Change::EmailConfirmed { email: "ada@example.com".into() },
        Change::ProfileUpdated {
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            nickname: Some("ada".into()),
            bio: Some("I write about engines.".into()),
        },
        Change::EmailChanged { email: "ada.lovelace@example.com".into() },
        Change::RoleChanged { from: Role::Reader, to: Role::Author },
        Change::Suspended { until: Some(time::macros::datetime!(2026-12-31 00:00 UTC)) },
        Change::Reinstated {},
        Change::Deleted {},
        Change::PhotoChanged { has_photo: true },
        Change::IdentityLinked { provider: "google".into() },
        Change::IdentityUnlinked { provider: "google".into() },
        Change::Subscribed { author_id: author.clone() },
        Change::Unsubscribed { author_id: author.clone() },
        Change::Followed { author_id: author.clone() },
        Change::Unfollowed { author_id: author.clone() },
        Change::Reported { author_id: author.clone(), report_id: "01936f4e-0000-7000-8000-0000000000b2".into() },
        Change::Flagged { author_id: author },
    ]
}

/// The catalogue of events as `docs/events.md` shows it between its markers: each type, when
/// it happens, and an example, all from this module (a test holds the document to it).
pub fn catalogue() -> String {
    let mut text = String::from("| type | when |\n|---|---|\n");
    for change in examples() {
        text += &format!("| `{}` | {} |\n", change.kind(), when(&change));
    }
    for change in examples() {
        let event = AccountEvent {
            id: "01936f4e-0000-7000-8000-0000000000e1".into(),
            change,
            time: time::macros::datetime!(2026-12-02 12:00 UTC),
            account_id: "01936f4e-0000-7000-8000-0000000000c3".into(),
            schema_version: SCHEMA_VERSION,
        };
        let json = serde_json::to_string_pretty(&event).expect("an event serializes");
        text += &format!("\n### `{}`\n\n```json\n{json}\n```\n", event.change.kind());
    }
    text
}

fn when(change: &Change) -> &'static str {
    match change {
        Change::Registered { .. } => "an account is made: by its owner (pending), an admin or the operator (active)",
        Change::EmailConfirmed { .. } => "a pending account confirms its address, and may log in",
        Change::ProfileUpdated { .. } => {
            "the public profile changes (names, nickname, bio): the whole profile as it is now"
        }
        Change::EmailChanged { .. } => "the new address of an email change is confirmed",
        Change::RoleChanged { .. } => "an admin changes the account's role",
        Change::Suspended { .. } => {
            "an admin suspends the account (`until`: when it ends by itself; none: until reinstated)"
        }
        Change::Reinstated {} => "an admin lifts a suspension",
        Change::Deleted {} => "the account is deleted, by its owner or an admin: erase what you keep of it",
        Change::PhotoChanged { .. } => "a new profile photo is ready, or the photo is removed",
        Change::IdentityLinked { .. } => {
            "a provider's account (Google's, GitHub's, ...) is linked and signs in to this one; an account \
             made by a provider's sign-in has it from its `account.registered` on"
        }
        Change::IdentityUnlinked { .. } => "the account's owner unlinks a provider's account",
        Change::Subscribed { .. } => "the account subscribes to an author's notifications",
        Change::Unsubscribed { .. } => "the account unsubscribes (in the API or by an emailed link)",
        Change::Followed { .. } => "the account follows an author",
        Change::Unfollowed { .. } => "the account stops following an author",
        Change::Reported { .. } => "the account reports an author",
        Change::Flagged { .. } => "the account (a moderator) flags an author",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EmailAddress, Suspension};

    fn account() -> User {
        let now = time::macros::datetime!(2026-12-02 12:00 UTC);
        serde_json::from_value(serde_json::json!({
            "id": "01936f4e-0000-7000-8000-0000000000c3",
            "email": "ada@example.com",
            "role": "reader",
            "status": "active",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            "created_at": now.format(&time::format_description::well_known::Rfc3339).unwrap(),
            "updated_at": now.format(&time::format_description::well_known::Rfc3339).unwrap(),
        }))
        .expect("an account")
    }

    #[test]
    fn each_change_an_account_write_makes_is_one_event_and_a_password_change_none() {
        let before = account();
        let mut after = before.clone();
        after.credential_version += 1;
        after.reset_generation += 1;
        assert_eq!(account_changes(&before, &after), [], "nothing another service reads");

        after.status = AccountStatus::Suspended(Suspension { until: None, reason: None });
        after.role = Role::Author;
        after.email = EmailAddress::parse("ada2@example.com").unwrap();
        let kinds: Vec<_> = account_changes(&before, &after).iter().map(Change::kind).collect();
        assert_eq!(kinds, ["account.email_changed", "account.suspended", "account.role_changed"]);

        let mut pending = before.clone();
        pending.status = AccountStatus::Pending;
        assert_eq!(account_changes(&pending, &before), [Change::EmailConfirmed { email: "ada@example.com".into() }]);
        let suspended = after.clone();
        let mut reinstated = suspended.clone();
        reinstated.status = AccountStatus::Active;
        assert_eq!(account_changes(&suspended, &reinstated), [Change::Reinstated {}]);
    }

    #[test]
    fn a_linked_provider_is_an_event_naming_the_provider_never_its_subject_or_address() {
        let before = account();
        let mut after = before.clone();
        after.identities.push(crate::domain::LinkedIdentity {
            provider: "google".into(),
            subject: "108234567890".into(),
            email: Some("ada@gmail.com".into()),
            linked_at: time::macros::datetime!(2026-12-02 12:00 UTC),
        });
        let linked = account_changes(&before, &after);
        assert_eq!(linked, [Change::IdentityLinked { provider: "google".into() }]);
        let json = serde_json::to_string(&linked).unwrap();
        assert!(!json.contains("108234567890") && !json.contains("gmail"), "{json}");
        assert_eq!(account_changes(&after, &before), [Change::IdentityUnlinked { provider: "google".into() }]);
        assert_eq!(account_changes(&after, &after.clone()), [], "a write that keeps it");
    }

    #[test]
    fn a_record_read_again_makes_the_same_events_and_an_edge_names_who_acted() {
        let time = time::macros::datetime!(2026-12-02 12:00 UTC);
        let edge = Image::Edge { kind: EdgeKind::Follow, from: "a1".into(), to: "b2".into() };
        let made = Record { id: "change-7".into(), time, old: None, new: Some(edge.clone()) };
        let events = events_of(&made);
        assert_eq!(events, events_of(&made.clone()), "same ids on a redelivery");
        assert_eq!(
            (events[0].account_id.as_str(), events[0].change.clone()),
            ("a1", Change::Followed { author_id: "b2".into() })
        );
        let id = uuid::Uuid::parse_str(&events[0].id).unwrap();
        assert_eq!(id.get_version_num(), 7, "time-ordered");
        let removed = Record { id: "change-8".into(), time, old: Some(edge), new: None };
        assert_ne!(events_of(&removed)[0].id, events[0].id);
        assert_eq!(events_of(&removed)[0].change, Change::Unfollowed { author_id: "b2".into() });
        let account = account();
        let deleted =
            Record { id: "change-9".into(), time, old: Some(Image::Account(Box::new(account.clone()))), new: None };
        assert_eq!(events_of(&deleted)[0].change, Change::Deleted {});
        let unchanged = Record { new: Some(Image::Account(Box::new(account))), ..deleted };
        assert_eq!(events_of(&unchanged), [], "a write no one else reads");
    }

    #[test]
    fn an_event_names_its_type_and_carries_no_secret() {
        let event = AccountEvent::new("u1", Change::Deleted {}, time::macros::datetime!(2026-12-02 12:00 UTC));
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "account.deleted");
        assert_eq!(json["data"], serde_json::json!({}));
        assert_eq!(json["schema_version"], 1);
        let kinds: std::collections::BTreeSet<_> = examples().iter().map(Change::kind).collect();
        assert_eq!(kinds.len(), examples().len(), "one example of each type");
        assert!(!catalogue().contains("argon2"), "no hash, password or token in any event");
    }

    #[test]
    fn docs_events_md_is_the_catalogue() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/events.md");
        let document = std::fs::read_to_string(path).unwrap_or_default();
        let (start, end) = ("<!-- catalogue:start -->\n", "<!-- catalogue:end -->");
        let written = document.split_once(start).and_then(|(_, rest)| rest.split_once(end)).map(|(inner, _)| inner);
        let expected = catalogue();
        assert!(
            written == Some(expected.as_str()),
            "docs/events.md differs from the events' code; between its markers it should read:\n{expected}"
        );
    }
}
