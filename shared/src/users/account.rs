//! `/api/v1/user`: your own account (read, change, delete), or with `?id=` (admins only) any
//! account. Each handler parses, calls the account lifecycle or the sign-in service, answers.

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::{
    UsersState,
    profile::{ProfileUpdate, update_account, update_own_account},
};
use crate::{
    accounts::Target,
    domain::{Action, FieldError, UserView},
    http::{ApiError, AuthUser, Device, JsonBody, Problem, QueryParams, RawBody, Source},
    identity::{
        caller::Subject,
        password::{self, OwnerProof},
        staff,
    },
};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountQuery {
    /// Another account's id (admins only); without it, your own account.
    pub id: Option<String>,
}

/// Your own account, or with `?id=` (admins only) any account.
#[utoipa::path(
    get, path = "/api/v1/user", tag = "users", params(AccountQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = UserView),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Another account, and not an admin (`forbidden`)", body = Problem),
        (status = 404, description = "No account has this id (`not_found`)", body = Problem),
    )
)]
pub async fn me(
    State(state): State<UsersState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<AccountQuery>,
) -> Result<Json<UserView>, ApiError> {
    let user = match caller.own_or_as_admin(query.id, Action::ReadOwnAccount)? {
        Subject::Own(id) => state.identity.accounts.account(&id).await?.ok_or(ApiError::Unauthorized)?,
        Subject::Other(id) => state.identity.accounts.account(&id).await?.ok_or(ApiError::NotFound)?,
    };
    Ok(Json(UserView::new(&user, &state.identity.config.photos_url)))
}

/// Change your profile (names, nickname, bio, email), or with `?id=` (admins only) any
/// account's profile, role and status.
#[utoipa::path(
    put, path = "/api/v1/user", tag = "users", params(AccountQuery),
    request_body(content = ProfileUpdate, description = "Your own profile; with `?id=`, an `AccountUpdate`"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated account", body = UserView),
        (status = 401, description = "No valid access token, or an email, role or status change without a recent authentication (`step_up_required`)", body = Problem),
        (status = 403, description = "Another account, and not an admin (`forbidden`)", body = Problem),
        (status = 404, description = "No account has this id (`not_found`)", body = Problem),
        (status = 403, description = "A wrong `current_password` with `email` (`wrong_current_password`)", body = Problem),
        (status = 409, description = "The account changed meanwhile (`conflict`), the new email is taken (`email_taken`), or the last admin would go (`last_admin`)", body = Problem),
        (status = 422, description = "Invalid or unknown fields, or `email` without `current_password` (`validation_failed`), nothing changed", body = Problem),
        (status = 429, description = "Too many email changes (`too_many_email_changes`), emails to the new address (`too_many_emails`) or wrong passwords (`too_many_attempts`)", body = Problem),
        (status = 503, description = "Too many password checks at once (`server_busy`)", body = Problem),
    )
)]
pub async fn update_me(
    State(state): State<UsersState>,
    caller: AuthUser,
    source: Source,
    device: Device,
    QueryParams(query): QueryParams<AccountQuery>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Json<UserView>, ApiError> {
    let user = match caller.own_or_as_admin(query.id, Action::UpdateOwnAccount)? {
        Subject::Own(_) => update_own_account(&state, &caller, (&source, &device), body).await?,
        Subject::Other(id) => update_account(&state, &caller, &id, None, body).await?,
    };
    Ok(Json(UserView::new(&user, &state.identity.config.photos_url)))
}

/// What deleting your own account asks for: your current password, or (an account may have
/// none) the code `POST /api/v1/auth/email_code` sent to your address.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccount {
    /// Your current password.
    #[schema(format = Password, max_length = 1024)]
    pub password: Option<String>,
    /// Instead of `password`: the emailed code.
    #[schema(example = "123456", max_length = 6)]
    pub email_code: Option<String>,
}

/// The longest password a deletion takes (as documented); no password is this long.
const MAX_PASSWORD_CHARS: usize = 1024;

/// Delete your account for good (with your current password), or with `?id=` (admins only)
/// any account. The profile, photos, sessions and emailed links go; a goodbye email goes to
/// the address.
#[utoipa::path(
    delete, path = "/api/v1/user", tag = "users", params(AccountQuery),
    request_body(content = DeleteAccount, description = "Your current password; no body with `?id=`"),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The body is not JSON (`malformed_json`)", body = Problem),
        (status = 401, description = "No valid access token, or no recent authentication (`step_up_required`)", body = Problem),
        (status = 403, description = "Wrong password (`wrong_current_password`), or another account and not an admin (`forbidden`)", body = Problem),
        (status = 404, description = "No account has this id (`not_found`)", body = Problem),
        (status = 409, description = "The last active admin (`last_admin`), or the account changed meanwhile (`conflict`)", body = Problem),
        (status = 422, description = "No password, or one over 1024 characters (`validation_failed`)", body = Problem),
        (status = 429, description = "Too many wrong passwords (`too_many_attempts`)", body = Problem),
        (status = 503, description = "Too many password checks at once (`server_busy`)", body = Problem),
    )
)]
pub async fn delete_me(
    State(state): State<UsersState>,
    caller: AuthUser,
    source: Source,
    QueryParams(query): QueryParams<AccountQuery>,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    match caller.own_or_as_admin(query.id, Action::DeleteOwnAccount)? {
        Subject::Own(_) => {
            let request = proof_in(&body)?;
            let proof = match (&request.password, &request.email_code) {
                (Some(password), None) => OwnerProof::Password(password),
                (None, Some(code)) => OwnerProof::EmailCode(code),
                _ => return Err(proof_required()),
            };
            password::delete_own_account(&state.identity, &caller, proof, &source).await?
        }
        Subject::Other(id) => {
            // No body is asked for; one that is sent must still be what the route takes.
            if !body.iter().all(u8::is_ascii_whitespace) {
                proof_in(&body)?;
            }
            staff::delete_account(&state.identity, &caller, Target { id: &id, role: None }).await?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The deletion's body, its fields' sizes checked.
fn proof_in(body: &[u8]) -> Result<DeleteAccount, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(proof_required());
    }
    let request: DeleteAccount = serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    if request.password.as_ref().is_some_and(|p| p.chars().count() > MAX_PASSWORD_CHARS) {
        let detail = format!("at most {MAX_PASSWORD_CHARS} characters");
        return Err(ApiError::Validation(vec![FieldError::new("password", "too_long", detail)]));
    }
    Ok(request)
}

fn proof_required() -> ApiError {
    let why = "your current password, or `email_code` (not both)";
    ApiError::Validation(vec![FieldError::new("password", "required", why)])
}
