//! The limits' counters on DynamoDB: each count is one atomic `UpdateItem`.

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::{operation::update_item::UpdateItemError, types::ReturnValue};
use shared::ports::{LimitStore, LoginFailures, StoreResult};
use time::OffsetDateTime;

use super::{DynamoStore, RECORD_TTL, condition_failed, get_n, get_time, key, n};

#[async_trait]
impl LimitStore for DynamoStore {
    async fn login_failures(&self, key_: &str) -> StoreResult<Option<LoginFailures>> {
        let Some(item) = self.get(format!("LOGINFAIL#{key_}"), "LOGINFAIL").await? else {
            return Ok(None);
        };
        Ok(Some(LoginFailures {
            count: get_n(&item, "count")? as u32,
            last_failure_at: get_time(&item, "last_failure_at")?,
        }))
    }

    async fn record_login_failure(
        &self,
        key_: &str,
        now: OffsetDateTime,
        forget_before: OffsetDateTime,
    ) -> StoreResult<LoginFailures> {
        let pk = format!("LOGINFAIL#{key_}");
        let ttl = n((now + RECORD_TTL).unix_timestamp());
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone(), "LOGINFAIL")))
            .update_expression("SET #count = if_not_exists(#count, :zero) + :one, last_failure_at = :now, #ttl = :ttl")
            .condition_expression("attribute_not_exists(PK) OR last_failure_at >= :forget")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .expression_attribute_values(":forget", n(forget_before.unix_timestamp()))
            .expression_attribute_values(":ttl", ttl.clone())
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes.unwrap_or_default();
                Ok(LoginFailures { count: get_n(&item, "count")? as u32, last_failure_at: now })
            }
            Err(e) if condition_failed::<UpdateItemError, _>(&e) => {
                // The old failures are forgotten: start counting again.
                let mut item = key(pk, "LOGINFAIL");
                item.extend([
                    ("count".to_string(), n(1)),
                    ("last_failure_at".to_string(), n(now.unix_timestamp())),
                    ("ttl".to_string(), ttl),
                ]);
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .send()
                    .await
                    .context("DynamoDB PutItem")?;
                Ok(LoginFailures { count: 1, last_failure_at: now })
            }
            Err(e) => Err(anyhow::Error::new(e).context("DynamoDB UpdateItem").into()),
        }
    }

    async fn clear_login_failures(&self, key_: &str) -> StoreResult<()> {
        Ok(self.delete(format!("LOGINFAIL#{key_}"), "LOGINFAIL").await?)
    }

    async fn increment_counter(&self, key_: &str, expires_at: OffsetDateTime) -> StoreResult<u32> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("COUNTER#{key_}"), "COUNTER")))
            .update_expression("ADD #count :one SET #ttl = if_not_exists(#ttl, :ttl)")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(expires_at.unix_timestamp()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .context("DynamoDB UpdateItem")?;
        Ok(get_n(&output.attributes.unwrap_or_default(), "count")? as u32)
    }
}
