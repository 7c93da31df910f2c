//! The auth group's sign-in by email: ask, finish with the code, the link's page and the front
//! end's exchange; and the code a signed-in account is sent to prove it is its owner's.

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    AuthState,
    link_pages::{LinkQuery, TokenForm},
    routes::{NoStore, no_store},
    schemas,
};
use crate::{
    http::{
        ApiError, AuthUser, Device, JsonBody, Problem, Source,
        pages::{FormPage, LinkForm, continue_to, unusable_link},
    },
    identity::{
        email_sign_in::{self, Ask, EmailSignInAsked, Finish},
        emailed_code,
        second_factor::LoginOutcome,
    },
};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailSignInRequest {
    #[schema(schema_with = schemas::email)]
    pub email: String,
    /// The front end's page the emailed link ends at, with `?code=` to exchange at
    /// `POST /api/v1/auth/email_sign_in/exchange`: one of the operator's `UMS_FRONT_END_URLS`,
    /// exactly. Without it, the email has only the code.
    #[schema(example = "https://blog.example/signed-in", max_length = 2048)]
    pub redirect_to: Option<String>,
    /// Bind the link to this browser: its code is exchanged only with the `flow_id` this answers
    /// (kept by the front end), so a link opened elsewhere signs nobody in there. Needs
    /// `redirect_to`.
    #[serde(default)]
    pub same_browser: bool,
}

/// Sign in by email: ask for a code (and a link).
///
/// Always 202 with the same shape, whether or not an account has the address: an address
/// without one signs up as a reader by finishing. The email holds a six-digit code (finish at
/// `POST /api/v1/auth/email_sign_in/code`) and, with `redirect_to`, a link; both work once, for
/// ten minutes, and asking again replaces them. Counted per source and per address before
/// anything is sent.
#[utoipa::path(
    post, path = "/api/v1/auth/email_sign_in", tag = "auth", request_body = EmailSignInRequest,
    responses(
        (status = 202, description = "Sent (or, for an address that takes no mail, not: the answer is the same)", body = EmailSignInAsked),
        (status = 400, description = "`redirect_to` is not on the operator's list (`redirect_not_allowed`), or the body is not JSON (`malformed_json`)", body = Problem),
        (status = 422, description = "Not an email address, or `same_browser` without `redirect_to` (`validation_failed`)", body = Problem),
        (status = 429, description = "Too many sign-ins asked from this source, or emails to this address (`too_many_emails`); see Retry-After", body = Problem),
    )
)]
pub async fn email_sign_in(
    State(state): State<AuthState>,
    source: Source,
    JsonBody(body): JsonBody<EmailSignInRequest>,
) -> Result<(StatusCode, NoStore<EmailSignInAsked>), ApiError> {
    let ask = Ask { email: &body.email, redirect_to: body.redirect_to.as_deref(), same_browser: body.same_browser };
    Ok((StatusCode::ACCEPTED, no_store(email_sign_in::ask(&state, ask, &source).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailCodeSignInRequest {
    /// The address the code was sent to; or `flow_id` instead.
    #[schema(example = "ada@example.com", max_length = 254)]
    pub email: Option<String>,
    /// What the ask answered, instead of `email`.
    #[schema(max_length = 87)]
    pub flow_id: Option<String>,
    /// The six digits from the email.
    #[schema(example = "123456", pattern = "^[0-9]{6}$")]
    pub code: String,
}

/// Sign in by email: finish with the code.
///
/// The address (or the ask's `flow_id`) and the code: tokens, or (for an account with a second
/// factor) its challenge, as a login answers. Each check counts toward the same backoff as a
/// password; a code is checked at most five times, then it is dead, even for the right one.
#[utoipa::path(
    post, path = "/api/v1/auth/email_sign_in/code", tag = "auth", request_body = EmailCodeSignInRequest,
    responses(
        (status = 200, description = "Signed in (`TokenPair`), or a second factor is needed (`SecondFactorChallenge`)", body = LoginOutcome),
        (status = 400, description = "The code is wrong, used, replaced, expired or was checked five times (`invalid_code`)", body = Problem),
        (status = 403, description = "`account_suspended`", body = Problem),
        (status = 422, description = "Not six digits, or not exactly one of `email` and `flow_id` (`validation_failed`)", body = Problem),
        (status = 429, description = "Too many failures (`too_many_attempts`), or a new account and too many registrations (`too_many_registrations`); see Retry-After", body = Problem),
    )
)]
pub async fn email_sign_in_code(
    State(state): State<AuthState>,
    source: Source,
    device: Device,
    JsonBody(body): JsonBody<EmailCodeSignInRequest>,
) -> Result<NoStore<LoginOutcome>, ApiError> {
    let finish = match (&body.email, &body.flow_id) {
        (Some(email), None) => Finish::Email(email),
        (None, Some(flow_id)) => Finish::FlowId(flow_id),
        _ => {
            let why = "send exactly one of `email` and `flow_id`";
            return Err(ApiError::Validation(vec![crate::domain::FieldError::new("email", "one_of", why)]));
        }
    };
    let outcome = email_sign_in::finish_with_code(&state, finish, &body.code, (&source, &device)).await?;
    Ok(no_store(outcome))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailSignInExchangeRequest {
    /// The `code` the link's page sent the browser back with.
    #[schema(max_length = 43)]
    pub code: String,
    /// What the ask answered: needed when it was `same_browser`.
    #[schema(max_length = 87)]
    pub flow_id: Option<String>,
}

/// Sign in by email: exchange the link's code.
///
/// Once, within two minutes: with the ask's `flow_id` if it was `same_browser` (a front end
/// without it, in another browser, is told `invalid_sign_in_flow`: ask the person to type the
/// code from the email where they asked), else from where the link's button was pressed.
#[utoipa::path(
    post, path = "/api/v1/auth/email_sign_in/exchange", tag = "auth", request_body = EmailSignInExchangeRequest,
    responses(
        (status = 200, description = "Signed in (`TokenPair`), or a second factor is needed (`SecondFactorChallenge`)", body = LoginOutcome),
        (status = 400, description = "Unknown, used, expired, or from another browser (`invalid_sign_in_flow`)", body = Problem),
        (status = 403, description = "`account_suspended`", body = Problem),
        (status = 429, description = "A new account and too many registrations (`too_many_registrations`); see Retry-After", body = Problem),
    )
)]
pub async fn email_sign_in_exchange(
    State(state): State<AuthState>,
    source: Source,
    device: Device,
    JsonBody(body): JsonBody<EmailSignInExchangeRequest>,
) -> Result<NoStore<LoginOutcome>, ApiError> {
    let flow_id = body.flow_id.as_deref();
    Ok(no_store(email_sign_in::exchange(&state, &body.code, flow_id, (&source, &device)).await?))
}

const SIGN_IN: FormPage = FormPage {
    title: "Sign in",
    lead: "Press the button to sign in with this email address.",
    action: "email-sign-in",
    button: "Sign in",
    password: false,
};

/// The page an emailed sign-in link opens: a button that signs in (a GET changes nothing).
#[utoipa::path(
    get, path = "/email-sign-in", tag = "pages", params(LinkQuery),
    responses(
        (status = 200, description = "A page with the sign-in button", content_type = "text/html", body = String),
        (status = 400, description = "A link without a token of ours", content_type = "text/html", body = String),
    )
)]
pub async fn email_sign_in_page(RawQuery(query): RawQuery) -> Response {
    SIGN_IN.for_link(query.as_deref())
}

