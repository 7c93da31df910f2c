//! Confirming an email change: the link sent to the new address (the change itself is asked
//! for with `PUT user`, and written by `accounts::Lifecycle::begin_email_change`).

use axum::{Json, extract::State};

use super::UsersState;
use crate::{
    auth::{TokenQuery, flows::take_token},
    domain::UserView,
    http::{ApiError, Problem, QueryParams},
    ports::TokenKind,
};

/// Confirm an email change with the link sent to the new address. No login needed: the link
/// proves the address. A password change or reset since the request voids it.
#[utoipa::path(
    get, path = "/api/v1/user/confirm_email_change", tag = "users", params(TokenQuery),
    responses(
        (status = 200, description = "The account, with its new email", body = UserView),
        (status = 400, description = "`invalid_token` or `token_expired`", body = Problem),
        (status = 409, description = "Another account took the address meanwhile (`email_taken`), or the account changed (`conflict`)", body = Problem),
    )
)]
pub async fn confirm_email_change(
    State(state): State<UsersState>,
    QueryParams(query): QueryParams<TokenQuery>,
) -> Result<Json<UserView>, ApiError> {
    let (link, _) =
        take_token(state.tokens.as_ref(), state.clock.as_ref(), TokenKind::EmailChange, &query.token).await?;
    let user = state.lifecycle().confirm_email_change(&link).await?;
    Ok(Json(UserView::new(&user, &state.config.photos_url)))
}
