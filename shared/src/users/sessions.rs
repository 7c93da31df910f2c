//! Sessions their owner can see and end one by one: where each came from, on what, when it was
//! last used. Admins do the same for any account, on the audit trail.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{SessionView, UsersState, other_account};
use crate::{
    domain::Action,
    http::{ApiError, AuthUser, Problem, QueryParams},
    ports::{AuditRecord, ModerationAction},
};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionsQuery {
    /// Another account's id (admins only); without it, your own sessions.
    pub id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// Most recently used first.
    pub items: Vec<SessionView>,
}

/// Your sessions, or with `?id=` (admins only) another account's: where each came from, on
/// what, when it was last used, and which one is this.
#[utoipa::path(
    get, path = "/api/v1/user/sessions", tag = "users", params(SessionsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The sessions", body = SessionList),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Another account, and not an admin (`forbidden`)", body = Problem),
    )
)]
pub async fn sessions(
    State(state): State<UsersState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<SessionsQuery>,
) -> Result<Json<SessionList>, ApiError> {
    let account = match other_account(&caller, query.id) {
        Some(other) => {
            caller.require(Action::ManageAnyAccount)?;
            other
        }
        None => {
            caller.require(Action::ManageOwnSessions)?;
            caller.user_id.clone()
        }
    };
    let mut items: Vec<SessionView> = state
        .sessions
        .user_sessions(&account)
        .await?
        .into_iter()
        .map(|s| SessionView::new(s, &caller.session_id))
        .collect();
    items.sort_by(|a, b| b.last_used_at.cmp(&a.last_used_at).then_with(|| b.id.cmp(&a.id)));
    Ok(Json(SessionList { items }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EndSessionQuery {
    /// The session's `id`.
    pub session: String,
    /// Another account's id (admins only); without it, one of your own sessions.
    pub id: Option<String>,
}

/// End one session: its refresh token stops working, and its access token at its next
/// request (as a logout does). Ending another account's (admins only) is recorded on the audit
/// trail (`end_session`).
#[utoipa::path(
    delete, path = "/api/v1/user/sessions", tag = "users", params(EndSessionQuery),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Ended"),
        (status = 400, description = "No `session` (`invalid_query`)", body = Problem),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Another account, and not an admin (`forbidden`)", body = Problem),
        (status = 404, description = "The account has no such session (`not_found`)", body = Problem),
    )
)]
pub async fn end_session(
    State(state): State<UsersState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<EndSessionQuery>,
) -> Result<StatusCode, ApiError> {
    let other = other_account(&caller, query.id);
    match &other {
        Some(_) => caller.require(Action::ManageAnyAccount)?,
        None => caller.require(Action::ManageOwnSessions)?,
    }
    let account = other.clone().unwrap_or_else(|| caller.user_id.clone());
    state.sessions.session(&account, &query.session).await?.ok_or(ApiError::NotFound)?;
    state.sessions.delete_session(&account, &query.session).await?;
    if let Some(account) = other {
        let record =
            AuditRecord::new(&caller.user_id, ModerationAction::EndSession, &account, String::new(), state.clock.now());
        state.moderation.record_action(&record).await?;
        tracing::info!(admin = %caller.user_id, user_id = %account, "a session ended by an admin");
    } else {
        tracing::info!(user_id = %account, "a session ended by its owner");
    }
    Ok(StatusCode::NO_CONTENT)
}
