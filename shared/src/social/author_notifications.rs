//! An author's email to their subscribers: accepted here (202), fanned out by the notify
//! worker, read back as progress; and the one-click unsubscribe link each email carries.

use axum::{
    Json,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::SocialState;
use crate::{
    auth::schemas,
    domain::{Action, FieldError, Role, multiline, single_line},
    http::{
        ApiError, AuthUser, JsonBody, Problem, QueryParams,
        pages::{self, FormPage},
    },
    jobs::open_unsubscribe_token,
    ports::{EdgeKind, Job, Notification},
};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyRequest {
    /// The email's subject: 1 to 200 characters on one line.
    #[schema(schema_with = schemas::subject)]
    pub subject: String,
    /// What to say (up to 10000 characters); a message, an article link, or both.
    #[schema(schema_with = schemas::message)]
    pub message: Option<String>,
    /// An `https` (or `http`) link to the article, up to 2000 characters.
    pub article_url: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotifyQuery {
    /// The author to send for (admins only); without it, yourself.
    pub id: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// The notification's id, as `notify_subscribers` answered it.
    pub id: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnsubscribeQuery {
    /// The token of the emailed link.
    pub token: String,
}

/// A notification and how far its delivery has got.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NotificationView {
    pub id: String,
    pub author_id: String,
    pub subject: String,
    pub message: Option<String>,
    pub article_url: Option<String>,
    /// `queued` until every subscriber has an email queued, `sending` until each is sent or
    /// given up on, then `done`; `stalled` when part of the fan-out failed for good (the
    /// operators are alarmed; a redrive of the notify dead-letter queue takes it up again).
    pub status: String,
    /// Emails queued (one per subscriber reached), sent, and given up on.
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        let status = match (n.fanned_out, n.sent + n.failed >= n.queued) {
            (false, _) if n.stalled => "stalled",
            (false, _) => "queued",
            (true, false) => "sending",
            (true, true) => "done",
        };
        Self {
            id: n.id,
            author_id: n.author_id.0,
            subject: n.subject,
            message: n.message,
            article_url: n.article_url,
            status: status.to_string(),
            queued: n.queued,
            sent: n.sent,
            failed: n.failed,
            created_at: n.created_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Unsubscribed {
    /// The author you will get no more notifications from.
    pub author_id: String,
    pub unsubscribed: bool,
}

fn article_url(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let raw = raw.trim();
    let parsed = url::Url::parse(raw).ok().filter(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some());
    if raw.len() > 2000 || parsed.is_none() {
        errors.push(FieldError::new("article_url", "invalid_value", "an http(s) URL of up to 2000 characters"));
        return None;
    }
    parsed.map(String::from)
}

/// Email your subscribers (authors; admins for an author with `?id=`): a subject and a message,
/// an article link, or both. Answered at once; the emails go out in the background, one per
/// subscriber, each with a one-click unsubscribe link. A few a day per author.
#[utoipa::path(
    post, path = "/api/v1/author/notify_subscribers", tag = "social", params(NotifyQuery),
    request_body = NotifyRequest,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Accepted; read its progress at `author/notification?id=`", body = NotificationView),
        (status = 400, description = "`malformed_json` or `invalid_query`", body = Problem),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Not an author or an admin, or another author's and not an admin (`forbidden`)", body = Problem),
        (status = 404, description = "No author has this id (`not_found`)", body = Problem),
        (status = 415, description = "Not JSON (`unsupported_media_type`)", body = Problem),
        (status = 422, description = "A field is invalid, or neither message nor link (`validation_failed`)", body = Problem),
        (status = 429, description = "Today's notifications are used up (`too_many_notifications`)", body = Problem),
    )
)]
pub async fn notify_subscribers(
    State(state): State<SocialState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<NotifyQuery>,
    JsonBody(body): JsonBody<NotifyRequest>,
) -> Result<(StatusCode, Json<NotificationView>), ApiError> {
    caller.require(Action::NotifySubscribers)?;
    let author_id = caller.own_or_as_admin(query.id, Action::NotifySubscribers)?.id().clone();
    let letter = body.parse()?;
    let notification = start_notification(&state, &author_id, letter).await?;
    Ok((StatusCode::ACCEPTED, Json(notification.into())))
}

/// What an author sends, checked: the subject, and a message or a link or both.
struct Letter {
    subject: String,
    message: Option<String>,
    link: Option<String>,
}

impl NotifyRequest {
    fn parse(&self) -> Result<Letter, ApiError> {
        let mut errors = Vec::new();
        let subject = single_line("subject", &self.subject, 200, true, &mut errors);
        let message = self.message.as_deref().and_then(|m| multiline("message", m, 10_000, &mut errors));
        let message = message.filter(|m| !m.is_empty());
        let link = self.article_url.as_deref().and_then(|u| article_url(u, &mut errors));
        if errors.is_empty() && message.is_none() && link.is_none() {
            errors.push(FieldError::new("message", "required", "give a message, an article_url, or both"));
        }
        match subject.filter(|_| errors.is_empty()) {
            Some(subject) => Ok(Letter { subject, message, link }),
            None => Err(ApiError::Validation(errors)),
        }
    }
}

/// Accepts an author's notification: counted per UTC day before anything is written (a burst
/// cannot slip past it), stored, and its fan-out queued.
async fn start_notification(
    state: &SocialState,
    author_id: &crate::domain::UserId,
    letter: Letter,
) -> Result<Notification, ApiError> {
    let author = state.accounts.account(author_id).await?;
    let author = author.filter(|a| a.role == Role::Author).ok_or(ApiError::NotFound)?;
    let now = state.clock.now();
    let day = now.date();
    let day_ends = day.next_day().map_or(now, |d| d.midnight().assume_utc());
    let key = format!("notify#{}#{day}", author.id);
    let count = state.limits.increment_counter(&key, day_ends).await?;
    if count > state.config.limits.notifications_per_author_per_day {
        let retry_after_secs = (day_ends - now).whole_seconds().max(1) as u64;
        return Err(ApiError::TooManyNotifications { retry_after_secs });
    }
    let notification = Notification {
        id: uuid::Uuid::now_v7().to_string(),
        author_id: author.id.clone(),
        subject: letter.subject,
        message: letter.message,
        article_url: letter.link,
        created_at: now,
        queued: 0,
        sent: 0,
        failed: 0,
        fanned_out: false,
        stalled: false,
    };
    state.notifications.create_notification(&notification).await?;
    state.jobs.enqueue(&Job::FanOut { notification_id: notification.id.clone(), segment: None }).await?;
    tracing::info!(notification = %notification.id, author_id = %author.id, "notification accepted");
    Ok(notification)
}

/// A notification's progress: queued, sent and failed emails. Its author's, or any for admins.
#[utoipa::path(
    get, path = "/api/v1/author/notification", tag = "social", params(NotificationQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The notification", body = NotificationView),
        (status = 400, description = "No `id` (`invalid_query`)", body = Problem),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Not an author or an admin (`forbidden`)", body = Problem),
        (status = 404, description = "None of yours has this id (`not_found`)", body = Problem),
    )
)]
pub async fn notification(
    State(state): State<SocialState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<NotificationQuery>,
) -> Result<Json<NotificationView>, ApiError> {
    caller.require(Action::NotifySubscribers)?;
    let notification = state.notifications.notification(&query.id).await?;
    let notification = notification
        .filter(|n| n.author_id == caller.user_id || Action::ManageAnyAccount.allows(caller.role))
        .ok_or(ApiError::NotFound)?;
    Ok(Json(notification.into()))
}

