//! The stores on DynamoDB: one on-demand table (its definition: `aws/dynamodb-table.json`),
//! keys `PK`/`SK`, two GSIs (`GSI1`, and `GSI2` for reports by reporter), TTL on `ttl`. One file per port, mirroring
//! `shared::adapters::local`; `docs/dynamodb.md` describes the items. Every read that a
//! decision depends on is strongly consistent; every check-then-act is one conditional write
//! or one transaction.

mod accounts;
mod activity;
mod jobs;
mod limits;
mod moderation;
mod notifications;
mod sessions;
mod social;
mod tokens;
mod webhooks;

pub use accounts::user_of;
pub use jobs::JobClaim;

use std::time::Duration;

use anyhow::{Context, anyhow};
use aws_sdk_dynamodb::{
    Client,
    error::SdkError,
    operation::{transact_write_items::TransactWriteItemsError, update_item::UpdateItemError},
    types::{AttributeValue, Delete, KeysAndAttributes, Put, Select, TransactWriteItem, Update},
};
use shared::domain::UserId;
use time::OffsetDateTime;

use crate::Lazy;

type Item = std::collections::HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoStore {
    client: Lazy<Client>,
    table: String,
}

/// How long an emptied login-failure record lingers before TTL removes it.
const RECORD_TTL: time::Duration = time::Duration::days(1);
/// How long what makes a queued job happen once (its job record, a subscriber's delivery) is
/// kept: longer than SQS keeps a message (14 days), so no redelivery outlives it.
const QUEUED_JOB_TTL: time::Duration = time::Duration::days(15);

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key(pk: String, sk: &str) -> Item {
    Item::from([("PK".to_string(), s(pk)), ("SK".to_string(), s(sk))])
}

fn user_pk(id: &UserId) -> String {
    format!("USER#{id}")
}

fn get_s<'a>(item: &'a Item, name: &str) -> anyhow::Result<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str).ok_or_else(|| anyhow!("item has no string {name}"))
}

fn get_n(item: &Item, name: &str) -> anyhow::Result<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("item has no number {name}"))
}

fn get_time(item: &Item, name: &str) -> anyhow::Result<OffsetDateTime> {
    Ok(OffsetDateTime::from_unix_timestamp(get_n(item, name)?)?)
}

/// A `LastEvaluatedKey` in JSON (all its attributes are strings), for a position.
fn key_to_json(key: &Item) -> serde_json::Value {
    key.iter().filter_map(|(k, v)| Some((k.clone(), serde_json::Value::from(v.as_s().ok()?.clone())))).collect()
}

/// A `LastEvaluatedKey` back from its JSON form (all its attributes are strings).
fn key_from_json(value: &serde_json::Value) -> anyhow::Result<Option<Item>> {
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), s(v.as_str().ok_or_else(|| anyhow!("bad position key"))?))))
            .collect::<anyhow::Result<Item>>()
            .map(Some),
        _ => Err(anyhow!("bad position key")),
    }
}

/// One partition read as a listing: of the table (strongly consistent) or of an index (GSI1
/// or GSI2), in sort key order or the reverse, optionally only the sort keys with a prefix,
/// optionally filtered.
struct Listing {
    index: Option<&'static str>,
    /// An index listing whose entries say all it needs (no read of the table's items).
    entries_only: bool,
    partition: String,
    sk_prefix: Option<String>,
    newest_first: bool,
    filter: Option<Condition>,
}

impl Listing {
    fn table(partition: String) -> Self {
        Self { index: None, entries_only: false, partition, sk_prefix: None, newest_first: false, filter: None }
    }

    fn gsi1(partition: String) -> Self {
        Self { index: Some("GSI1"), ..Self::table(partition) }
    }

    /// GSI2: reports by the account that filed them (keys only).
    fn gsi2(partition: String) -> Self {
        Self { index: Some("GSI2"), ..Self::table(partition) }
    }

    /// GSI1's entries themselves: their keys and the attributes it copies.
    fn gsi1_entries(partition: String) -> Self {
        Self { entries_only: true, ..Self::gsi1(partition) }
    }

    fn newest_first(self) -> Self {
        Self { newest_first: true, ..self }
    }

    fn prefix(self, prefix: &str) -> Self {
        Self { sk_prefix: Some(prefix.to_string()), ..self }
    }

    fn filter(self, filter: Condition) -> Self {
        Self { filter: Some(filter), ..self }
    }

