//! The users route group.

use axum::{Json, Router, extract::State, routing::get};

use crate::{
    app::AppState,
    auth::AuthUser,
    domain::UserView,
    error::{ApiError, Problem},
};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/user", get(me))
}

/// Your own account.
#[utoipa::path(
    get, path = "/api/v1/user", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your account", body = UserView),
        (status = 401, description = "No valid access token", body = Problem),
    )
)]
pub async fn me(State(state): State<AppState>, caller: AuthUser) -> Result<Json<UserView>, ApiError> {
    let user = state.store.user(&caller.user_id).await?.ok_or(ApiError::Unauthorized)?;
    Ok(Json(UserView::from(&user)))
}
