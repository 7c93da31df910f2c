//! The limits' counters on DynamoDB. A password check is counted on the email's marker item
//! (`EMAIL#<key>`, which names the account holding the address): one conditional `UpdateItem`
//! counts it and answers whose address it is. Other counts are one atomic `UpdateItem` each.

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::{
    operation::update_item::UpdateItemError,
    types::{ReturnValue, ReturnValuesOnConditionCheckFailure},
};
use shared::{
    domain::UserId,
    ports::{Attempts, CheckKey, CheckReservation, LimitStore, PasswordCheck, StoreResult},
};
use time::OffsetDateTime;

use super::{Condition, DynamoStore, Item, RECORD_TTL, accounts::email_pk, get_n, key, n, s};

/// The marker's attribute counting checks for the address over all sources.
const ADDRESS_CHECKS: &str = "checks";
/// The prefix of the marker's attributes counting checks for the address from one source.
const SOURCE_CHECKS: &str = "checks_from#";

fn source_checks(source: &str) -> String {
    format!("{SOURCE_CHECKS}{source}")
}

/// A count as stored: `"<count>@<unix time of the last>"`, one string an equality condition
/// can compare.
fn encode(attempts: Attempts) -> aws_sdk_dynamodb::types::AttributeValue {
    s(format!("{}@{}", attempts.count, attempts.last_at.unix_timestamp()))
}

fn decode(item: &Item, name: &str) -> Option<Attempts> {
    let (count, last_at) = item.get(name)?.as_s().ok()?.split_once('@')?;
    Some(Attempts {
        count: count.parse().ok()?,
        last_at: OffsetDateTime::from_unix_timestamp(last_at.parse().ok()?).ok()?,
    })
}

/// The marker item of `email_key`: where its checks are counted.
pub(super) fn check_counts_key(email_key: &str) -> Item {
    key(email_pk(email_key), "EMAIL")
}

/// The update that forgets the checks of `key` (its names are `#address` and `#source`).
pub(super) fn forget_checks(key: CheckKey<'_>) -> (String, Condition) {
    let names = Condition::new("").name("#address", ADDRESS_CHECKS).name("#source", &source_checks(key.source));
    ("REMOVE #address, #source".to_string(), names)
}

#[async_trait]
impl LimitStore for DynamoStore {
    async fn reserve_password_check(
        &self,
        check: &PasswordCheck<'_>,
        now: OffsetDateTime,
    ) -> StoreResult<CheckReservation> {
        let source_attribute = source_checks(check.key.source);
        // A compare-and-set on the two counts. The first write assumes nothing is counted (the
        // usual case: a success forgets them); a refused write returns what is, to decide on
        // again. Under a burst each round grants one, so no more are granted than allowed.
        let mut on_record = Item::new();
        for round in 0..40u32 {
            let (source_record, address_record) =
                (decode(&on_record, &source_attribute), decode(&on_record, ADDRESS_CHECKS));
            let (source, address) = match check.policies.decide(source_record, address_record, now) {
                Ok(granted) => granted,
                Err(wait) => return Ok(CheckReservation::Refused { wait }),
            };
            let unchanged = |placeholder: &str, record: Option<Attempts>| match record {
                None => Condition::new(&format!("attribute_not_exists({placeholder})")),
                Some(old) => Condition::new(&format!("{placeholder} = :old_{}", &placeholder[1..]))
                    .value(&format!(":old_{}", &placeholder[1..]), encode(old)),
            };
            let condition = unchanged("#address", address_record)
                .and(unchanged("#source", source_record))
                .name("#address", ADDRESS_CHECKS)
                .name("#source", &source_attribute)
                .value(":address", encode(address))
                .value(":source", encode(source));
            // Other sources' counts past the memory go with this write: the item stays small.
            let forgotten = now - check.policies.per_source.memory;
            let stale: Vec<&String> = on_record
                .keys()
                .filter(|name| name.starts_with(SOURCE_CHECKS) && **name != source_attribute)
                .filter(|name| decode(&on_record, name).is_none_or(|a| a.last_at <= forgotten))
                .take(50)
                .collect();
            let mut update = "SET #address = :address, #source = :source".to_string();
            let mut condition = condition;
            if !stale.is_empty() {
                let placeholders: Vec<String> = (0..stale.len()).map(|i| format!("#stale{i}")).collect();
                update.push_str(&format!(" REMOVE {}", placeholders.join(", ")));
                for (placeholder, name) in placeholders.iter().zip(&stale) {
                    condition = condition.name(placeholder, name);
                }
            }
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(check_counts_key(check.key.email_key)))
                .update_expression(update)
                .condition_expression(&condition.expression)
                .set_expression_attribute_names(condition.names())
                .set_expression_attribute_values(condition.values())
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            match result {
                Ok(output) => {
                    let item = output.attributes.unwrap_or_default();
                    let account = item.get("user_id").and_then(|v| v.as_s().ok()).map(|id| UserId(id.clone()));
                    // Extended at most hourly while probes go on.
                    let renew_before = (now + RECORD_TTL - time::Duration::hours(1)).unix_timestamp();
                    if account.is_none() && get_n(&item, "ttl").map_or(true, |ttl| ttl < renew_before) {
                        self.expire_unclaimed_counts(check.key.email_key, now).await?;
                    }
                    return Ok(CheckReservation::Granted { per_source: source, per_address: address, account });
                }
                Err(error) => {
                    let refused = match error.as_service_error() {
                        Some(UpdateItemError::ConditionalCheckFailedException(refused)) => refused,
                        _ => return Err(anyhow::Error::new(error).context("DynamoDB UpdateItem").into()),
                    };
                    on_record = match refused.item() {
                        Some(item) => item.clone(),
                        None => self.get(email_pk(check.key.email_key), "EMAIL").await?.unwrap_or_default(),
                    };
                    if round > 0 {
                        tokio::time::sleep(std::time::Duration::from_millis(u64::from(2 + round % 8))).await;
                    }
                }
            }
        }
        // Fail closed: a key this contended is under attack.
        Ok(CheckReservation::Refused { wait: time::Duration::seconds(1) })
    }

    async fn forget_password_checks(&self, key_: CheckKey<'_>) -> StoreResult<()> {
        let (update, names) = forget_checks(key_);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(check_counts_key(key_.email_key)))
            .update_expression(update)
            .condition_expression("attribute_exists(PK)")
            .set_expression_attribute_names(names.names())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Nothing counted, nothing to forget.
            Err(e) if super::condition_failed::<UpdateItemError, _>(&e) => Ok(()),
            Err(e) => Err(anyhow::Error::new(e).context("DynamoDB UpdateItem").into()),
        }
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

impl DynamoStore {
    /// Counts for an address no account holds expire (a marker with an account never does):
    /// probes of made-up addresses do not pile up.
    async fn expire_unclaimed_counts(&self, email_key: &str, now: OffsetDateTime) -> anyhow::Result<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(check_counts_key(email_key)))
            .update_expression("SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(user_id)")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":ttl", n((now + RECORD_TTL).unix_timestamp()))
            .send()
            .await;
        match result {
            // Claimed by a registration in between: it keeps no expiry.
            Err(e) if !super::condition_failed::<UpdateItemError, _>(&e) => {
                Err(anyhow::Error::new(e).context("DynamoDB UpdateItem"))
            }
            _ => Ok(()),
        }
    }
}
