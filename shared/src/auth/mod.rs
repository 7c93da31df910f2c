//! The auth route group: registration, email confirmation, sessions, passwords, the ways in
//! (a password and its second factor, a passkey, an emailed code or link), step-up, JWKS and
//! discovery. (The caller's authenticator app and recovery codes are managed in the users group.)
//!
//! `routes()` declares each route once (path, method, handler, OpenAPI operation); each
//! handler parses, calls the sign-in service (`identity`), and answers.

mod email_routes;
mod factor_routes;
mod link_pages;
mod routes;
pub(crate) mod schemas;

pub(crate) use routes::{NoStore, no_store};

use std::sync::Arc;

use axum::extract::FromRef;

pub use email_routes::*;
pub use factor_routes::*;
pub use link_pages::*;
pub use routes::*;

use crate::{credentials::JwtKeys, http::Access, identity::Identity};

/// What the auth group uses: the sign-in service, whose operations its routes call.
pub type AuthState = Identity;

impl FromRef<AuthState> for Access {
    fn from_ref(state: &AuthState) -> Self {
        state.access()
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
    [begin_passkey],
    [confirm_passkey],
    [remove_passkey],
    [passkey_options],
    [passkey_sign_in],
    [email_sign_in],
    [email_sign_in_code],
    [email_sign_in_exchange],
    [email_code],
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
    [email_sign_in_page, email_sign_in_form],
}