    fn query(&self, client: &Client, table: &str) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let (pk, sk) = match self.index {
            Some("GSI2") => ("GSI2PK", "GSI2SK"),
            Some(_) => ("GSI1PK", "GSI1SK"),
            None => ("PK", "SK"),
        };
        let mut expression = format!("{pk} = :partition");
        let mut values = Item::from([(":partition".to_string(), s(self.partition.clone()))]);
        if let Some(prefix) = &self.sk_prefix {
            expression += &format!(" AND begins_with({sk}, :prefix)");
            values.insert(":prefix".to_string(), s(prefix.clone()));
        }
        let mut query = client
            .query()
            .table_name(table)
            .key_condition_expression(expression)
            .scan_index_forward(!self.newest_first);
        query = match self.index {
            Some(index) => query.index_name(index),
            None => query.consistent_read(true),
        };
        if let Some(filter) = &self.filter {
            values.extend(filter.values().unwrap_or_default());
            query = query.filter_expression(&filter.expression).set_expression_attribute_names(filter.names());
        }
        query.set_expression_attribute_values(Some(values))
    }
}

/// True when the error is DynamoDB refusing a condition.
fn condition_failed<E, R>(error: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    error.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

/// Why a transaction was cancelled, item by item.
fn cancellation_codes(
    error: &SdkError<TransactWriteItemsError, aws_smithy_runtime_api::http::Response>,
) -> Option<Vec<String>> {
    match error.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(e) => {
            Some(e.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None").to_string()).collect())
        }
        _ => None,
    }
}

impl DynamoStore {
    pub fn new(client: impl Into<Lazy<Client>>, table: impl Into<String>) -> Self {
        Self { client: client.into(), table: table.into() }
    }

    async fn get(&self, pk: String, sk: &str) -> anyhow::Result<Option<Item>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .context("DynamoDB GetItem")?;
        Ok(output.item)
    }

    async fn delete(&self, pk: String, sk: &str) -> anyhow::Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .send()
            .await
            .context("DynamoDB DeleteItem")?;
        Ok(())
    }

    /// Runs a transaction, retrying while DynamoDB reports a conflict with another one in
    /// flight; returns the per-item cancellation codes if a condition failed.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> anyhow::Result<Result<(), Vec<String>>> {
        let mut delay = Duration::from_millis(20);
        for _ in 0..6 {
            match self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await {
                Ok(_) => return Ok(Ok(())),
                Err(e) => match cancellation_codes(&e) {
                    Some(codes) if codes.iter().any(|c| c == "ConditionalCheckFailed") => return Ok(Err(codes)),
                    Some(codes) if codes.iter().any(|c| c == "TransactionConflict") => {
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                    _ => return Err(anyhow::Error::new(e).context("DynamoDB TransactWriteItems")),
                },
            }
        }
        Err(anyhow!("DynamoDB TransactWriteItems kept conflicting"))
    }

    /// Up to `limit` items of a listing after `after`, reading on while a filter leaves the
    /// page short, and the position after the last one if there may be more.
    async fn page(
        &self,
        listing: &Listing,
        limit: u32,
        after: Option<&serde_json::Value>,
    ) -> anyhow::Result<(Vec<Item>, Option<serde_json::Value>)> {
        let mut start_key = after.map(key_from_json).transpose()?.flatten();
        let mut items = Vec::new();
        loop {
            let remaining = limit as usize - items.len();
            let page = listing
                .query(&self.client, &self.table)
                .limit(remaining as i32)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .context("DynamoDB Query")?;
            items.extend(page.items.unwrap_or_default());
            let next = match page.last_evaluated_key {
                Some(last) if items.len() == limit as usize => Some(key_to_json(&last)),
                Some(last) => {
                    start_key = Some(last);
                    continue;
                }
                None => None,
            };
            if listing.index.is_some() && !listing.entries_only {
                items = self.indexed_items(items).await?;
            }
            return Ok((items, next));
        }
    }

    /// The table's items behind a page of index entries, in the page's order. The index holds
    /// keys and the few attributes its filters read (`aws/dynamodb-table.json`): never a
    /// password hash or a token. An item deleted since the index was read is left out.
    async fn indexed_items(&self, entries: Vec<Item>) -> anyhow::Result<Vec<Item>> {
        let key_of =
            |item: &Item| (get_s(item, "PK").ok().map(str::to_string), get_s(item, "SK").ok().map(str::to_string));
        let mut found = std::collections::HashMap::new();
        for chunk in entries.chunks(100) {
            let keys = chunk.iter().map(|entry| {
                ["PK", "SK"].iter().filter_map(|k| Some((k.to_string(), entry.get(*k)?.clone()))).collect()
            });
            for item in self.batch_get(keys.collect()).await? {
                found.insert(key_of(&item), item);
            }
        }
        Ok(entries.iter().filter_map(|entry| found.remove(&key_of(entry))).collect())
    }

    /// How many items a listing holds, over every page.
    async fn count(&self, listing: &Listing) -> anyhow::Result<u64> {
        let (mut total, mut start_key) = (0, None);
        loop {
            let page = listing
                .query(&self.client, &self.table)
                .select(Select::Count)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .context("DynamoDB Query")?;
            total += page.count as u64;
            match page.last_evaluated_key {
                Some(last) => start_key = Some(last),
                None => return Ok(total),
            }
        }
    }

    /// The items of these keys that exist (at most 100 keys), read strongly consistent,
    /// retrying what DynamoDB leaves unprocessed.
    async fn batch_get(&self, keys: Vec<Item>) -> anyhow::Result<Vec<Item>> {
        let mut found = Vec::new();
        let mut pending = keys;
        let mut delay = Duration::from_millis(20);
        while !pending.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .context("a batch of keys")?;
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .context("DynamoDB BatchGetItem")?;
            found.extend(output.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default());
            if let Some(left) = output.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                pending = left.keys;
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
        Ok(found)
    }

    /// One update on a condition (an empty expression: none) whose names and values the
    /// update expression may use too: `Ok` with the item as it is after it, or `Err` with the
    /// item as it was when the condition failed (`None` if there was none, or the answer did
    /// not carry it), so that a refusal needs no second read to say why.
    async fn update_one(
        &self,
        key: Item,
        update: &str,
        condition: &Condition,
    ) -> anyhow::Result<Result<Item, Option<Item>>> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(update)
            .set_expression_attribute_names(condition.names())
            .set_expression_attribute_values(condition.values())
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            );
        if !condition.expression.is_empty() {
            request = request.condition_expression(&condition.expression);
        }
        match request.send().await {
            Ok(output) => Ok(Ok(output.attributes.unwrap_or_default())),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(refused)) => Ok(Err(refused.item().cloned())),
                _ => Err(anyhow::Error::new(e).context("DynamoDB UpdateItem")),
            },
        }
    }

    /// A transaction's update, on a condition (an empty expression: none) whose names and
    /// values the update expression may use too.
    fn update_if(&self, key: Item, update: &str, condition: &Condition) -> TransactWriteItem {
        let mut builder = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(update)
            .set_expression_attribute_names(condition.names())
            .set_expression_attribute_values(condition.values());
        if !condition.expression.is_empty() {
            builder = builder.condition_expression(&condition.expression);
        }
        TransactWriteItem::builder().update(builder.build().expect("table, key and expression are set")).build()
    }

    /// A transaction's delete, on a condition (an empty expression: none).
    fn delete_if(&self, key: Item, condition: &Condition) -> TransactWriteItem {
        let mut builder = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .set_expression_attribute_names(condition.names())
            .set_expression_attribute_values(condition.values());
        if !condition.expression.is_empty() {
            builder = builder.condition_expression(&condition.expression);
        }
        TransactWriteItem::builder().delete(builder.build().expect("table and key are set")).build()
    }

    fn put(&self, item: Item, condition: &str) -> TransactWriteItem {
        self.put_if(item, &Condition::new(condition))
    }

    /// A transaction's put, on a condition with its own names and values.
    fn put_if(&self, item: Item, condition: &Condition) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(&condition.expression)
            .set_expression_attribute_names(condition.names())
            .set_expression_attribute_values(condition.values())
            .build()
            .expect("table, item and condition are set");
        TransactWriteItem::builder().put(put).build()
    }
}

