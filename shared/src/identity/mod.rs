//! Sign-in as one service, below HTTP: who someone is and how they proved it.
//!
//! It owns every way in (a password, a second factor, a passkey; a provider or an emailed code
//! enter as one more [`Proof`]-like module beside these), step-up, the sessions those grant
//! (started, refreshed, listed, ended: only here), sign-in alerts, the limits that count
//! attempts, and the security activity each operation records as it happens. Routes, link
//! pages, workers and the operator command call it and answer; its errors are
//! [`IdentityError`], which `http` maps to problem+json and the operator prints in words.
//!
//! The modules, each using only those listed before it (`scripts/module-graph` checks it):
//! - `error`, `client` (where a request came from, on what), `caller` (a verified access
//!   token, and the recency and permission rules every action asks);
//! - `activity`, `throttle`, `single_use` (single-use tokens and ceremonies), `emailed_code`
//!   (six-digit codes sent to an address, and an account's code proving it is its owner's);
//! - `alerts` (a new device's email), then `sessions` (granting one is the bottom of every
//!   way in; refresh, logout, listing and ending);
//! - the ways in: `passkeys`, `second_factor` (the login's second step, step-up, enrolment),
//!   `password` (registration, links, login, change and reset, an email change, deleting your
//!   own account), `providers` (Google, Apple, GitHub, any OpenID provider: a sign-in, the
//!   account it makes or links to), `email_sign_in` (a code or link emailed, no password);
//! - `staff`: what admins and moderation do to other accounts (role, status, suspension,
//!   deletion, a factor reset), each with its permission and recency asked here.

pub mod activity;
pub mod alerts;
pub mod caller;
pub mod client;
pub mod console;
pub mod email_sign_in;
pub mod emailed_code;
mod error;
pub mod passkeys;
pub mod password;
pub mod providers;
pub mod second_factor;
pub mod sessions;
pub mod single_use;
pub mod staff;
pub mod throttle;

use std::sync::Arc;

pub use caller::{Access, AuthUser};
pub use client::{Device, Source};
pub use error::IdentityError;
pub use password::{NewAccount, Registrar};
pub use sessions::TokenPair;

use crate::{
    accounts::Lifecycle,
    clock::Clock,
    config::Config,
    credentials::{JwtKeys, PasswordHasher, breached::BreachedPasswords},
    ports::{AccountStore, ActivityStore, JobQueue, LimitStore, SessionStore, TokenStore},
};

/// The sign-in service: the ports its operations use, and nothing else. Both paths build it
/// from their adapters; each route group that signs in, lists sessions or steps up holds one.
#[derive(Clone)]
pub struct Identity {
    pub config: Arc<Config>,
    pub accounts: Arc<dyn AccountStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub tokens: Arc<dyn TokenStore>,
    pub limits: Arc<dyn LimitStore>,
    /// Confirmation and reset links, alerts and notices go out through the email queue.
    pub jobs: Arc<dyn JobQueue>,
    pub keys: Arc<JwtKeys>,
    pub hasher: PasswordHasher,
    pub clock: Arc<dyn Clock>,
    /// Each account's security activity.
    pub activity: Arc<dyn ActivityStore>,
    /// Whether a new password was published from a breach.
    pub breached: Arc<BreachedPasswords>,
}

impl Identity {
    /// The account lifecycle over the service's stores.
    pub fn lifecycle(&self) -> Lifecycle<'_> {
        Lifecycle { accounts: self.accounts.as_ref(), sessions: self.sessions.as_ref(), clock: self.clock.as_ref() }
    }

    /// What authenticating a caller takes.
    pub fn access(&self) -> Access {
        Access { keys: self.keys.clone(), sessions: self.sessions.clone(), clock: self.clock.clone() }
    }
}
