//! The auth route group: registration, email confirmation, sessions, passwords, second
//! factors and step-up, JWKS and discovery.
//!
//! `routes()` declares each route once (path, method, handler, OpenAPI operation); the
//! group's state holds only the ports its flows use.

pub mod alerts;
mod factor_routes;
pub mod flows;
mod pages;
pub mod passkeys;
mod routes;
pub(crate) mod schemas;
pub mod second_factor;
pub mod throttle;

use std::sync::Arc;

use axum::extract::FromRef;

pub use factor_routes::*;
pub use flows::{Confirmation, NewAccount, TokenPair};
pub use pages::*;
pub use routes::*;

use crate::{
    clock::Clock,
    config::Config,
    credentials::{JwtKeys, PasswordHasher},
    http::Access,
    ports::{AccountStore, JobQueue, LimitStore, SessionStore, TokenStore},
};

/// What the auth group uses, and nothing else.
#[derive(Clone)]
pub struct AuthState {
    pub config: Arc<Config>,
    pub accounts: Arc<dyn AccountStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub tokens: Arc<dyn TokenStore>,
    pub limits: Arc<dyn LimitStore>,
    /// Confirmation and reset emails go out through the email queue.
    pub jobs: Arc<dyn JobQueue>,
    pub keys: Arc<JwtKeys>,
    pub hasher: PasswordHasher,
    pub clock: Arc<dyn Clock>,
    /// Each account's security activity (logins and failed attempts).
    pub activity: Arc<dyn crate::ports::ActivityStore>,
}

impl AuthState {
    /// Records `kind` on the account's security activity, with where and on what it happened.
    pub(crate) async fn record(
        &self,
        user: &crate::domain::UserId,
        kind: crate::ports::ActivityKind,
        client: (&crate::http::Source, &crate::http::Device),
        detail: impl Into<String>,
    ) -> Result<(), crate::http::ApiError> {
        crate::http::record_activity(self.activity.as_ref(), self.clock.now(), user, kind, client, detail).await
    }

    /// The account lifecycle over this group's stores.
    pub fn lifecycle(&self) -> crate::accounts::Lifecycle<'_> {
        crate::accounts::Lifecycle {
            accounts: self.accounts.as_ref(),
            sessions: self.sessions.as_ref(),
            clock: self.clock.as_ref(),
        }
    }
}

impl FromRef<AuthState> for Access {
    fn from_ref(state: &AuthState) -> Self {
        Access { keys: state.keys.clone(), sessions: state.sessions.clone(), clock: state.clock.clone() }
    }
}

impl FromRef<AuthState> for Arc<JwtKeys> {
    fn from_ref(state: &AuthState) -> Self {
        state.keys.clone()
    }
}

crate::http::route_group! {
    AuthState;
    [register],
    [login],
    [login_second_factor],
    [refresh],
    [step_up],
    [step_up_passkey],
    [factors],
    [begin_totp, remove_totp],
    [confirm_totp],
    [regenerate_recovery_codes],
    [begin_passkey],
    [confirm_passkey],
    [remove_passkey],
    [passkey_options],
    [passkey_sign_in],
    [logout],
    [send_confirm_email],
    [confirm_email],
    [send_reset_password_email],
    [reset_password],
    [change_password],
    [openid_configuration],
    [jwks],
    [confirm_email_page, confirm_email_form],
    [reset_password_page, reset_password_form],
    [end_session_page, end_session_form],
}
