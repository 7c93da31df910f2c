//! The auth group's second-factor handlers: the login's second step, step-up, and passkeys
//! (registered by their owner, signing in on their own). The authenticator app and the recovery
//! codes are managed in the users group.

use axum::{extract::State, http::StatusCode};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    AuthState,
    routes::{NoStore, no_store},
};
use crate::{
    http::{ApiError, AuthUser, Device, EnrollingUser, JsonBody, Problem, Source},
    identity::{
        TokenPair,
        passkeys::{self, FinishRegistration, PasskeyRegistered, PasskeyRegistrationOptions, PasskeySignInOptions},
        second_factor::{self, AccessToken, FactorAnswer, Proof},
    },
};

#[derive(Deserialize, ToSchema)]
pub struct SecondFactorRequest {
    /// The `challenge` login answered.
    pub challenge: String,
    #[serde(flatten)]
    pub answer: FactorAnswer,
}

/// Complete a login with a second factor.
///
/// The `challenge` from `POST /api/v1/auth/login`, from the same source, with the code the
/// authenticator app shows (`code`), a recovery code (`recovery_code`), or a passkey's answer
/// to the challenge's `passkey` options (`passkey`). Each attempt counts
/// toward the same backoff as a password; a wrong code leaves the challenge usable until it
/// expires, a right one completes it once. A code is accepted once.
#[utoipa::path(
    post, path = "/api/v1/auth/login/second_factor", tag = "auth", request_body = SecondFactorRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenPair),
        (status = 401, description = "`invalid_challenge` (log in again) or `invalid_second_factor` (wrong, expired or used code, or a passkey answer that does not verify)", body = Problem),
        (status = 422, description = "Not exactly one of `code`, `recovery_code` and `passkey` (`validation_failed`)", body = Problem),
        (status = 429, description = "Too many failures (`too_many_attempts`); see Retry-After", body = Problem),
    )
)]
pub async fn login_second_factor(
    State(state): State<AuthState>,
    source: Source,
    device: Device,
    JsonBody(body): JsonBody<SecondFactorRequest>,
) -> Result<NoStore<TokenPair>, ApiError> {
    Ok(no_store(second_factor::complete_login(&state, &body.challenge, &body.answer, (&source, &device)).await?))
}

/// One proof of who you are: the password, a code, a recovery code, a passkey, or an emailed code.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum StepUpRequest {
    Password(PasswordProof),
    Code(ConfirmTotpRequest),
    RecoveryCode(RecoveryCodeProof),
    Passkey(PasskeyProof),
    EmailCode(EmailCodeProof),
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailCodeProof {
    /// The code `POST /api/v1/auth/email_code` sent to your address (an account without a
    /// second factor).
    #[schema(example = "123456", pattern = "^[0-9]{6}$")]
    pub email_code: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyProof {
    /// The `ceremony` of `POST /api/v1/auth/step_up/passkey`.
    pub ceremony: String,
    /// The passkey's answer to its options, as JSON (`PublicKeyCredential.toJSON()`).
    #[schema(value_type = Object)]
    pub passkey: passkeys::AuthenticatorAnswer,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordProof {
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryCodeProof {
    /// One of the account's recovery codes (each works once).
    #[schema(example = "abcde-fghjk")]
    pub recovery_code: String,
}

/// Prove who you are again, for a sensitive action.
///
/// With a code, a recovery code, a passkey's answer to the options of
/// `POST /api/v1/auth/step_up/passkey`, or (for an account without a second factor) the
/// password or a code emailed by `POST /api/v1/auth/email_code` (`email_code`): answers a new access token for this session whose `auth_time` is now. Changing the
/// email or the password, deleting the account, adding or removing a factor, replacing the
/// recovery codes, and staff actions on other accounts (registering staff, a role or status
/// change, a suspension or reinstatement, a deletion, a factor reset, ending a session) need
/// one within `UMS_STEP_UP_MAX_AGE_SECS` (401 `step_up_required` otherwise).
#[utoipa::path(
    post, path = "/api/v1/auth/step_up", tag = "auth", request_body = StepUpRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A fresh access token", body = AccessToken),
        (status = 400, description = "Not exactly one of `password`, `code`, `recovery_code`, `email_code` and `{ceremony, passkey}` (`malformed_json`), or a wrong, used or replaced `email_code` (`invalid_code`)", body = Problem),
        (status = 401, description = "No valid access token, `invalid_second_factor`, or `invalid_passkey`", body = Problem),
        (status = 403, description = "`wrong_current_password`, or the password for an account with a second factor (`step_up_needs_second_factor`)", body = Problem),
        (status = 429, description = "Too many failures (`too_many_attempts`); see Retry-After", body = Problem),
        (status = 503, description = "Password hashing is at capacity (`server_busy`); see Retry-After", body = Problem),
    )
)]
pub async fn step_up(
    State(state): State<AuthState>,
    caller: AuthUser,
    source: Source,
    JsonBody(body): JsonBody<StepUpRequest>,
) -> Result<NoStore<AccessToken>, ApiError> {
    let answer;
    let proof = match &body {
        StepUpRequest::Password(proof) => Proof::Password(&proof.password),
        StepUpRequest::Code(proof) => {
            answer = FactorAnswer { code: Some(proof.code.clone()), ..Default::default() };
            Proof::Code(&answer)
        }
        StepUpRequest::RecoveryCode(proof) => {
            answer = FactorAnswer { recovery_code: Some(proof.recovery_code.clone()), ..Default::default() };
            Proof::Code(&answer)
        }
        StepUpRequest::Passkey(proof) => Proof::Passkey { ceremony: &proof.ceremony, answer: &proof.passkey },
        StepUpRequest::EmailCode(proof) => Proof::EmailCode(&proof.email_code),
    };
    Ok(no_store(second_factor::step_up(&state, &caller, proof, &source).await?))
}

