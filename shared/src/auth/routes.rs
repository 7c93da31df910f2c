//! The auth group's handlers: HTTP in, a flow call, HTTP out.

use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    http::{HeaderName, StatusCode, header},
};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{AuthState, schemas};
use crate::{
    credentials::JwtKeys,
    domain::{Role, UserView},
    http::{
        ApiError, AuthUser, Device, EnrollingUser, JsonBody, MaybeCaller, PathParam, Problem, QueryParams, RawBody,
        Source,
    },
    identity::{NewAccount, Registrar, TokenPair, password, second_factor::LoginOutcome, sessions},
};

#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(schema_with = schemas::email)]
    pub email: String,
    /// 8 to 128 characters; common passwords are refused.
    #[schema(schema_with = schemas::new_password)]
    pub password: String,
    #[schema(schema_with = schemas::first_name)]
    pub first_name: String,
    #[schema(schema_with = schemas::last_name)]
    pub last_name: String,
    #[schema(schema_with = schemas::nickname)]
    pub nickname: Option<String>,
    #[schema(schema_with = schemas::bio)]
    pub bio: Option<String>,
}

/// Register an account.
///
/// `reader` and `author` are open to anyone; `moderator` and `admin` need an admin's token.
/// The account starts `pending` and is emailed a confirmation link.
#[utoipa::path(
    post, path = "/api/v1/auth/register/{role}", tag = "auth",
    params(("role" = Role, Path, description = "reader and author: anyone; moderator and admin: admins only")),
    request_body = RegisterRequest,
    security((), ("bearer" = [])),
    responses(
        (status = 201, description = "Registered; confirmation email queued", body = UserView),
        (status = 401, description = "A moderator or admin registration without a valid token, or without a recent authentication (`step_up_required`)", body = Problem),
        (status = 403, description = "Only admins register moderators and admins", body = Problem),
        (status = 404, description = "Unknown role", body = Problem),
        (status = 409, description = "The email is taken (`email_taken`)", body = Problem),
        (status = 422, description = "Invalid fields (`validation_failed`; a password's codes: `too_short`, `too_long`, `too_common`, `too_personal`, `too_weak`, `breached`)", body = Problem),
        (status = 429, description = "Too many registrations from this source or in all (`too_many_registrations`); see Retry-After", body = Problem),
        (status = 503, description = "Password hashing is at capacity (`server_busy`), or the breached-password list cannot be reached and the operator chose to refuse then (`password_check_unavailable`); see Retry-After", body = Problem),
    )
)]
pub async fn register(
    State(state): State<AuthState>,
    PathParam(role): PathParam<String>,
    // Looked at only for staff roles: anyone may register as a reader or an author.
    MaybeCaller(caller): MaybeCaller,
    source: Source,
    JsonBody(body): JsonBody<RegisterRequest>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let role = Role::parse(&role).ok_or(ApiError::NotFound)?;
    let new = NewAccount {
        email: body.email,
        password: body.password,
        first_name: body.first_name,
        last_name: body.last_name,
        nickname: body.nickname,
        bio: body.bio,
    };
    let by = Registrar::Request { caller, source: &source };
    let user = password::register(&state, new, role, by).await?;
    Ok((StatusCode::CREATED, Json(UserView::new(&user, &state.config.photos_url))))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Any string: a login with what is not an address answers like a wrong password.
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "correct horse battery staple")]
    pub password: String,
}

