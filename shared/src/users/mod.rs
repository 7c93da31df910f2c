//! The users route group: accounts and profiles.

mod lists;
mod profile;

pub use lists::*;
pub use profile::*;

use std::sync::Arc;

use axum::{
    Json,
    extract::{FromRef, State},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    clock::Clock,
    credentials::JwtKeys,
    domain::{Action, UserView},
    http::{Access, ApiError, AuthUser, Problem},
    ports::{AccountStore, SessionStore},
};

/// What the users group uses. It queues no jobs, so it has no queue to be handed.
#[derive(Clone)]
pub struct UsersState {
    pub accounts: Arc<dyn AccountStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub keys: Arc<JwtKeys>,
    pub clock: Arc<dyn Clock>,
}

impl FromRef<UsersState> for Access {
    fn from_ref(state: &UsersState) -> Self {
        Access { keys: state.keys.clone(), sessions: state.sessions.clone(), clock: state.clock.clone() }
    }
}

impl FromRef<UsersState> for Arc<dyn AccountStore> {
    fn from_ref(state: &UsersState) -> Self {
        state.accounts.clone()
    }
}

pub fn routes() -> OpenApiRouter<UsersState> {
    OpenApiRouter::new()
        .routes(routes!(me, update_me))
        .routes(routes!(author))
        .routes(routes!(authors))
        .routes(routes!(users))
        .routes(routes!(admins))
        .routes(routes!(moderators))
}

/// The group's routes over its state, without the shared layers (`http::finish` adds them).
pub fn router(state: UsersState) -> axum::Router {
    routes().split_for_parts().0.with_state(state)
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
pub async fn me(State(accounts): State<Arc<dyn AccountStore>>, caller: AuthUser) -> Result<Json<UserView>, ApiError> {
    caller.require(Action::ReadOwnAccount)?;
    let user = accounts.account(&caller.user_id).await?.ok_or(ApiError::Unauthorized)?;
    Ok(Json(UserView::from(&user)))
}
