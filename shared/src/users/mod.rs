//! The users route group: accounts and profiles.

mod email_change;
mod lists;
mod manage;
mod photo;
mod profile;
mod sessions;
mod webhooks;

pub use email_change::*;
pub use lists::*;
pub use manage::*;
pub use photo::*;
pub use profile::*;
pub use sessions::*;
pub use webhooks::*;

use std::sync::Arc;

use axum::{
    Json,
    extract::{FromRef, State},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use crate::{
    domain::{Action, UserId, UserView},
    http::{Access, ApiError, AuthUser, Problem, QueryParams},
    identity::{Identity, caller::Subject},
    ports::{EdgeKind, ModerationStore, Side, SocialStore, UploadForms, WebhookDirectory},
};

/// What the users group uses: the sign-in service (accounts, sessions, the password check that
/// self-deletion and email changes ask for, the email queue, limits, activity), photo upload
/// forms, the social graph (counts on author profiles; the export's subscriptions and
/// follows), the audit trail (the export's reports; an admin's actions), and where the webhook
/// endpoints' deliveries stand. It never touches a photo file itself.
#[derive(Clone)]
pub struct UsersState {
    pub identity: Identity,
    pub uploads: Arc<dyn UploadForms>,
    pub social: Arc<dyn SocialStore>,
    pub moderation: Arc<dyn ModerationStore>,
    pub webhooks: Arc<dyn WebhookDirectory>,
}

impl FromRef<UsersState> for Access {
    fn from_ref(state: &UsersState) -> Self {
        state.identity.access()
    }
}

crate::http::route_group! {
    UsersState;
    [me, update_me, delete_me],
    [admin, update_admin, delete_admin],
    [moderator, update_moderator, delete_moderator],
    [export],
    [reset_factors],
    [sessions, end_session],
    [activity],
    [upload_photo, delete_photo],
    [confirm_email_change],
    [confirm_email_change_page, confirm_email_change_form],
    [author],
    [authors],
    [users],
    [admins],
    [moderators],
    [webhooks],
}

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

/// A session, as its owner (and admins) see it: no secret, not even hashed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Its login, or its latest refresh (an access token's use is not recorded).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_used_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    /// The address its login came from.
    #[schema(example = "203.0.113.7")]
    pub source: Option<String>,
    /// What its login came with, from the User-Agent (as the client told it).
    #[schema(example = "Firefox on Linux")]
    pub device: Option<String>,
    /// How its login proved who it was (RFC 8176: `pwd`, `otp`, `hwk`, `mfa`).
    pub amr: Vec<String>,
    /// The session of the request that asked.
    pub current: bool,
}

impl SessionView {
    pub fn new(session: crate::ports::Session, current_session: &str) -> Self {
        Self {
            current: session.id == current_session,
            last_used_at: session.last_used_at(),
            id: session.id,
            created_at: session.created_at,
            expires_at: session.expires_at,
            source: session.source,
            device: session.device,
            amr: session.amr,
        }
    }
}

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
    /// The authors you subscribe to.
    pub subscriptions: Vec<EdgeExport>,
    /// The authors you follow.
    pub follows: Vec<EdgeExport>,
    /// The reports you filed, newest first.
    pub reports: Vec<ReportExport>,
    /// Your security activity of the last 90 days, newest first.
    pub activity: Vec<sessions::ActivityView>,
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
        subscriptions,
        follows,
        reports,
        activity: every_activity(state, &caller.user_id, now).await?,
        exported_at: now,
    })
}

/// The account's whole security activity, page after page.
async fn every_activity(
    state: &UsersState,
    id: &UserId,
    now: OffsetDateTime,
) -> Result<Vec<sessions::ActivityView>, ApiError> {
    let (mut activity, mut before) = (Vec::new(), None);
    loop {
        let page = state.identity.activity.activity(id, now, 100, before.as_deref()).await?;
        let full = page.len() == 100;
        before = page.last().map(|e| e.id.clone());
        activity.extend(page.into_iter().map(sessions::ActivityView::from));
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
