//! Subscriptions and follows: idempotent, never to oneself, only to authors; and their lists,
//! from which suspended and deleted accounts are gone.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::{AuthorQuery, SocialState};
use crate::{
    domain::{Action, FieldError, Role, User, UserId},
    http::{ApiError, AuthUser, Page, Paging, Problem, QueryParams},
    ports::{Edge, EdgeAdded, EdgeKind, Side},
};

/// Someone in a list of subscribers, followers or follows: their public name, no email.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConnectionView {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub nickname: Option<String>,
    pub role: Role,
    /// Since when they subscribe or follow.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub since: OffsetDateTime,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConnectionsQuery {
    /// The author whose list this is.
    pub id: String,
    /// Items per page, 1 to 100 (20 if absent).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before (of this same listing).
    #[param(pattern = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OwnListQuery {
    /// Another author's list (admins only); without it, your own.
    pub id: Option<String>,
    /// Items per page, 1 to 100 (20 if absent).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before (of this same listing).
    #[param(pattern = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
}

/// The author `id` names, if anyone may see them (active, or their suspension is over).
async fn public_author(state: &SocialState, id: &str) -> Result<User, ApiError> {
    let user = state.accounts.account(&UserId(id.to_string())).await?;
    user.filter(|u| u.is_public_author(state.clock.now())).ok_or(ApiError::NotFound)
}

async fn add(state: &SocialState, caller: &AuthUser, kind: EdgeKind, id: String) -> Result<StatusCode, ApiError> {
    if caller.user_id.0 == id {
        return Err(ApiError::Validation(vec![FieldError::new("id", "yourself", "not to yourself")]));
    }
    let author = public_author(state, &id).await?;
    let edge = Edge { kind, from: caller.user_id.clone(), to: author.id, created_at: state.clock.now() };
    match state.social.add_edge(&edge).await? {
        EdgeAdded::New | EdgeAdded::Existing => Ok(StatusCode::NO_CONTENT),
        // Deleted or demoted between the read and the write.
        EdgeAdded::NotAnAuthor => Err(ApiError::NotFound),
    }
}

/// Subscribe to an author: their notifications reach you by email. Idempotent.
#[utoipa::path(
    post, path = "/api/v1/subscribe/author", tag = "social", params(AuthorQuery),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Subscribed (or already)"),
        (status = 400, description = "No `id` (`invalid_query`)", body = Problem),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Not a reader or an author (`forbidden`)", body = Problem),
        (status = 404, description = "No author anyone may see has this id (`not_found`)", body = Problem),
        (status = 422, description = "Yourself (`validation_failed`)", body = Problem),
    )
)]
pub async fn subscribe(
    State(state): State<SocialState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<AuthorQuery>,
) -> Result<StatusCode, ApiError> {
    caller.require(Action::Subscribe)?;
    add(&state, &caller, EdgeKind::Subscription, query.id).await
}

/// Unsubscribe from an author. Idempotent.
#[utoipa::path(
    delete, path = "/api/v1/subscribe/author", tag = "social", params(AuthorQuery),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Not subscribed (any more)"),
        (status = 400, description = "No `id` (`invalid_query`)", body = Problem),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Not a reader or an author (`forbidden`)", body = Problem),
    )
)]
pub async fn unsubscribe(
    State(state): State<SocialState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<AuthorQuery>,
) -> Result<StatusCode, ApiError> {
    caller.require(Action::Subscribe)?;
    state.social.remove_edge(EdgeKind::Subscription, &caller.user_id, &UserId(query.id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Follow another author. Idempotent.
#[utoipa::path(
    post, path = "/api/v1/follow/author", tag = "social", params(AuthorQuery),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Following (or already)"),
        (status = 400, description = "No `id` (`invalid_query`)", body = Problem),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Not an author (`forbidden`)", body = Problem),
        (status = 404, description = "No author anyone may see has this id (`not_found`)", body = Problem),
        (status = 422, description = "Yourself (`validation_failed`)", body = Problem),
    )
)]
pub async fn follow(
    State(state): State<SocialState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<AuthorQuery>,
) -> Result<StatusCode, ApiError> {
    caller.require(Action::Follow)?;
    add(&state, &caller, EdgeKind::Follow, query.id).await
}

