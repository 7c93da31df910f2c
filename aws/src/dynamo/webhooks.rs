//! The webhook endpoints' delivery state on DynamoDB, one item each in the `WEBHOOKS` partition
//! (never a secret: those stay in SSM): written by the operator command (added, enabled,
//! removed) and by the webhook worker (once per batch and endpoint), read by admins.

use async_trait::async_trait;
use shared::{
    events::webhooks::Endpoint,
    ports::{StoreResult, WebhookDirectory, WebhookState, WebhookStatus},
};
use time::OffsetDateTime;

use super::{Condition, DynamoStore, Item, Listing, get_n, get_s, key, n, s};

const PARTITION: &str = "WEBHOOKS";

fn status_of(item: &Item) -> anyhow::Result<WebhookStatus> {
    let time = |name: &str| get_n(item, name).ok().map(OffsetDateTime::from_unix_timestamp).transpose();
    let text = |name: &str| get_s(item, name).ok().map(str::to_string);
    let failures = get_n(item, "failures").unwrap_or(0) as u32;
    let disabled_at = time("disabled_at")?;
    Ok(WebhookStatus {
        id: get_s(item, "SK")?.to_string(),
        url: get_s(item, "url")?.to_string(),
        types: serde_json::from_str(get_s(item, "types")?)?,
        state: WebhookState::of(failures, disabled_at.is_some()),
        failures,
        failing_since: time("failing_since")?,
        last_error: text("last_error"),
        last_delivered_event: text("last_event_id"),
        last_delivered_at: time("last_delivered_at")?,
        disabled_at,
    })
}

/// An endpoint's item exists (it was not removed meanwhile).
fn exists() -> Condition {
    Condition::new("attribute_exists(PK)")
}

impl DynamoStore {
    /// The operator added an endpoint.
    pub async fn webhook_added(&self, endpoint: &Endpoint) -> anyhow::Result<()> {
        let mut item = key(PARTITION.into(), &endpoint.id);
        item.extend([
            ("url".to_string(), s(endpoint.url.clone())),
            ("types".to_string(), s(serde_json::to_string(&endpoint.types)?)),
            ("failures".to_string(), n(0)),
        ]);
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await?;
        Ok(())
    }

    pub async fn webhook_removed(&self, id: &str) -> anyhow::Result<()> {
        self.delete(PARTITION.into(), id).await
    }

    /// The operator enabled a disabled endpoint; whether there was one.
    pub async fn webhook_enabled(&self, id: &str) -> anyhow::Result<bool> {
        let update = "SET failures = :zero REMOVE disabled_at, failing_since, last_error";
        let condition = Condition::new("attribute_exists(disabled_at)").value(":zero", n(0));
        Ok(self.update_one(key(PARTITION.into(), id), update, &condition).await?.is_ok())
    }

    /// The endpoint took events up to `event_id`.
    pub async fn webhook_delivered(&self, id: &str, event_id: &str, at: OffsetDateTime) -> anyhow::Result<()> {
        let update =
            "SET failures = :zero, last_event_id = :event, last_delivered_at = :at REMOVE failing_since, last_error";
        let condition = exists().value(":zero", n(0)).value(":event", s(event_id)).value(":at", n(at.unix_timestamp()));
        // A refusal is an endpoint removed meanwhile: nothing to record.
        let _ = self.update_one(key(PARTITION.into(), id), update, &condition).await?;
        Ok(())
    }

    /// The endpoint refused an event (or never answered). Past `retry_for` of failing it is
    /// disabled; whether it is now.
    pub async fn webhook_failed(
        &self,
        id: &str,
        error: &str,
        at: OffsetDateTime,
        retry_for: std::time::Duration,
    ) -> anyhow::Result<bool> {
        let update = "ADD failures :one SET last_error = :error, failing_since = if_not_exists(failing_since, :at)";
        let condition = exists().value(":one", n(1)).value(":error", s(error)).value(":at", n(at.unix_timestamp()));
        let Ok(item) = self.update_one(key(PARTITION.into(), id), update, &condition).await? else {
            return Ok(false);
        };
        let since = get_n(&item, "failing_since").unwrap_or(at.unix_timestamp());
        if item.contains_key("disabled_at") || at.unix_timestamp() - since < retry_for.as_secs() as i64 {
            return Ok(item.contains_key("disabled_at"));
        }
        let condition = Condition::new("attribute_not_exists(disabled_at) AND attribute_exists(PK)")
            .value(":at", n(at.unix_timestamp()));
        let disabled = self.update_one(key(PARTITION.into(), id), "SET disabled_at = :at", &condition).await?;
        Ok(disabled.is_ok())
    }
}

#[async_trait]
impl WebhookDirectory for DynamoStore {
    async fn webhook_statuses(&self) -> StoreResult<Vec<WebhookStatus>> {
        let mut statuses = Vec::new();
        let mut start = None;
        loop {
            let page = Listing::table(PARTITION.into())
                .query(&self.client, &self.table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| anyhow::Error::new(e).context("DynamoDB Query"))?;
            for item in page.items() {
                statuses.push(status_of(item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(statuses);
            }
        }
    }
}
