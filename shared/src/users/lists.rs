//! Accounts, one page at a time: public author profiles for anyone, every account and the staff
//! for admins. Pages are cursor-paginated; a cursor is sealed for its listing and filters.

use axum::{Json, extract::State};
use serde::Deserialize;
use utoipa::IntoParams;

use super::UsersState;
use crate::{
    domain::{Action, Role, Status, User, UserId, UserView},
    http::{ApiError, AuthUser, Page, PageQuery, Paging, Problem, QueryParams},
    ports::AccountFilter,
};

pub use crate::domain::AuthorView;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    pub role: Option<Role>,
    pub status: Option<Status>,
    /// Items per page, 1 to 100 (20 if absent).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before (of this same listing and filters).
    #[param(pattern = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IdQuery {
    /// The account id.
    pub id: String,
}

/// A page of the accounts `filter` takes, in the listing named `list`.
async fn page_of(
    state: &UsersState,
    list: &str,
    filter: AccountFilter,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<(Vec<User>, Option<String>), ApiError> {
    let paging = Paging::new(state.identity.keys.cursor_signer().await, list, limit, cursor)?;
    let (users, next) = state.identity.accounts.list_accounts(filter, paging.limit, paging.after.as_ref()).await?;
    Ok((users, paging.next_cursor(next)))
}

/// An author's public profile.
#[utoipa::path(
    get, path = "/api/v1/author", tag = "users", params(IdQuery),
    responses(
        (status = 200, description = "The author, with their subscriber, follower and follow counts", body = AuthorView),
        (status = 400, description = "No `id` (`invalid_query`)", body = Problem),
        (status = 404, description = "No active author has this id (`not_found`)", body = Problem),
    )
)]
pub async fn author(
    State(state): State<UsersState>,
    QueryParams(query): QueryParams<IdQuery>,
) -> Result<Json<AuthorView>, ApiError> {
    let user = state.identity.accounts.account(&UserId(query.id)).await?;
    let author = user.filter(|u| u.is_public_author(state.identity.clock.now())).ok_or(ApiError::NotFound)?;
    let counts = state.social.counts(&author.id).await?;
    Ok(Json(AuthorView { counts: Some(counts), ..AuthorView::new(&author, &state.identity.config.photos_url) }))
}

/// The authors, oldest first: public profiles of active authors.
#[utoipa::path(
    get, path = "/api/v1/authors", tag = "users", params(PageQuery),
    responses(
        (status = 200, description = "A page of authors", body = Page<AuthorView>),
        (status = 400, description = "`invalid_cursor` or `invalid_query`", body = Problem),
        (status = 422, description = "`limit` out of range (`validation_failed`)", body = Problem),
    )
)]
pub async fn authors(
    State(state): State<UsersState>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<Page<AuthorView>>, ApiError> {
    let filter = AccountFilter { role: Some(Role::Author), status: Some(Status::Active) };
    let (users, next_cursor) = page_of(&state, "authors", filter, query.limit, query.cursor.as_deref()).await?;
    Ok(Json(Page {
        items: users.iter().map(|u| AuthorView::new(u, &state.identity.config.photos_url)).collect(),
        next_cursor,
    }))
}

/// Every account, by role name then age; filterable by role and status. Admins only.
#[utoipa::path(
    get, path = "/api/v1/users", tag = "users", params(UsersQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of accounts", body = Page<UserView>),
        (status = 400, description = "`invalid_cursor` or `invalid_query`", body = Problem),
        (status = 403, description = "Not an admin (`forbidden`)", body = Problem),
        (status = 422, description = "`limit` out of range (`validation_failed`)", body = Problem),
    )
)]
pub async fn users(
    State(state): State<UsersState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<UsersQuery>,
) -> Result<Json<Page<UserView>>, ApiError> {
    caller.require(Action::ManageAnyAccount)?;
    let filter = AccountFilter { role: query.role, status: query.status };
    let list = format!(
        "users?role={}&status={}",
        filter.role.map_or("", Role::as_str),
        filter.status.map_or("", Status::as_str)
    );
    let (users, next_cursor) = page_of(&state, &list, filter, query.limit, query.cursor.as_deref()).await?;
    Ok(Json(Page {
        items: users.iter().map(|u| UserView::new(u, &state.identity.config.photos_url)).collect(),
        next_cursor,
    }))
}

/// The admins, oldest first. Admins only.
#[utoipa::path(
    get, path = "/api/v1/admins", tag = "users", params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of admins", body = Page<UserView>),
        (status = 400, description = "`invalid_cursor` or `invalid_query`", body = Problem),
        (status = 403, description = "Not an admin (`forbidden`)", body = Problem),
        (status = 422, description = "`limit` out of range (`validation_failed`)", body = Problem),
    )
)]
pub async fn admins(
    State(state): State<UsersState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<Page<UserView>>, ApiError> {
    staff(&state, &caller, Role::Admin, query).await
}

/// The moderators, oldest first. Admins only.
#[utoipa::path(
    get, path = "/api/v1/moderators", tag = "users", params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of moderators", body = Page<UserView>),
        (status = 400, description = "`invalid_cursor` or `invalid_query`", body = Problem),
        (status = 403, description = "Not an admin (`forbidden`)", body = Problem),
        (status = 422, description = "`limit` out of range (`validation_failed`)", body = Problem),
    )
)]
pub async fn moderators(
    State(state): State<UsersState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<Page<UserView>>, ApiError> {
    staff(&state, &caller, Role::Moderator, query).await
}

async fn staff(
    state: &UsersState,
    caller: &AuthUser,
    role: Role,
    query: PageQuery,
) -> Result<Json<Page<UserView>>, ApiError> {
    caller.require(Action::ListStaff)?;
    let filter = AccountFilter { role: Some(role), status: None };
    let (users, next_cursor) = page_of(state, role.as_str(), filter, query.limit, query.cursor.as_deref()).await?;
    Ok(Json(Page {
        items: users.iter().map(|u| UserView::new(u, &state.identity.config.photos_url)).collect(),
        next_cursor,
    }))
}
