//! Deleting accounts (your own, with your password; any, for admins) and the admin and
//! moderator routes: the account routes narrowed to one role, for admins.

use axum::{Json, extract::State, http::StatusCode};
use serde_json::{Map, Value};

use super::{AccountUpdate, IdQuery, UsersState, update_account};
use crate::{
    accounts::Target,
    domain::{Action, Role, UserId, UserView},
    http::{ApiError, AuthUser, Device, JsonBody, Problem, QueryParams, Source},
    identity::staff,
};

/// Remove another account's second factors (a lost authenticator). Admins only, with a
/// recent authentication; recorded on the audit trail (`reset_factors`). The account's
/// sessions end; a staff account enrols again at its next login.
#[utoipa::path(
    delete, path = "/api/v1/user/factors", tag = "users", params(IdQuery),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every factor removed, every session ended"),
        (status = 400, description = "No `id` (`invalid_query`)", body = Problem),
        (status = 401, description = "No valid access token, or no recent authentication (`step_up_required`)", body = Problem),
        (status = 403, description = "Not an admin (`forbidden`)", body = Problem),
        (status = 404, description = "No account has this id (`not_found`)", body = Problem),
        (status = 409, description = "Your own account (`second_factor_required`: staff keep a factor), or the account changed meanwhile (`conflict`)", body = Problem),
    )
)]
pub async fn reset_factors(
    State(state): State<UsersState>,
    caller: AuthUser,
    source: Source,
    device: Device,
    QueryParams(query): QueryParams<IdQuery>,
) -> Result<StatusCode, ApiError> {
    let client = (&source, &device);
    staff::reset_factors(&state.identity, state.moderation.as_ref(), &caller, &UserId(query.id), client).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn staff_account(state: &UsersState, caller: &AuthUser, role: Role, id: String) -> Result<UserView, ApiError> {
    caller.require(Action::ManageAnyAccount)?;
    let user =
        state.identity.accounts.account(&UserId(id)).await?.filter(|u| u.role == role).ok_or(ApiError::NotFound)?;
    Ok(UserView::new(&user, &state.identity.config.photos_url))
}

/// An admin's account. Admins only.
#[utoipa::path(
    get, path = "/api/v1/admin", tag = "users", params(IdQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The admin", body = UserView),
        (status = 400, description = "No `id` (`invalid_query`)", body = Problem),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Not an admin (`forbidden`)", body = Problem),
        (status = 404, description = "No admin has this id (`not_found`)", body = Problem),
    )
)]
pub async fn admin(
    State(state): State<UsersState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<IdQuery>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(staff_account(&state, &caller, Role::Admin, query.id).await?))
}

/// A moderator's account. Admins only.
#[utoipa::path(
    get, path = "/api/v1/moderator", tag = "users", params(IdQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The moderator", body = UserView),
        (status = 400, description = "No `id` (`invalid_query`)", body = Problem),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Not an admin (`forbidden`)", body = Problem),
        (status = 404, description = "No moderator has this id (`not_found`)", body = Problem),
    )
)]
pub async fn moderator(
    State(state): State<UsersState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<IdQuery>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(staff_account(&state, &caller, Role::Moderator, query.id).await?))
}

/// Update an admin: profile, role (a demotion) and status. Admins only; the last active admin
/// can be neither demoted nor suspended.
#[utoipa::path(
    put, path = "/api/v1/admin", tag = "users", params(IdQuery), request_body = AccountUpdate,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated account", body = UserView),
        (status = 400, description = "No `id` (`invalid_query`)", body = Problem),
        (status = 401, description = "No valid access token, or a role change without a recent authentication (`step_up_required`)", body = Problem),
        (status = 403, description = "Not an admin (`forbidden`)", body = Problem),
        (status = 404, description = "No admin has this id (`not_found`)", body = Problem),
        (status = 409, description = "The last active admin (`last_admin`), or the account changed meanwhile (`conflict`)", body = Problem),
        (status = 422, description = "Invalid or unknown fields (`validation_failed`), nothing changed", body = Problem),
    )
)]
pub async fn update_admin(
    State(state): State<UsersState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<IdQuery>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Json<UserView>, ApiError> {
    let user = update_account(&state, &caller, &UserId(query.id), Some(Role::Admin), body).await?;
    Ok(Json(UserView::new(&user, &state.identity.config.photos_url)))
}

/// Update a moderator: profile, role and status. Admins only.
#[utoipa::path(
    put, path = "/api/v1/moderator", tag = "users", params(IdQuery), request_body = AccountUpdate,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated account", body = UserView),
        (status = 400, description = "No `id` (`invalid_query`)", body = Problem),
        (status = 401, description = "No valid access token, or a role change without a recent authentication (`step_up_required`)", body = Problem),
        (status = 403, description = "Not an admin (`forbidden`)", body = Problem),
        (status = 404, description = "No moderator has this id (`not_found`)", body = Problem),
        (status = 409, description = "The account changed meanwhile (`conflict`)", body = Problem),
        (status = 422, description = "Invalid or unknown fields (`validation_failed`), nothing changed", body = Problem),
    )
)]
pub async fn update_moderator(
    State(state): State<UsersState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<IdQuery>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Json<UserView>, ApiError> {
    let user = update_account(&state, &caller, &UserId(query.id), Some(Role::Moderator), body).await?;
    Ok(Json(UserView::new(&user, &state.identity.config.photos_url)))
}

/// Delete an admin for good. Admins only; never the last active admin.
#[utoipa::path(
    delete, path = "/api/v1/admin", tag = "users", params(IdQuery),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "No `id` (`invalid_query`)", body = Problem),
        (status = 401, description = "No valid access token, or no recent authentication (`step_up_required`)", body = Problem),
        (status = 403, description = "Not an admin (`forbidden`)", body = Problem),
        (status = 404, description = "No admin has this id (`not_found`)", body = Problem),
        (status = 409, description = "The last active admin (`last_admin`), or the account changed meanwhile (`conflict`)", body = Problem),
    )
)]
pub async fn delete_admin(
    State(state): State<UsersState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<IdQuery>,
) -> Result<StatusCode, ApiError> {
    staff::delete_account(&state.identity, &caller, Target { id: &UserId(query.id), role: Some(Role::Admin) }).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete a moderator for good. Admins only.
#[utoipa::path(
    delete, path = "/api/v1/moderator", tag = "users", params(IdQuery),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "No `id` (`invalid_query`)", body = Problem),
        (status = 401, description = "No valid access token, or no recent authentication (`step_up_required`)", body = Problem),
        (status = 403, description = "Not an admin (`forbidden`)", body = Problem),
        (status = 404, description = "No moderator has this id (`not_found`)", body = Problem),
        (status = 409, description = "The account changed meanwhile (`conflict`)", body = Problem),
    )
)]
pub async fn delete_moderator(
    State(state): State<UsersState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<IdQuery>,
) -> Result<StatusCode, ApiError> {
    staff::delete_account(&state.identity, &caller, Target { id: &UserId(query.id), role: Some(Role::Moderator) })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