/// Log in with email and password.
///
/// Unknown emails and wrong passwords answer alike. Repeated failures for one email are
/// answered 429 with `Retry-After`. Accounts whose email is not confirmed cannot log in.
///
/// An account with a second factor gets a `challenge` instead of tokens: answer it at
/// `POST /api/v1/auth/login/second_factor`. A staff account without one gets tokens that can
/// only enrol one (`second_factor_enrolment_required`).
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in (`TokenPair`), or a second factor is needed (`SecondFactorChallenge`)", body = LoginOutcome),
        (status = 401, description = "Wrong email or password (`invalid_credentials`)", body = Problem),
        (status = 403, description = "`email_not_confirmed` or `account_suspended`", body = Problem),
        (status = 429, description = "Too many failures (`too_many_attempts`); see Retry-After", body = Problem),
        (status = 503, description = "Password hashing is at capacity (`server_busy`); see Retry-After", body = Problem),
    )
)]
pub async fn login(
    State(state): State<AuthState>,
    source: Source,
    device: Device,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<NoStore<LoginOutcome>, ApiError> {
    Ok(no_store(password::login(&state, &body.email, &body.password, (&source, &device)).await?))
}

/// Tokens (and challenges) are never to be cached, by the browser or anything in between.
pub(crate) type NoStore<T> = ([(HeaderName, &'static str); 2], Json<T>);
type Tokens = NoStore<TokenPair>;

pub(crate) fn no_store<T>(body: T) -> NoStore<T> {
    ([(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")], Json(body))
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    #[schema(schema_with = schemas::refresh_token)]
    pub refresh_token: String,
}

/// Exchange a refresh token for a new access token and a new refresh token.
///
/// Each refresh token works once; presenting a used one ends its session.
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenPair),
        (status = 401, description = "`invalid_refresh_token` or `refresh_token_reused`", body = Problem),
        (status = 409, description = "Rotated a moment ago by another request (`refresh_conflict`); the session is kept", body = Problem),
    )
)]
pub async fn refresh(
    State(state): State<AuthState>,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<Tokens, ApiError> {
    Ok(no_store(sessions::refresh(&state, &body.refresh_token).await?))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    /// Also end the session of this refresh token (it must be yours; anything else is ignored).
    pub refresh_token: Option<String>,
    /// End every session of the account.
    #[serde(default)]
    pub all: bool,
}

/// Log out: end this session (or all of them). Its access token stops working at once.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth", request_body(content = Option<LogoutRequest>),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "No valid access token", body = Problem),
    )
)]
pub async fn logout(
    State(state): State<AuthState>,
    // A staff account that has not enrolled a factor yet may still log out.
    EnrollingUser { user: caller, .. }: EnrollingUser,
    source: Source,
    device: Device,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    // The body is optional: an empty one means "this session".
    let request: LogoutRequest = if body.iter().all(u8::is_ascii_whitespace) {
        LogoutRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::MalformedJson(e.to_string()))?
    };
    sessions::logout(&state, &caller, request.refresh_token.as_deref(), request.all, (&source, &device)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct EmailRequest {
    #[schema(schema_with = schemas::email)]
    pub email: String,
}

/// Send a new confirmation link to a pending account.
///
/// Always 202, whether or not the address has an account.
#[utoipa::path(
    post, path = "/api/v1/auth/send_confirm_email", tag = "auth", request_body = EmailRequest,
    responses(
        (status = 202, description = "Accepted"),
        (status = 422, description = "Not an email address", body = Problem),
        (status = 429, description = "Too many emails to this address (`too_many_emails`)", body = Problem),
    )
)]
pub async fn send_confirm_email(
    State(state): State<AuthState>,
    JsonBody(body): JsonBody<EmailRequest>,
) -> Result<StatusCode, ApiError> {
    password::request_confirmation_email(&state, &body.email).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// The token from the emailed link.
    #[param(schema_with = schemas::emailed_token, required = true)]
    pub token: String,
}

/// Confirm an email address with the emailed link.
#[utoipa::path(
    get, path = "/api/v1/auth/confirm_email", tag = "auth", params(TokenQuery),
    responses(
        (status = 200, description = "Confirmed; the account is active", body = UserView),
        (status = 400, description = "`invalid_token` or `token_expired`", body = Problem),
        (status = 409, description = "The account changed meanwhile (`conflict`)", body = Problem),
    )
)]
pub async fn confirm_email(
    State(state): State<AuthState>,
    QueryParams(query): QueryParams<TokenQuery>,
) -> Result<Json<UserView>, ApiError> {
    let user = password::confirm_email(&state, &query.token).await?;
    Ok(Json(UserView::new(&user, &state.config.photos_url)))
}

