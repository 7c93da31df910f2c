//! What the service needs from the outside world, one narrow trait per aggregate, shaped so
//! that an embedded database and DynamoDB can implement each with the same behaviour. Every
//! check-then-act is one atomic call on the port that owns its invariant: the unique email on
//! `AccountStore`, refresh rotation on `SessionStore`, single use on `TokenStore`, counting on
//! `LimitStore`, one open report per reporter on `ModerationStore`, one delivery per subscriber on
//! `NotificationStore`.

mod accounts;
mod activity;
mod jobs;
mod limits;
mod mail;
mod moderation;
mod photos;
mod sessions;
mod social;
mod tokens;
mod webhooks;

pub use accounts::{AccountFilter, AccountStore, Position};
pub use activity::{ACTIVITY_RETENTION, ActivityEntry, ActivityKind, ActivityStore};
pub use jobs::{EmailJob, EmailMessage, Envelope, Job, JobQueue, LinkRequest, NotificationEmail, Queue, SignInAlert};
pub use limits::{
    AttemptPolicy, Attempts, CheckKey, CheckPolicies, CheckReservation, LimitStore, PasswordCheck, Reservation,
};
pub use mail::{Mailer, OutgoingEmail, SendFailure};
pub use moderation::{
    AuditRecord, Flag, MAX_LINKED_REPORTS, ModerationAction, ModerationError, ModerationStore, RecordFilter, Report,
};
pub use photos::{PhotoStore, Upload, UploadForm, UploadForms};
pub use sessions::{Rotation, Session, SessionStore};
pub use social::{
    DeliveryClaim, DeliveryState, Edge, EdgeAdded, EdgeKind, Finished, IdRange, Notification, NotificationStore,
    Segment, SegmentPosition, Side, SocialStore,
};
pub use tokens::{OneTimeToken, TokenKind, TokenStore};
pub use webhooks::{WebhookDirectory, WebhookState, WebhookStatus};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another account already holds this email (compared without case).
    #[error("email already registered")]
    EmailTaken,
    /// Another account already has this provider's subject linked.
    #[error("identity already linked")]
    IdentityTaken,
    /// The record changed since it was read (its version, or the credential it depends on):
    /// a concurrent write won.
    #[error("the record changed since it was read")]
    Conflict,
    /// The write would leave no active admin (a demotion, a suspension, a deletion).
    #[error("the last admin")]
    LastAdmin,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;