/// Start a step-up with one of your passkeys.
///
/// Answers WebAuthn options for `navigator.credentials.get()` naming your passkeys, and a
/// `ceremony`; send both back to `POST /api/v1/auth/step_up` as `{ceremony, passkey}`, from the
/// same source, within five minutes.
#[utoipa::path(
    post, path = "/api/v1/auth/step_up/passkey", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Options for the authenticator", body = PasskeySignInOptions),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 404, description = "The account has no passkey (`no_such_factor`)", body = Problem),
    )
)]
pub async fn step_up_passkey(
    State(state): State<AuthState>,
    caller: AuthUser,
    source: Source,
) -> Result<NoStore<PasskeySignInOptions>, ApiError> {
    Ok(no_store(passkeys::begin_step_up(&state, &caller, &source).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmTotpRequest {
    /// The code the app shows for the new secret.
    #[schema(example = "123456")]
    pub code: String,
}

/// Start registering a passkey.
///
/// Answers WebAuthn options for `navigator.credentials.create()` and a `ceremony` to send back
/// with its answer within five minutes. A passkey signs in on its own, so adding one needs a
/// session that proved who it is recently (a staff account's first login does).
#[utoipa::path(
    post, path = "/api/v1/auth/factors/passkeys", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Options for the authenticator", body = PasskeyRegistrationOptions),
        (status = 401, description = "No valid access token, or `step_up_required`", body = Problem),
        (status = 409, description = "The account has as many passkeys as it may keep (`too_many_passkeys`)", body = Problem),
    )
)]
pub async fn begin_passkey(
    State(state): State<AuthState>,
    EnrollingUser { user: caller, .. }: EnrollingUser,
) -> Result<(StatusCode, NoStore<PasskeyRegistrationOptions>), ApiError> {
    Ok((StatusCode::CREATED, no_store(passkeys::begin_registration(&state, &caller).await?)))
}