/// Email a password-reset link.
///
/// Always 202, whether or not the address has an account.
#[utoipa::path(
    post, path = "/api/v1/auth/send_reset_password_email", tag = "auth", request_body = EmailRequest,
    responses(
        (status = 202, description = "Accepted"),
        (status = 422, description = "Not an email address", body = Problem),
        (status = 429, description = "Too many emails to this address (`too_many_emails`)", body = Problem),
    )
)]
pub async fn send_reset_password_email(
    State(state): State<AuthState>,
    JsonBody(body): JsonBody<EmailRequest>,
) -> Result<StatusCode, ApiError> {
    password::request_password_reset(&state, &body.email).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
pub struct ResetPasswordRequest {
    /// The token from the emailed link.
    #[schema(schema_with = schemas::emailed_token)]
    pub token: String,
    #[schema(schema_with = schemas::new_password)]
    pub password: String,
}

/// Set a new password with the emailed token. Ends every session of the account.
#[utoipa::path(
    post, path = "/api/v1/auth/reset_password", tag = "auth", request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password changed"),
        (status = 400, description = "`invalid_token` or `token_expired`", body = Problem),
        (status = 409, description = "The account changed meanwhile (`conflict`)", body = Problem),
        (status = 422, description = "The new password is refused (`validation_failed`: `too_short`, `too_long`, `too_common`, `too_personal`, `too_weak`, `breached`)", body = Problem),
        (status = 503, description = "Password hashing is at capacity (`server_busy`), or the breached-password list cannot be reached and the operator chose to refuse then (`password_check_unavailable`); see Retry-After", body = Problem),
    )
)]
pub async fn reset_password(
    State(state): State<AuthState>,
    source: Source,
    device: Device,
    JsonBody(body): JsonBody<ResetPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    password::reset_password(&state, &body.token, body.password, (&source, &device)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    #[schema(schema_with = schemas::new_password)]
    pub new_password: String,
}

/// Change your password. Ends every session of the account, this one included.
///
/// A sensitive action: the session must have proved who it is recently (a login or
/// `POST /api/v1/auth/step_up` within `UMS_STEP_UP_MAX_AGE_SECS`).
#[utoipa::path(
    post, path = "/api/v1/auth/change_password", tag = "auth", request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Password changed; log in again"),
        (status = 401, description = "No valid access token, or `step_up_required`", body = Problem),
        (status = 403, description = "`wrong_current_password`", body = Problem),
        (status = 409, description = "The password changed meanwhile (`conflict`)", body = Problem),
        (status = 422, description = "The new password is refused (`validation_failed`: `too_short`, `too_long`, `too_common`, `too_personal`, `too_weak`, `breached`)", body = Problem),
        (status = 429, description = "Too many wrong passwords (`too_many_attempts`)", body = Problem),
        (status = 503, description = "Password hashing is at capacity (`server_busy`), or the breached-password list cannot be reached and the operator chose to refuse then (`password_check_unavailable`); see Retry-After", body = Problem),
    )
)]
pub async fn change_password(
    State(state): State<AuthState>,
    caller: AuthUser,
    source: Source,
    device: Device,
    JsonBody(body): JsonBody<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let client = (&source, &device);
    password::change_password(&state, &caller, &body.current_password, body.new_password, client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// OpenID Connect discovery metadata for the access tokens' issuer: where the keys are and how
/// tokens are signed. API Gateway's JWT authorizers and JWT libraries configured with the issuer
/// alone read it. The service is not an OpenID provider (no authorization endpoint): this is
/// the part of the document that verifying its tokens needs.
#[utoipa::path(
    get, path = "/.well-known/openid-configuration", tag = "auth",
    responses((status = 200, description = "Discovery metadata: `issuer`, `jwks_uri`, the signing algorithm", body = Object))
)]
pub async fn openid_configuration(
    State(state): State<AuthState>,
) -> ([(axum::http::HeaderName, &'static str); 1], Json<serde_json::Value>) {
    let metadata = serde_json::json!({
        "issuer": state.config.jwt.issuer,
        "jwks_uri": format!("{}/.well-known/jwks.json", state.config.public_url),
        "id_token_signing_alg_values_supported": [state.keys.algorithm()],
        "subject_types_supported": ["public"],
        "claims_supported": ["iss", "aud", "sub", "sid", "role", "iat", "exp", "auth_time", "amr"],
    });
    ([(axum::http::header::CACHE_CONTROL, "public, max-age=300")], Json(metadata))
}

/// The public keys that verify access tokens (JWK Set).
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "JWK Set", body = Object))
)]
pub async fn jwks(
    State(keys): State<Arc<JwtKeys>>,
) -> ([(axum::http::HeaderName, &'static str); 1], Json<serde_json::Value>) {
    ([(axum::http::header::CACHE_CONTROL, "public, max-age=300")], Json(keys.jwks().await))
}
