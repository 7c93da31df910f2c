//! Confirming an email change: the link sent to the new address (the change itself is asked
//! for with `PUT user`; both are `identity::password`'s, beside the other emailed links).

use axum::{
    Json,
    body::Bytes,
    extract::{RawQuery, State},
    response::Response,
};

use super::UsersState;
use crate::{
    auth::{LinkQuery, TokenForm, TokenQuery},
    domain::UserView,
    http::{
        ApiError, Device, Problem, QueryParams, Source,
        pages::{FormPage, LinkForm, unusable_link},
    },
    identity::password,
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
    source: Source,
    device: Device,
    QueryParams(query): QueryParams<TokenQuery>,
) -> Result<Json<UserView>, ApiError> {
    let user = password::confirm_email_change(&state.identity, &query.token, (&source, &device)).await?;
    Ok(Json(UserView::new(&user, &state.identity.config.photos_url)))
}

const CONFIRM_CHANGE: FormPage = FormPage {
    title: "Confirm your new email address",
    lead: "Press the button to make this address your account's email address.",
    action: "confirm-email-change",
    button: "Use this email address",
    password: false,
};

/// The page the link sent to a new address opens (when no front end is configured,
/// `UMS_EMAIL_CHANGE_URL`): a button that confirms (a GET changes nothing).
#[utoipa::path(
    get, path = "/confirm-email-change", tag = "pages", params(LinkQuery),
    responses(
        (status = 200, description = "A page with the confirm button", content_type = "text/html", body = String),
        (status = 400, description = "A link without a token of ours", content_type = "text/html", body = String),
    )
)]
pub async fn confirm_email_change_page(RawQuery(query): RawQuery) -> Response {
    CONFIRM_CHANGE.for_link(query.as_deref())
}

/// The confirm button: the new address becomes the account's, answers a page.
#[utoipa::path(
    post, path = "/confirm-email-change", tag = "pages",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The address is changed", content_type = "text/html", body = String),
        (status = 400, description = "The link was used, expired or replaced", content_type = "text/html", body = String),
        (status = 409, description = "Another account took the address, or the account changed", content_type = "text/html", body = String),
    )
)]
pub async fn confirm_email_change_form(
    State(state): State<UsersState>,
    source: Source,
    device: Device,
    body: Bytes,
) -> Response {
    let form = LinkForm::parse(&body);
    let Some(token) = form.token() else { return unusable_link() };
    let outcome = password::confirm_email_change(&state.identity, token, (&source, &device)).await;
    CONFIRM_CHANGE.result(token, outcome, "Email address changed", "Your account uses the new address from now on.")
}