/// Stop following an author. Idempotent.
#[utoipa::path(
    delete, path = "/api/v1/follow/author", tag = "social", params(AuthorQuery),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Not following (any more)"),
        (status = 400, description = "No `id` (`invalid_query`)", body = Problem),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Not an author (`forbidden`)", body = Problem),
    )
)]
pub async fn unfollow(
    State(state): State<SocialState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<AuthorQuery>,
) -> Result<StatusCode, ApiError> {
    caller.require(Action::Follow)?;
    state.social.remove_edge(EdgeKind::Follow, &caller.user_id, &UserId(query.id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A page of one side's edges, as the people on the other side; accounts that are suspended
/// or gone are left out (so a page may hold fewer than `limit`; follow `next_cursor`).
async fn connections(
    state: &SocialState,
    kind: EdgeKind,
    side: Side,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<Json<Page<ConnectionView>>, ApiError> {
    let list = match &side {
        Side::From(id) => format!("{}s-from?{id}", kind.as_str()),
        Side::To(id) => format!("{}s-to?{id}", kind.as_str()),
    };
    let paging = Paging::new(state.keys.cursor_signer().await, list, limit, cursor)?;
    let (edges, next) = state.social.edges(kind, &side, paging.limit, paging.after.as_ref()).await?;
    let other = |e: &Edge| match side {
        Side::From(_) => e.to.clone(),
        Side::To(_) => e.from.clone(),
    };
    let ids: Vec<UserId> = edges.iter().map(other).collect();
    let accounts = state.accounts.accounts_by_id(&ids).await?;
    let now = state.clock.now();
    let items = edges
        .iter()
        .filter_map(|edge| {
            let id = other(edge);
            let user = accounts.iter().find(|u| u.id == id && u.can_receive_notifications(now))?;
            Some(ConnectionView {
                id: user.id.0.clone(),
                first_name: user.profile.first_name.clone(),
                last_name: user.profile.last_name.clone(),
                nickname: user.profile.nickname.clone(),
                role: user.role,
                since: edge.created_at,
            })
        })
        .collect();
    Ok(Json(Page { items, next_cursor: paging.next_cursor(next) }))
}

/// Your subscribers (an author's), or with `?id=` (admins only) an author's. No emails.
#[utoipa::path(
    get, path = "/api/v1/author/subscribers", tag = "social", params(OwnListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of subscribers", body = Page<ConnectionView>),
        (status = 400, description = "`invalid_cursor` or `invalid_query`", body = Problem),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Not an author, or another author's and not an admin (`forbidden`)", body = Problem),
        (status = 422, description = "`limit` out of range (`validation_failed`)", body = Problem),
    )
)]
pub async fn subscribers(
    State(state): State<SocialState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<OwnListQuery>,
) -> Result<Json<Page<ConnectionView>>, ApiError> {
    caller.require(Action::NotifySubscribers)?;
    let author = caller.own_or_as_admin(query.id, Action::NotifySubscribers)?.id().clone();
    connections(&state, EdgeKind::Subscription, Side::To(author), query.limit, query.cursor.as_deref()).await
}

/// The authors you subscribe to.
#[utoipa::path(
    get, path = "/api/v1/user/subscriptions", tag = "social", params(crate::http::PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of authors", body = Page<ConnectionView>),
        (status = 400, description = "`invalid_cursor` or `invalid_query`", body = Problem),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Not a reader or an author (`forbidden`)", body = Problem),
        (status = 422, description = "`limit` out of range (`validation_failed`)", body = Problem),
    )
)]
pub async fn subscriptions(
    State(state): State<SocialState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<crate::http::PageQuery>,
) -> Result<Json<Page<ConnectionView>>, ApiError> {
    caller.require(Action::Subscribe)?;
    let side = Side::From(caller.user_id.clone());
    connections(&state, EdgeKind::Subscription, side, query.limit, query.cursor.as_deref()).await
}

/// The authors who follow an author.
#[utoipa::path(
    get, path = "/api/v1/author/followers", tag = "social", params(ConnectionsQuery),
    responses(
        (status = 200, description = "A page of authors", body = Page<ConnectionView>),
        (status = 400, description = "`invalid_cursor` or `invalid_query`", body = Problem),
        (status = 404, description = "No author anyone may see has this id (`not_found`)", body = Problem),
        (status = 422, description = "`limit` out of range (`validation_failed`)", body = Problem),
    )
)]
pub async fn followers(
    State(state): State<SocialState>,
    QueryParams(query): QueryParams<ConnectionsQuery>,
) -> Result<Json<Page<ConnectionView>>, ApiError> {
    let author = public_author(&state, &query.id).await?;
    connections(&state, EdgeKind::Follow, Side::To(author.id), query.limit, query.cursor.as_deref()).await
}

/// The authors an author follows.
#[utoipa::path(
    get, path = "/api/v1/author/follows", tag = "social", params(ConnectionsQuery),
    responses(
        (status = 200, description = "A page of authors", body = Page<ConnectionView>),
        (status = 400, description = "`invalid_cursor` or `invalid_query`", body = Problem),
        (status = 404, description = "No author anyone may see has this id (`not_found`)", body = Problem),
        (status = 422, description = "`limit` out of range (`validation_failed`)", body = Problem),
    )
)]
pub async fn follows(
    State(state): State<SocialState>,
    QueryParams(query): QueryParams<ConnectionsQuery>,
) -> Result<Json<Page<ConnectionView>>, ApiError> {
    let author = public_author(&state, &query.id).await?;
    connections(&state, EdgeKind::Follow, Side::From(author.id), query.limit, query.cursor.as_deref()).await
}
