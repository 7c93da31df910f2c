//! The auth route group: registration, email confirmation, sessions, passwords, JWKS.
//!
//! `routes()` declares each route once (path, method, handler, OpenAPI operation); the
//! group's state holds only the ports its flows use.

pub mod flows;
mod routes;
pub(crate) mod schemas;
pub mod throttle;

use std::sync::Arc;

use axum::extract::FromRef;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use flows::{Confirmation, NewAccount, TokenPair};
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

pub fn routes() -> OpenApiRouter<AuthState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(send_confirm_email))
        .routes(routes!(confirm_email))
        .routes(routes!(send_reset_password_email))
        .routes(routes!(reset_password))
        .routes(routes!(change_password))
        .routes(routes!(jwks))
}

/// The group's routes over its state, without the shared layers (`http::finish` adds them).
pub fn router(state: AuthState) -> axum::Router {
    routes().split_for_parts().0.with_state(state)
}