/// A condition expression with the names and values it uses.
#[derive(Clone, Debug, Default)]
struct Condition {
    expression: String,
    names: Vec<(String, String)>,
    values: Vec<(String, AttributeValue)>,
}

impl Condition {
    fn new(expression: &str) -> Self {
        Self { expression: expression.to_string(), ..Self::default() }
    }

    fn name(mut self, placeholder: &str, name: &str) -> Self {
        self.names.push((placeholder.into(), name.into()));
        self
    }

    fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.push((placeholder.into(), value));
        self
    }

    /// `attribute` (a number) still equals `expected`; an item written before the attribute
    /// existed counts as 0.
    fn number_is(attribute: &str, expected: u64) -> Self {
        let expression = if expected == 0 {
            format!("(attribute_not_exists(#{attribute}) OR #{attribute} = :{attribute})")
        } else {
            format!("#{attribute} = :{attribute}")
        };
        Self::new(&expression).name(&format!("#{attribute}"), attribute).value(&format!(":{attribute}"), n(expected))
    }

    fn and(mut self, other: Condition) -> Self {
        self.expression = format!("{} AND {}", self.expression, other.expression);
        self.names.extend(other.names);
        self.values.extend(other.values);
        self
    }

    fn names(&self) -> Option<std::collections::HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.iter().cloned().collect())
    }

    fn values(&self) -> Option<Item> {
        (!self.values.is_empty()).then(|| self.values.iter().cloned().collect())
    }
}