/// The button: takes the sign-in once, and sends the browser on to the front end's page with a
/// code to exchange.
#[utoipa::path(
    post, path = "/email-sign-in", tag = "pages",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "On to the front end (a refresh, and a link)", content_type = "text/html", body = String),
        (status = 400, description = "The link was used, expired or replaced", content_type = "text/html", body = String),
    )
)]
pub async fn email_sign_in_form(State(state): State<AuthState>, source: Source, body: Bytes) -> Response {
    let form = LinkForm::parse(&body);
    let Some(token) = form.token() else { return unusable_link() };
    match email_sign_in::open_link(&state, token, &source).await {
        Ok(next) => continue_to("Signing you in", "Taking you back to sign in…", &next),
        Err(e) => SIGN_IN.result(token, Err::<(), _>(e), "", ""),
    }
}

/// When an emailed code stops working.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailCodeSent {
    #[schema(example = 600)]
    pub expires_in: u64,
}

/// Email yourself a code that proves it is you.
///
/// Six digits, to your account's address, working once for ten minutes (a newer one replaces
/// it): give it as `email_code` to `POST /api/v1/auth/step_up` (an account without a second
/// factor), to an email change (`PUT /api/v1/user`) or to a deletion (`DELETE /api/v1/user`),
/// in place of a password an account may not have.
#[utoipa::path(
    post, path = "/api/v1/auth/email_code", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Sent", body = EmailCodeSent),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 429, description = "Too many emails to this address (`too_many_emails`); see Retry-After", body = Problem),
    )
)]
pub async fn email_code(
    State(state): State<AuthState>,
    caller: AuthUser,
) -> Result<(StatusCode, axum::Json<EmailCodeSent>), ApiError> {
    let expires_in = emailed_code::send_account_code(&state, &caller).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(EmailCodeSent { expires_in })))
}
