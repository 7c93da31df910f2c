//! The limits' counters on DynamoDB: a reservation is a compare-and-set, a count one atomic
//! `UpdateItem`.

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::{operation::put_item::PutItemError, types::ReturnValue};
use shared::ports::{AttemptPolicy, Attempts, LimitStore, Reservation, StoreResult};
use time::OffsetDateTime;

use super::{DynamoStore, RECORD_TTL, condition_failed, get_n, get_time, key, n};

#[async_trait]
impl LimitStore for DynamoStore {
    async fn reserve_attempt(
        &self,
        key_: &str,
        policy: &AttemptPolicy,
        now: OffsetDateTime,
    ) -> StoreResult<Reservation> {
        let pk = format!("ATTEMPTS#{key_}");
        // Read, decide, and write only if nobody wrote in between (compare-and-set); a lost
        // race reads again. Under a burst each round grants one, so no more are granted than
        // the policy allows.
        for round in 0..40u32 {
            let item = self.get(pk.clone(), "ATTEMPTS").await?;
            let on_record = match &item {
                Some(item) => {
                    Some(Attempts { count: get_n(item, "count")? as u32, last_at: get_time(item, "last_at")? })
                }
                None => None,
            };
            let granted = match policy.decide(on_record, now) {
                Reservation::Granted(attempts) => attempts,
                refused => return Ok(refused),
            };
            let mut record = key(pk.clone(), "ATTEMPTS");
            record.extend([
                ("count".to_string(), n(granted.count)),
                ("last_at".to_string(), n(granted.last_at.unix_timestamp())),
                ("ttl".to_string(), n((now + RECORD_TTL).unix_timestamp())),
            ]);
            let put = self.client.put_item().table_name(&self.table).set_item(Some(record));
            let put = match on_record {
                None => put.condition_expression("attribute_not_exists(PK)"),
                Some(read) => put
                    .condition_expression("#count = :count AND last_at = :last_at")
                    .expression_attribute_names("#count", "count")
                    .expression_attribute_values(":count", n(read.count))
                    .expression_attribute_values(":last_at", n(read.last_at.unix_timestamp())),
            };
            match put.send().await {
                Ok(_) => return Ok(Reservation::Granted(granted)),
                Err(e) if condition_failed::<PutItemError, _>(&e) => {
                    tokio::time::sleep(std::time::Duration::from_millis(u64::from(2 + round % 8))).await;
                }
                Err(e) => return Err(anyhow::Error::new(e).context("DynamoDB PutItem").into()),
            }
        }
        // Fail closed: a key this contended is under attack.
        Ok(Reservation::Refused { wait: time::Duration::seconds(1) })
    }

    async fn clear_attempts(&self, key_: &str) -> StoreResult<()> {
        Ok(self.delete(format!("ATTEMPTS#{key_}"), "ATTEMPTS").await?)
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