const UNSUBSCRIBE: FormPage = FormPage {
    title: "Unsubscribe",
    lead: "Stop getting this author's notifications by email?",
    action: "unsubscribe",
    button: "Unsubscribe",
    password: false,
};

/// The page an emailed unsubscribe link opens: one button, which posts to the same URL. (A
/// GET never unsubscribes: mail scanners open links; RFC 8058's one click is the POST.) A link
/// without a token of ours opens a page saying so, as every emailed link's page does.
#[utoipa::path(
    get, path = "/api/v1/unsubscribe", tag = "social", params(UnsubscribeQuery),
    responses(
        (status = 200, description = "A page with the unsubscribe button", content_type = "text/html", body = String),
        (status = 400, description = "A link without a token of ours", content_type = "text/html", body = String),
    )
)]
pub async fn unsubscribe_page(State(state): State<SocialState>, RawQuery(query): RawQuery) -> Response {
    let token = pages::token_in_query(query.as_deref());
    let opens = match &token {
        Some(token) => open_unsubscribe_token(&state.keys, token).await.is_some(),
        None => false,
    };
    let Some(token) = token.filter(|_| opens) else {
        return pages::unusable_link();
    };
    // The one-click URL of RFC 8058 carries the token in its query: the button posts there
    // (relative, so that it holds behind an API Gateway stage too). The token is base64url
    // and a dot, checked above: nothing in it needs escaping, and the template escapes anyway.
    let action = format!("unsubscribe?token={token}");
    UNSUBSCRIBE.form_posting_to(&action, StatusCode::OK, &token, None)
}

/// Unsubscribe with an emailed link's token, no session needed: the one-click POST of
/// RFC 8058 (any body, such as `List-Unsubscribe=One-Click`). Idempotent.
#[utoipa::path(
    post, path = "/api/v1/unsubscribe", tag = "social", params(UnsubscribeQuery),
    responses(
        (status = 200, description = "Unsubscribed (or already): JSON, or a page when the page's button asked for HTML", content(
            (Unsubscribed = "application/json"),
            (String = "text/html"),
        )),
        (status = 400, description = "A token this service did not make (`invalid_token`)", body = Problem),
    )
)]
pub async fn unsubscribe_by_link(
    State(state): State<SocialState>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<UnsubscribeQuery>,
) -> Result<Response, ApiError> {
    let (subscriber, author) = open_unsubscribe_token(&state.keys, &query.token).await.ok_or(ApiError::InvalidToken)?;
    state.social.remove_edge(EdgeKind::Subscription, &subscriber, &author).await?;
    tracing::info!(subscriber_id = %subscriber, author_id = %author, "unsubscribed by link");
    // The page's button (a browser asks for HTML) gets a page; a mail client's one click, JSON.
    let browser = headers.get(header::ACCEPT).and_then(|a| a.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if browser {
        let done = "You will get no more notifications from this author by email.";
        return Ok(pages::page(StatusCode::OK, "Unsubscribed", done, false));
    }
    Ok(Json(Unsubscribed { author_id: author.0, unsubscribed: true }).into_response())
}
