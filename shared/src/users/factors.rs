//! The caller's own second factors, in the users group with the rest of the account's settings:
//! list them, enrol and remove an authenticator app, replace the recovery codes. (Signing in and
//! stepping up with them is the auth group's, and so are passkeys, registered with the WebAuthn
//! that signing in with them needs there anyway: the authenticator app's enrolment, its QR code
//! among it, is what the auth function no longer carries.)

use axum::{extract::State, http::StatusCode};
use serde::Deserialize;
use utoipa::ToSchema;

use super::UsersState;
use crate::{
    auth::{ConfirmTotpRequest, NoStore, no_store},
    http::{ApiError, AuthUser, Device, EnrollingUser, JsonBody, Problem, Source},
    identity::second_factor::{self, FactorsView, RecoveryCodes, TotpEnrolment},
};

/// Your second factors: which exist, how many recovery codes are left. Never a secret.
#[utoipa::path(
    get, path = "/api/v1/auth/factors", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account's factors", body = FactorsView),
        (status = 401, description = "No valid access token", body = Problem),
    )
)]
pub async fn factors(
    State(state): State<UsersState>,
    EnrollingUser { user: caller, .. }: EnrollingUser,
) -> Result<axum::Json<FactorsView>, ApiError> {
    Ok(axum::Json(second_factor::factors(&state.identity, &caller).await?))
}

/// Start enrolling an authenticator app (TOTP).
///
/// Answers a new secret, shown this once: as an `otpauth://` URI, as a QR code to scan, and in
/// base32 to type. Confirm it with its first code at `POST /api/v1/auth/factors/totp/confirm`;
/// until then a password alone still signs in. Starting again replaces an unconfirmed secret.
/// In a session that proved who it is recently (a staff account's first login does).
#[utoipa::path(
    post, path = "/api/v1/auth/factors/totp", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "A secret to confirm", body = TotpEnrolment),
        (status = 401, description = "No valid access token, or `step_up_required`", body = Problem),
        (status = 409, description = "A TOTP factor exists (`factor_exists`)", body = Problem),
    )
)]
pub async fn begin_totp(
    State(state): State<UsersState>,
    EnrollingUser { user: caller, .. }: EnrollingUser,
) -> Result<(StatusCode, NoStore<TotpEnrolment>), ApiError> {
    Ok((StatusCode::CREATED, no_store(second_factor::begin_totp(&state.identity, &caller).await?)))
}

/// Confirm the authenticator app with its first code.
///
/// From now on a login needs a code after the password. Answers ten recovery codes, shown
/// this once: each signs in once in place of a code. A staff account's enrolment-only session
/// gets full tokens at its next refresh. In a session that proved who it is recently.
#[utoipa::path(
    post, path = "/api/v1/auth/factors/totp/confirm", tag = "auth", request_body = ConfirmTotpRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Enrolled; the recovery codes", body = RecoveryCodes),
        (status = 401, description = "No valid access token, `step_up_required`, or a wrong code (`invalid_second_factor`)", body = Problem),
        (status = 404, description = "No enrolment under way (`no_such_factor`)", body = Problem),
        (status = 409, description = "A TOTP factor exists (`factor_exists`), or the enrolment was started again meanwhile (`conflict`)", body = Problem),
        (status = 429, description = "Too many failures (`too_many_attempts`); see Retry-After", body = Problem),
    )
)]
pub async fn confirm_totp(
    State(state): State<UsersState>,
    EnrollingUser { user: caller, .. }: EnrollingUser,
    source: Source,
    device: Device,
    JsonBody(body): JsonBody<ConfirmTotpRequest>,
) -> Result<NoStore<RecoveryCodes>, ApiError> {
    Ok(no_store(second_factor::confirm_totp(&state.identity, &caller, &body.code, (&source, &device)).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct RemoveTotpRequest {
    pub password: String,
    /// A current code of the app being removed.
    #[schema(example = "123456")]
    pub code: String,
}

/// Remove the authenticator app (and the recovery codes with it).
///
/// With the password and a current code, in a session that proved who it is recently. Staff
/// accounts keep their factor (an admin can reset it).
#[utoipa::path(
    delete, path = "/api/v1/auth/factors/totp", tag = "auth", request_body = RemoveTotpRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed; a password alone signs in again"),
        (status = 401, description = "No valid access token, `step_up_required`, or a wrong code (`invalid_second_factor`)", body = Problem),
        (status = 403, description = "`wrong_current_password`", body = Problem),
        (status = 404, description = "No TOTP factor (`no_such_factor`)", body = Problem),
        (status = 409, description = "A staff account's factor (`second_factor_required`)", body = Problem),
        (status = 429, description = "Too many failures (`too_many_attempts`); see Retry-After", body = Problem),
        (status = 503, description = "Password hashing is at capacity (`server_busy`); see Retry-After", body = Problem),
    )
)]
pub async fn remove_totp(
    State(state): State<UsersState>,
    caller: AuthUser,
    source: Source,
    device: Device,
    JsonBody(body): JsonBody<RemoveTotpRequest>,
) -> Result<StatusCode, ApiError> {
    second_factor::remove_totp(&state.identity, &caller, &body.password, &body.code, (&source, &device)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace your recovery codes: ten new ones, shown this once; the old ones stop working.
#[utoipa::path(
    post, path = "/api/v1/auth/factors/recovery_codes", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new recovery codes", body = RecoveryCodes),
        (status = 401, description = "No valid access token, or `step_up_required`", body = Problem),
        (status = 404, description = "No factor to recover (`no_such_factor`)", body = Problem),
    )
)]
pub async fn regenerate_recovery_codes(
    State(state): State<UsersState>,
    caller: AuthUser,
    source: Source,
    device: Device,
) -> Result<NoStore<RecoveryCodes>, ApiError> {
    Ok(no_store(second_factor::regenerate_recovery_codes(&state.identity, &caller, (&source, &device)).await?))
}
