use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{AccountStatus, EmailAddress, Factors, Profile};

/// An account id: a UUIDv7, so ids sort by creation time.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub String);

impl UserId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Reader,
    Author,
    Moderator,
    Admin,
}

impl Role {
    /// Every role, in the order listings take them (by name).
    pub const ALL: [Role; 4] = [Role::Admin, Role::Author, Role::Moderator, Role::Reader];

    pub fn parse(name: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|role| role.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Author => "author",
            Role::Moderator => "moderator",
            Role::Admin => "admin",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Registered; the email is not confirmed yet. Cannot log in.
    Pending,
    Active,
    Suspended,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Active => "active",
            Status::Suspended => "suspended",
        }
    }
}

/// Where the profile photo stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhotoStatus {
    /// An upload form was handed out; its file has not been processed yet.
    AwaitingUpload,
    /// `photo_url` and `thumbnail_url` show the photo.
    Ready,
    /// The last upload was refused (`photo_error` says why); any earlier photo stays.
    Failed,
}

/// An Argon2id PHC string. Never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// An account as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub email: EmailAddress,
    pub role: Role,
    #[serde(flatten)]
    pub status: AccountStatus,
    #[serde(flatten)]
    pub profile: Profile,
    /// None for an account made by a provider that never set one (it signs in by the provider,
    /// and may set a password by the reset flow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<PasswordHash>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub email_confirmed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Bumped by every write: each write is conditional on the version it read.
    #[serde(default)]
    pub version: u64,
    /// Bumped when the password changes (change or reset): sessions and emailed tokens are
    /// bound to the credential they were made with.
    #[serde(default)]
    pub credential_version: u64,
    /// Bumped by each password-reset request: only the newest reset link works.
    #[serde(default)]
    pub reset_generation: u32,
    /// Bumped when the role or the status changes: a session is granted only while the
    /// account is still at the version its login read, so no session outlives such a change.
    #[serde(default)]
    pub access_version: u64,
    /// The profile photo's id: its files are `photos/<user id>/<photo id>.jpg` and
    /// `...-thumb.jpg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_id: Option<String>,
    /// The newest upload form handed out whose file has not been processed yet: only that
    /// upload may become the photo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_upload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_status: Option<PhotoStatus>,
    /// Why the last upload was refused, in words for its owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_error: Option<String>,
    /// A new address asked for and not confirmed yet: the account keeps `email` until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_email: Option<EmailAddress>,
    /// Second factors: with one, a password alone does not sign in.
    #[serde(default, skip_serializing_if = "Factors::is_empty")]
    pub factors: Factors,
    /// The devices (with the network they came from) this account signed in from, as keys
    /// that name neither, oldest first, at most [`MAX_KNOWN_DEVICES`]: a login from another
    /// is alerted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known_devices: Vec<String>,
    /// The provider accounts (Google's, GitHub's, ...) that sign in to this one: each belongs
    /// to at most one account, which the stores keep atomically.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<LinkedIdentity>,
}

/// A provider's account linked to ours: the provider's id for it (`subject`) never changes,
/// whatever becomes of its address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedIdentity {
    /// The operator's id of the provider (`google`, `github`, ...).
    pub provider: String,
    pub subject: String,
    /// The address the provider gave when it was linked (shown to the owner, never looked up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub linked_at: OffsetDateTime,
}

impl LinkedIdentity {
    /// The key that is unique across accounts.
    pub fn key(&self) -> String {
        identity_key(&self.provider, &self.subject)
    }
}

/// The unique key of a provider's subject.
pub fn identity_key(provider: &str, subject: &str) -> String {
    format!("{provider}#{subject}")
}

/// Devices an account remembers; the one not used for longest is forgotten first.
pub const MAX_KNOWN_DEVICES: usize = 20;

impl User {
    /// What the account is known by (its address, its names): what a guesser of its password
    /// tries first, weighed by the password policy.
    pub fn known_by(&self) -> [&str; 4] {
        let profile = &self.profile;
        [self.email.as_str(), &profile.first_name, &profile.last_name, profile.nickname.as_deref().unwrap_or("")]
    }

    /// An admin who can act as one: the last of these can be neither removed nor demoted.
    pub fn counts_as_admin(&self) -> bool {
        self.role == Role::Admin && self.status == AccountStatus::Active
    }

    /// Admins and moderators: they sign in with a second factor, and with a password alone
    /// can only enrol one.
    pub fn has_password(&self) -> bool {
        self.password_hash.is_some()
    }

    /// The linked identity of this provider and subject, if any.
    pub fn identity(&self, provider: &str, subject: &str) -> Option<&LinkedIdentity> {
        self.identities.iter().find(|i| i.provider == provider && i.subject == subject)
    }