/// Finish registering a passkey with the authenticator's answer.
///
/// From now on a login can be completed with it, and it signs in on its own
/// (`POST /api/v1/auth/passkey`). The account's first factor comes with ten recovery codes,
/// shown this once. A staff account's enrolment-only session gets full tokens at its next
/// refresh.
#[utoipa::path(
    post, path = "/api/v1/auth/factors/passkeys/confirm", tag = "auth", request_body = FinishRegistration,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered", body = PasskeyRegistered),
        (status = 401, description = "No valid access token, or the answer or ceremony is not good (`invalid_passkey`)", body = Problem),
        (status = 409, description = "This passkey is registered already (`factor_exists`), or `too_many_passkeys`", body = Problem),
        (status = 422, description = "A name that is not one line of at most 64 characters (`validation_failed`)", body = Problem),
    )
)]
pub async fn confirm_passkey(
    State(state): State<AuthState>,
    EnrollingUser { user: caller, .. }: EnrollingUser,
    source: Source,
    device: Device,
    JsonBody(body): JsonBody<FinishRegistration>,
) -> Result<(StatusCode, NoStore<PasskeyRegistered>), ApiError> {
    let client = (&source, &device);
    let name = body.name.as_deref();
    let registered =
        passkeys::finish_registration(&state, &caller, &body.ceremony, &body.credential, name, client).await?;
    Ok((StatusCode::CREATED, no_store(registered)))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct PasskeyPath {
    /// The passkey's `id` (as `GET /api/v1/auth/factors` lists it).
    pub id: String,
}

/// Remove one of your passkeys.
///
/// In a session that proved who it is recently. Staff accounts keep their last factor.
#[utoipa::path(
    delete, path = "/api/v1/auth/factors/passkeys/{id}", tag = "auth", params(PasskeyPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid access token, or `step_up_required`", body = Problem),
        (status = 404, description = "No such passkey (`no_such_factor`)", body = Problem),
        (status = 409, description = "A staff account's last factor (`second_factor_required`)", body = Problem),
    )
)]
pub async fn remove_passkey(
    State(state): State<AuthState>,
    caller: AuthUser,
    source: Source,
    device: Device,
    axum::extract::Path(PasskeyPath { id }): axum::extract::Path<PasskeyPath>,
) -> Result<StatusCode, ApiError> {
    passkeys::remove(&state, &caller, &id, (&source, &device)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeySignInRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
}

/// Start signing in with a passkey.
///
/// Answers WebAuthn options for `navigator.credentials.get()` naming the account's passkeys,
/// and a `ceremony` to send back with its answer, from the same source, within five minutes.
/// Every address gets options of the same shape (an address without passkeys, or without an
/// account, gets believable ones that no authenticator can answer). Counted per source
/// (`UMS_PASSKEY_SIGN_INS_PER_SOURCE_PER_MINUTE`).
#[utoipa::path(
    post, path = "/api/v1/auth/passkey/options", tag = "auth", request_body = PasskeySignInRequest,
    responses(
        (status = 200, description = "Options for the authenticator", body = PasskeySignInOptions),
        (status = 429, description = "Too many sign-ins started from this source (`too_many_attempts`); see Retry-After", body = Problem),
    )
)]
pub async fn passkey_options(
    State(state): State<AuthState>,
    source: Source,
    JsonBody(body): JsonBody<PasskeySignInRequest>,
) -> Result<NoStore<PasskeySignInOptions>, ApiError> {
    Ok(no_store(passkeys::begin_sign_in(&state, &body.email, &source).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeySignIn {
    /// The `ceremony` the options came with.
    pub ceremony: String,
    /// The authenticator's answer as JSON (`PublicKeyCredential.toJSON()` of what
    /// `navigator.credentials.get()` gave).
    #[schema(value_type = Object)]
    pub credential: passkeys::AuthenticatorAnswer,
}

/// Sign in with a passkey (no password).
///
/// A passkey verified by its holder (PIN or biometric) is two factors in one: staff accounts
/// sign in with it alone. The ceremony is finished once, right or wrong.
#[utoipa::path(
    post, path = "/api/v1/auth/passkey", tag = "auth", request_body = PasskeySignIn,
    responses(
        (status = 200, description = "Logged in", body = TokenPair),
        (status = 401, description = "The answer or ceremony is not good (`invalid_passkey`)", body = Problem),
        (status = 403, description = "The email is not confirmed (`email_not_confirmed`) or the account is suspended (`account_suspended`)", body = Problem),
    )
)]
pub async fn passkey_sign_in(
    State(state): State<AuthState>,
    source: Source,
    device: Device,
    JsonBody(body): JsonBody<PasskeySignIn>,
) -> Result<NoStore<TokenPair>, ApiError> {
    Ok(no_store(passkeys::finish_sign_in(&state, &body.ceremony, &body.credential, (&source, &device)).await?))
}
