use async_trait::async_trait;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::StoreResult;

/// Where one webhook endpoint's deliveries stand.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct WebhookStatus {
    pub id: String,
    pub url: String,
    /// The event types it receives; empty: every type.
    pub types: Vec<String>,
    pub state: WebhookState,
    /// Failed deliveries in a row (of the event it is retrying).
    pub failures: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub failing_since: Option<OffsetDateTime>,
    /// Why the last delivery failed (the endpoint's answer, or why there was none).
    pub last_error: Option<String>,
    /// The last event it took, and when.
    pub last_delivered_event: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_delivered_at: Option<OffsetDateTime>,
    /// When it was disabled for failing through the whole retry window (the operator enables it).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub disabled_at: Option<OffsetDateTime>,
}

#[derive(Clone, Copy, Debug, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WebhookState {
    /// Taking what it is sent.
    Delivering,
    /// Refusing, or not answering: retried with a doubling wait.
    Failing,
    /// Failed for the whole retry window: nothing is sent until the operator enables it.
    Disabled,
}

impl WebhookState {
    pub fn of(failures: u32, disabled: bool) -> Self {
        match (disabled, failures) {
            (true, _) => WebhookState::Disabled,
            (false, 0) => WebhookState::Delivering,
            (false, _) => WebhookState::Failing,
        }
    }
}

/// The operator's webhook endpoints and their delivery state, as admins see them (secrets never
/// leave the worker's side).
#[async_trait]
pub trait WebhookDirectory: Send + Sync {
    async fn webhook_statuses(&self) -> StoreResult<Vec<WebhookStatus>>;
}
