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
    pub items: Vec<WebhookStatus>,
}

/// Every webhook endpoint the operator added (never its secret): whether it takes what it is
/// sent, the last event it took and when, and why it fails if it does. Admins only.
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
    let items = state.webhooks.webhook_statuses().await?;
    Ok(Json(WebhookList { items }))
}
