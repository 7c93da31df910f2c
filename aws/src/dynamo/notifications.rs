//! Notifications and their deliveries on DynamoDB: `NOTIFICATION#<id>` holds the notification
//! (`NOTIFICATION`, with its counts) and one `DELIVERY#<subscriber>` item per subscriber. Each
//! delivery's state moves by conditional writes, counted on the notification in the same
//! transaction.

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use shared::{
    domain::UserId,
    ports::{DeliveryClaim, DeliveryState, Notification, NotificationStore, StoreResult},
};
use time::OffsetDateTime;

use super::{Condition, DynamoStore, Item, condition_failed, get_n, get_s, get_time, key, n, s};

fn notification_pk(id: &str) -> String {
    format!("NOTIFICATION#{id}")
}

fn delivery_key(id: &str, subscriber: &UserId) -> Item {
    key(notification_pk(id), &format!("DELIVERY#{subscriber}"))
}

fn notification_key(id: &str) -> Item {
    key(notification_pk(id), "NOTIFICATION")
}

#[async_trait]
impl NotificationStore for DynamoStore {
    async fn create_notification(&self, notification: &Notification) -> StoreResult<()> {
        let mut item = notification_key(&notification.id);
        item.extend([
            ("author_id".to_string(), s(notification.author_id.0.clone())),
            ("subject".to_string(), s(notification.subject.clone())),
            ("created_at".to_string(), n(notification.created_at.unix_timestamp())),
            ("queued".to_string(), n(0)),
            ("sent".to_string(), n(0)),
            ("failed".to_string(), n(0)),
        ]);
        if let Some(message) = &notification.message {
            item.insert("message".to_string(), s(message.clone()));
        }
        if let Some(url) = &notification.article_url {
            item.insert("article_url".to_string(), s(url.clone()));
        }
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.context("DynamoDB PutItem")?;
        Ok(())
    }

    async fn notification(&self, id: &str) -> StoreResult<Option<Notification>> {
        let Some(item) = self.get(notification_pk(id), "NOTIFICATION").await? else {
            return Ok(None);
        };
        let count = |name| get_n(&item, name).unwrap_or(0).max(0) as u64;
        Ok(Some(Notification {
            id: id.to_string(),
            author_id: UserId(get_s(&item, "author_id")?.to_string()),
            subject: get_s(&item, "subject")?.to_string(),
            message: get_s(&item, "message").ok().map(str::to_string),
            article_url: get_s(&item, "article_url").ok().map(str::to_string),
            created_at: get_time(&item, "created_at")?,
            queued: count("queued"),
            sent: count("sent"),
            failed: count("failed"),
            fanned_out: item.get("fanned_out").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        }))
    }

    async fn record_delivery(&self, notification_id: &str, subscriber: &UserId) -> StoreResult<DeliveryState> {
        let mut item = delivery_key(notification_id, subscriber);
        item.extend([("state".to_string(), s("queued")), ("attempts".to_string(), n(0))]);
        let count = Condition::default().value(":one", n(1));
        let written = self
            .transact(vec![
                self.put(item, "attribute_not_exists(PK)"),
                self.update_if(notification_key(notification_id), "ADD queued :one", &count),
            ])
            .await?;
        if written.is_ok() {
            return Ok(DeliveryState::Queued);
        }
        let item = self
            .get(notification_pk(notification_id), &format!("DELIVERY#{subscriber}"))
            .await?
            .context("a delivery that was there is gone")?;
        Ok(DeliveryState::parse(get_s(&item, "state")?).unwrap_or(DeliveryState::Queued))
    }

    async fn claim_delivery(
        &self,
        notification_id: &str,
        subscriber: &UserId,
        now: OffsetDateTime,
        lease: time::Duration,
    ) -> StoreResult<DeliveryClaim> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(notification_id, subscriber)))
            .update_expression("SET #state = :sending, lease_until = :lease ADD attempts :one")
            .condition_expression("#state = :queued")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":queued", s("queued"))
            .expression_attribute_values(":lease", n((now + lease).unix_timestamp()))
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let attempt = output.attributes.as_ref().and_then(|a| get_n(a, "attempts").ok()).unwrap_or(1);
                Ok(DeliveryClaim::Acquired { attempt: attempt as u32 })
            }
            Err(e) if condition_failed::<UpdateItemError, _>(&e) => {
                let item = self.get(notification_pk(notification_id), &format!("DELIVERY#{subscriber}")).await?;
                let Some(item) = item else { return Ok(DeliveryClaim::Missing) };
                let abandoned = get_n(&item, "lease_until").unwrap_or(0) < now.unix_timestamp();
                Ok(match get_s(&item, "state")? {
                    "sending" if abandoned => DeliveryClaim::Abandoned,
                    "sending" => DeliveryClaim::Busy,
                    _ => DeliveryClaim::Done,
                })
            }
            Err(e) => Err(anyhow::Error::new(e).context("DynamoDB UpdateItem").into()),
        }
    }

    async fn finish_delivery(&self, notification_id: &str, subscriber: &UserId, sent: bool) -> StoreResult<()> {
        let (state, counter) = if sent { ("sent", "sent") } else { ("failed", "failed") };
        let sending = Condition::new("#state = :sending")
            .name("#state", "state")
            .value(":sending", s("sending"))
            .value(":done", s(state));
        let count = Condition::default().name("#counter", counter).value(":one", n(1));
        // A lost condition: another delivery finished it meanwhile, and counted it.
        self.transact(vec![
            self.update_if(delivery_key(notification_id, subscriber), "SET #state = :done", &sending),
            self.update_if(notification_key(notification_id), "ADD #counter :one", &count),
        ])
        .await?
        .ok();
        Ok(())
    }

    async fn release_delivery(&self, notification_id: &str, subscriber: &UserId) -> StoreResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(notification_id, subscriber)))
            .update_expression("SET #state = :queued")
            .condition_expression("#state = :sending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":queued", s("queued"))
            .send()
            .await;
        match result {
            // Not being sent any more (finished or given up by another delivery): nothing to give back.
            Err(e) if !condition_failed::<UpdateItemError, _>(&e) => {
                Err(anyhow::Error::new(e).context("DynamoDB UpdateItem").into())
            }
            _ => Ok(()),
        }
    }

    async fn finish_fan_out(&self, notification_id: &str) -> StoreResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(notification_key(notification_id)))
            .update_expression("SET fanned_out = :yes")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":yes", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
            .send()
            .await;
        match result {
            // No notification any more: nothing to finish.
            Err(e) if !condition_failed::<UpdateItemError, _>(&e) => {
                Err(anyhow::Error::new(e).context("DynamoDB UpdateItem").into())
            }
            _ => Ok(()),
        }
    }
}
