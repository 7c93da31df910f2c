//! Sessions their owner can see and end one by one: where each came from, on what, when it was
//! last used. Admins do the same for any account, on the audit trail.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{SessionView, UsersState};
use crate::{
    domain::Action,
    http::{ApiError, AuthUser, Device, Problem, QueryParams, Source},
    identity,
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
    let whose = caller.own_or_as_admin(query.id, Action::ManageOwnSessions)?;
    let sessions = identity::sessions::list(&state.identity, &whose).await?;
    let items = sessions.into_iter().map(|s| SessionView::new(s, &caller.session_id)).collect();
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
        (status = 401, description = "No valid access token, or another account's session without a recent authentication (`step_up_required`)", body = Problem),
        (status = 403, description = "Another account, and not an admin (`forbidden`)", body = Problem),
        (status = 404, description = "The account has no such session (`not_found`)", body = Problem),
    )
)]
pub async fn end_session(
    State(state): State<UsersState>,
    caller: AuthUser,
    source: Source,
    device: Device,
    QueryParams(query): QueryParams<EndSessionQuery>,
) -> Result<StatusCode, ApiError> {
    let whose = caller.own_or_as_admin(query.id, Action::ManageOwnSessions)?;
    let client = (&source, &device);
    identity::sessions::end(&state.identity, state.moderation.as_ref(), &caller, &whose, &query.session, client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// Another account's id (admins only); without it, your own activity.
    pub id: Option<String>,
    /// Entries per page, 1 to 100 (20 if absent).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_before` of the page before.
    pub before: Option<String>,
}

/// One thing that happened to an account's security.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActivityView {
    pub id: String,
    #[schema(value_type = String, example = "signed_in")]
    pub kind: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: time::OffsetDateTime,
    pub source: Option<String>,
    pub device: Option<String>,
    pub detail: String,
}

impl From<crate::ports::ActivityEntry> for ActivityView {
    fn from(e: crate::ports::ActivityEntry) -> Self {
        Self {
            id: e.id,
            kind: e.kind.as_str().to_string(),
            at: e.at,
            source: e.source,
            device: e.device,
            detail: e.detail,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityPage {
    /// Newest first.
    pub items: Vec<ActivityView>,
    /// Pass as `before` for the next page; absent on the last.
    pub next_before: Option<String>,
}

/// Your security activity of the last 90 days, or with `?id=` (admins only) another
/// account's, newest first, page by page: logins and failed attempts, password and email
/// changes, sessions ended, sign-in alerts sent, second factors added and removed.
#[utoipa::path(
    get, path = "/api/v1/user/activity", tag = "users", params(ActivityQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of activity", body = ActivityPage),
        (status = 400, description = "A query string that cannot be read (`invalid_query`)", body = Problem),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Another account, and not an admin (`forbidden`)", body = Problem),
        (status = 422, description = "`limit` out of range (`validation_failed`)", body = Problem),
    )
)]
pub async fn activity(
    State(state): State<UsersState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<ActivityQuery>,
) -> Result<Json<ActivityPage>, ApiError> {
    let whose = caller.own_or_as_admin(query.id, Action::ReadOwnAccount)?;
    let limit = crate::http::page_limit(query.limit)?;
    let entries = state
        .identity
        .activity
        .activity(whose.id(), state.identity.clock.now(), limit as usize, query.before.as_deref())
        .await?;
    let next_before = (entries.len() == limit as usize).then(|| entries.last().map(|e| e.id.clone())).flatten();
    let items = entries.into_iter().map(ActivityView::from).collect();
    Ok(Json(ActivityPage { items, next_before }))
}
