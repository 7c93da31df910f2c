//! The pages the confirmation and reset links open, when no front end is configured
//! (`UMS_CONFIRM_EMAIL_URL`, `UMS_PASSWORD_RESET_URL`): a GET shows a form, its POST acts.

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    response::Response,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::AuthState;
use crate::http::{
    Device, Source,
    pages::{FormPage, LinkForm, unusable_link},
};
use crate::identity::{password, sessions};

/// The `token` of the link, as the email has it.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkQuery {
    /// The token from the emailed link.
    #[allow(dead_code)]
    pub token: Option<String>,
}

/// What a link's page posts (`application/x-www-form-urlencoded`).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct TokenForm {
    pub token: String,
}

/// What the reset page posts (`application/x-www-form-urlencoded`).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct NewPasswordForm {
    pub token: String,
    /// 8 to 128 characters; common passwords are refused.
    pub password: String,
}

const CONFIRM: FormPage = FormPage {
    title: "Confirm your email address",
    lead: "Press the button to confirm this email address for your account.",
    action: "confirm-email",
    button: "Confirm my email address",
    password: false,
};

const RESET: FormPage = FormPage {
    title: "Choose a new password",
    lead: "Setting a new password signs you out everywhere; sign in again with the new one.",
    action: "reset-password",
    button: "Set my new password",
    password: true,
};

/// The page an emailed confirmation link opens: a button that confirms (a GET changes nothing).
#[utoipa::path(
    get, path = "/confirm-email", tag = "pages", params(LinkQuery),
    responses(
        (status = 200, description = "A page with the confirm button", content_type = "text/html", body = String),
        (status = 400, description = "A link without a token of ours", content_type = "text/html", body = String),
    )
)]
pub async fn confirm_email_page(RawQuery(query): RawQuery) -> Response {
    CONFIRM.for_link(query.as_deref())
}

/// The confirm button: confirms the address, answers a page.
#[utoipa::path(
    post, path = "/confirm-email", tag = "pages",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Confirmed", content_type = "text/html", body = String),
        (status = 400, description = "The link was used, expired or replaced", content_type = "text/html", body = String),
        (status = 409, description = "The account changed meanwhile", content_type = "text/html", body = String),
    )
)]
pub async fn confirm_email_form(State(state): State<AuthState>, body: Bytes) -> Response {
    let form = LinkForm::parse(&body);
    let Some(token) = form.token() else { return unusable_link() };
    let outcome = password::confirm_email(&state, token).await;
    CONFIRM.result(token, outcome, "Email address confirmed", "Your email address is confirmed: you can sign in now.")
}

/// The page an emailed reset link opens: a form for the new password.
#[utoipa::path(
    get, path = "/reset-password", tag = "pages", params(LinkQuery),
    responses(
        (status = 200, description = "A page with the new-password form", content_type = "text/html", body = String),
        (status = 400, description = "A link without a token of ours", content_type = "text/html", body = String),
    )
)]
pub async fn reset_password_page(RawQuery(query): RawQuery) -> Response {
    RESET.for_link(query.as_deref())
}

/// The new-password form: sets it and ends every session, answers a page. A refused
/// password shows the form again, the link still good.
#[utoipa::path(
    post, path = "/reset-password", tag = "pages",
    request_body(content = NewPasswordForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Password changed", content_type = "text/html", body = String),
        (status = 400, description = "The link was used, expired or replaced", content_type = "text/html", body = String),
        (status = 409, description = "The account changed meanwhile", content_type = "text/html", body = String),
        (status = 422, description = "The password is refused: the form again, with why", content_type = "text/html", body = String),
        (status = 503, description = "Password hashing is at capacity; see Retry-After", content_type = "text/html", body = String),
    )
)]
pub async fn reset_password_form(
    State(state): State<AuthState>,
    source: Source,
    device: Device,
    body: Bytes,
) -> Response {
    let form = LinkForm::parse(&body);
    let Some(token) = form.token() else { return unusable_link() };
    let outcome = password::reset_password(&state, token, form.password.clone(), (&source, &device)).await;
    RESET.result(token, outcome, "Password changed", "Your password is changed. Sign in with the new one.")
}

const END_SESSION: FormPage = FormPage {
    title: "End that session",
    lead: "Press the button to sign that device out. If it was not you, change your password too: \
           this ends only the one session the email was about.",
    action: "end-session",
    button: "Sign that device out",
    password: false,
};

/// The page a sign-in alert's link opens: a button that ends the session it was about (a GET
/// changes nothing: mail scanners open links).
#[utoipa::path(
    get, path = "/end-session", tag = "pages", params(LinkQuery),
    responses(
        (status = 200, description = "A page with the button", content_type = "text/html", body = String),
        (status = 400, description = "A link without a token of ours", content_type = "text/html", body = String),
    )
)]
pub async fn end_session_page(RawQuery(query): RawQuery) -> Response {
    END_SESSION.for_link(query.as_deref())
}

/// The button: ends the session the alert was about, once; answers a page.
#[utoipa::path(
    post, path = "/end-session", tag = "pages",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The session is ended", content_type = "text/html", body = String),
        (status = 400, description = "The link was used or expired", content_type = "text/html", body = String),
    )
)]
pub async fn end_session_form(State(state): State<AuthState>, source: Source, device: Device, body: Bytes) -> Response {
    let form = LinkForm::parse(&body);
    let Some(token) = form.token() else { return unusable_link() };
    let outcome = sessions::end_session_from_alert(&state, token, (&source, &device)).await;
    END_SESSION.result(
        token,
        outcome,
        "Session ended",
        "That device is signed out. If the sign-in was not yours, change your password now.",
    )
}