    pub fn is_staff(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Moderator)
    }

    /// A suspension whose end date has passed: it no longer holds, whether or not anything
    /// has written the account since (no job lifts it).
    pub fn suspension_is_over(&self, now: OffsetDateTime) -> bool {
        self.status.suspension().is_some_and(|s| s.is_over(now))
    }

    /// Active, or suspended until a date that has passed.
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.status == AccountStatus::Active || self.suspension_is_over(now)
    }

    /// An account that gets what it subscribed to: active, or its suspension is over.
    pub fn can_receive_notifications(&self, now: OffsetDateTime) -> bool {
        self.is_active(now)
    }

    /// An author anyone may see: active, or suspended until a date that has passed.
    pub fn is_public_author(&self, now: OffsetDateTime) -> bool {
        self.role == Role::Author && self.is_active(now)
    }

    /// A registration not confirmed within `ttl`: to every flow as if it did not exist.
    pub fn is_expired_pending(&self, now: OffsetDateTime, ttl: time::Duration) -> bool {
        self.status == AccountStatus::Pending && self.created_at + ttl <= now
    }
}

/// An account as its owner and admins see it: everything but secrets.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    #[schema(example = "01933b5e-7c1a-7b2e-9f3a-6f1c2d3e4f50")]
    pub id: String,
    #[schema(example = "ada@example.com")]
    pub email: String,
    pub role: Role,
    pub status: Status,
    pub first_name: String,
    pub last_name: String,
    pub nickname: Option<String>,
    pub bio: Option<String>,
    pub email_confirmed: bool,
    /// When the suspension ends by itself (with status `suspended`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub suspended_until: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspension_reason: Option<String>,
    /// A new address waiting for its confirmation link to be followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "ada.lovelace@example.com")]
    pub pending_email: Option<String>,
    #[serde(flatten)]
    pub photo: PhotoView,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

/// A profile's photo as clients see it: working URLs, and how the last upload went.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct PhotoView {
    /// The square profile photo (512 x 512 JPEG).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_url: Option<String>,
    /// Its thumbnail (128 x 128 JPEG).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_status: Option<PhotoStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_error: Option<String>,
}

impl PhotoView {
    /// `photos_url` is where photo files are served from (`Config::photos_url`).
    pub fn new(user: &User, photos_url: &str) -> Self {
        let url = |key: String| format!("{photos_url}/{key}");
        Self {
            photo_url: user.photo_id.as_ref().map(|id| url(super::photo_keys::photo(&user.id, id))),
            thumbnail_url: user.photo_id.as_ref().map(|id| url(super::photo_keys::thumbnail(&user.id, id))),
            photo_status: user.photo_status,
            photo_error: user.photo_error.clone(),
        }
    }
}

impl UserView {
    /// The account as its owner and admins see it; photo URLs under `photos_url`.
    pub fn new(user: &User, photos_url: &str) -> Self {
        Self {
            id: user.id.0.clone(),
            email: user.email.to_string(),
            role: user.role,
            status: user.status.tag(),
            first_name: user.profile.first_name.clone(),
            last_name: user.profile.last_name.clone(),
            nickname: user.profile.nickname.clone(),
            bio: user.profile.bio.clone(),
            email_confirmed: user.email_confirmed_at.is_some(),
            pending_email: user.pending_email.as_ref().map(ToString::to_string),
            suspended_until: user.status.suspended_until(),
            suspension_reason: user.status.suspension_reason().map(str::to_string),
            photo: PhotoView::new(user, photos_url),
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// An author as anyone may see them: no email, no account internals.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuthorView {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub nickname: Option<String>,
    pub bio: Option<String>,
    #[serde(flatten)]
    pub photo: PhotoView,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// On the author's own profile (`GET author`): their subscribers, followers and follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<AuthorCounts>,
}

/// How many subscribe to an author, follow them, and whom they follow (held subscriptions and
/// follows: a suspended account's count until it is deleted).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct AuthorCounts {
    pub subscribers: u64,
    pub followers: u64,
    pub follows: u64,
}

impl AuthorView {
    pub fn new(user: &User, photos_url: &str) -> Self {
        Self {
            id: user.id.0.clone(),
            first_name: user.profile.first_name.clone(),
            last_name: user.profile.last_name.clone(),
            nickname: user.profile.nickname.clone(),
            bio: user.profile.bio.clone(),
            // The photo itself: its processing state is its owner's business.
            photo: PhotoView { photo_status: None, photo_error: None, ..PhotoView::new(user, photos_url) },
            created_at: user.created_at,
            counts: None,
        }
    }
}
