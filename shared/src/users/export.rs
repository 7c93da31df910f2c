//! Everything held about your account, in one answer (`GET /api/v1/user/export`).

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{SessionView, UsersState, security::ActivityView};
use crate::{
    domain::{Action, UserId, UserView},
    http::{ApiError, AuthUser, Problem},
    identity::providers::IdentityView,
    ports::{EdgeKind, Side},
};

/// An author you subscribe to or follow, as your export lists them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EdgeExport {
    pub author_id: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub since: OffsetDateTime,
}

/// A report you filed, as your export lists it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReportExport {
    pub id: String,
    pub author_id: String,
    pub reason: String,
    /// `open`, or `flagged` once a moderator took it up.
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// Everything held about you.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DataExport {
    pub account: UserView,
    pub sessions: Vec<SessionView>,
    /// The providers' accounts (Google's, GitHub's, ...) linked to yours.
    pub identities: Vec<IdentityView>,
    /// The authors you subscribe to.
    pub subscriptions: Vec<EdgeExport>,
    /// The authors you follow.
    pub follows: Vec<EdgeExport>,
    /// The reports you filed, newest first.
    pub reports: Vec<ReportExport>,
    /// Your security activity of the last 90 days, newest first.
    pub activity: Vec<ActivityView>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub exported_at: OffsetDateTime,
}

/// Export everything held about you, as JSON: your account, your sessions, whom you
/// subscribe to and follow, the reports you filed, and your security activity.
#[utoipa::path(
    get, path = "/api/v1/user/export", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your data", body = DataExport),
        (status = 401, description = "No valid access token", body = Problem),
    )
)]
pub async fn export(State(state): State<UsersState>, caller: AuthUser) -> Result<Json<DataExport>, ApiError> {
    caller.require(Action::ExportOwnData)?;
    Ok(Json(data_export(&state, &caller).await?))
}

/// Everything held about the caller's account, read store by store.
async fn data_export(state: &UsersState, caller: &AuthUser) -> Result<DataExport, ApiError> {
    let user = state.identity.accounts.account(&caller.user_id).await?.ok_or(ApiError::Unauthorized)?;
    let sessions = state.identity.sessions.user_sessions(&caller.user_id).await?;
    let sessions = sessions.into_iter().map(|s| SessionView::new(s, &caller.session_id)).collect();
    let subscriptions = every_edge(state, EdgeKind::Subscription, &caller.user_id).await?;
    let follows = every_edge(state, EdgeKind::Follow, &caller.user_id).await?;
    let reports = state.moderation.reports_filed_by(&caller.user_id).await?;
    let reports = reports
        .into_iter()
        .map(|r| ReportExport {
            status: if r.flag_id.is_some() { "flagged" } else { "open" }.to_string(),
            id: r.id,
            author_id: r.author_id.0,
            reason: r.reason,
            created_at: r.created_at,
        })
        .collect();
    let now = state.identity.clock.now();
    Ok(DataExport {
        account: UserView::new(&user, &state.identity.config.photos_url),
        sessions,
        identities: user.identities.iter().map(IdentityView::from).collect(),
        subscriptions,
        follows,
        reports,
        activity: every_activity(state, &caller.user_id, now).await?,
        exported_at: now,
    })
}

/// The account's whole security activity, page after page.
async fn every_activity(state: &UsersState, id: &UserId, now: OffsetDateTime) -> Result<Vec<ActivityView>, ApiError> {
    let (mut activity, mut before) = (Vec::new(), None);
    loop {
        let page = state.identity.activity.activity(id, now, 100, before.as_deref()).await?;
        let full = page.len() == 100;
        before = page.last().map(|e| e.id.clone());
        activity.extend(page.into_iter().map(ActivityView::from));
        if !full {
            return Ok(activity);
        }
    }
}

/// Every edge of this kind the account made, page after page.
async fn every_edge(state: &UsersState, kind: EdgeKind, user: &UserId) -> Result<Vec<EdgeExport>, ApiError> {
    let (mut all, mut after) = (Vec::new(), None);
    loop {
        let (edges, next) = state.social.edges(kind, &Side::From(user.clone()), 100, after.as_ref()).await?;
        all.extend(edges.into_iter().map(|e| EdgeExport { author_id: e.to.0, since: e.created_at }));
        match next {
            Some(next) => after = Some(next),
            None => return Ok(all),
        }
    }
}
