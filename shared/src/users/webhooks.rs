//! `GET admin/webhooks`: where the deliveries of account events to each webhook endpoint stand.

use axum::{Json, extract::State};
use serde::Serialize;
use utoipa::ToSchema;

use super::UsersState;
use crate::{
    domain::Action,
    http::{ApiError, AuthUser, Problem},
    ports::WebhookStatus,
};

#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<WebhookDeliveries>,
}

/// An endpoint's deliveries, and how far behind it is.
#[derive(Serialize, ToSchema)]
pub struct WebhookDeliveries {
    #[serde(flatten)]
    pub status: WebhookStatus,
    /// How long the event it is retrying has waited for it, in seconds (since its first refusal;
    /// 0 while it takes what it is sent). Each endpoint has its own lane: one that is behind
    /// holds up no other.
    pub behind_secs: u64,
}

/// Every webhook endpoint the operator added (never its secret): whether it takes what it is
/// sent, the last event it took and when, how far behind it is, and why it fails if it does.
/// Admins only.
#[utoipa::path(
    get, path = "/api/v1/admin/webhooks", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The endpoints and their deliveries", body = WebhookList),
        (status = 403, description = "Not an admin (`forbidden`)", body = Problem),
    )
)]
pub async fn webhooks(State(state): State<UsersState>, caller: AuthUser) -> Result<Json<WebhookList>, ApiError> {
    caller.require(Action::ViewWebhookDeliveries)?;
    let now = state.identity.clock.now();
    let items = state.webhooks.webhook_statuses().await?.into_iter().map(|status| {
        let behind = status.failing_since.map_or(time::Duration::ZERO, |since| now - since);
        WebhookDeliveries { behind_secs: behind.whole_seconds().max(0) as u64, status }
    });
    Ok(Json(WebhookList { items: items.collect() }))
}
