//! Every route group's state, assembled in one place from a set of ports. The laptop
//! (`app.rs`: SQLite, the local queue) and each Lambda function (`ums_aws::lambda`: DynamoDB,
//! SQS) only choose the adapters; what each group holds is decided here.

use std::sync::Arc;

use crate::{
    clock::Clock,
    config::Config,
    credentials::{
        JwtKeys, PasswordHasher,
        breached::{BreachedPasswords, RangeReader},
    },
    identity::Identity,
    moderation::ModerationState,
    ports::{
        AccountStore, ActivityStore, JobQueue, LimitStore, ModerationStore, NotificationStore, SessionStore,
        SocialStore, TokenStore, UploadForms, WebhookDirectory,
    },
    social::SocialState,
    users::UsersState,
};

/// A store that keeps every aggregate (SQLite on the laptop, the DynamoDB table on AWS).
pub trait Stores:
    AccountStore
    + SessionStore
    + TokenStore
    + LimitStore
    + ActivityStore
    + SocialStore
    + NotificationStore
    + ModerationStore
    + WebhookDirectory
{
}

impl<T> Stores for T where
    T: AccountStore
        + SessionStore
        + TokenStore
        + LimitStore
        + ActivityStore
        + SocialStore
        + NotificationStore
        + ModerationStore
        + WebhookDirectory
{
}

/// The ports the route groups are made of.
#[derive(Clone)]
pub struct Ports {
    pub config: Arc<Config>,
    pub store: Arc<dyn Stores>,
    /// Where the groups queue work: on AWS, an SQS sender with the URLs of the queues this
    /// function sends to.
    pub jobs: Arc<dyn JobQueue>,
    pub keys: Arc<JwtKeys>,
    pub clock: Arc<dyn Clock>,
    /// How the breached passwords' ranges are fetched.
    pub ranges: Arc<dyn RangeReader>,
}

impl Ports {
    /// The sign-in service (the auth group's state), with `hasher` (one per process: the bound
    /// on concurrent hashing is the process's).
    pub fn identity(&self, hasher: PasswordHasher) -> Identity {
        Identity {
            config: self.config.clone(),
            accounts: self.store.clone(),
            sessions: self.store.clone(),
            tokens: self.store.clone(),
            limits: self.store.clone(),
            jobs: self.jobs.clone(),
            keys: self.keys.clone(),
            hasher,
            clock: self.clock.clone(),
            activity: self.store.clone(),
            breached: Arc::new(BreachedPasswords::new(self.config.breached_passwords.clone(), self.ranges.clone())),
        }
    }

    /// The users group: the sign-in service, the upload forms of photos, and the stores its
    /// routes read besides.
    pub fn users(&self, identity: Identity, uploads: Arc<dyn UploadForms>) -> UsersState {
        UsersState {
            identity,
            uploads,
            social: self.store.clone(),
            moderation: self.store.clone(),
            webhooks: self.store.clone(),
        }
    }

    pub fn moderation(&self) -> ModerationState {
        ModerationState {
            config: self.config.clone(),
            accounts: self.store.clone(),
            sessions: self.store.clone(),
            moderation: self.store.clone(),
            keys: self.keys.clone(),
            clock: self.clock.clone(),
        }
    }

    pub fn social(&self) -> SocialState {
        SocialState {
            config: self.config.clone(),
            accounts: self.store.clone(),
            sessions: self.store.clone(),
            social: self.store.clone(),
            notifications: self.store.clone(),
            limits: self.store.clone(),
            jobs: self.jobs.clone(),
            keys: self.keys.clone(),
            clock: self.clock.clone(),
        }
    }
}
