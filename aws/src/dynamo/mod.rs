//! The stores on DynamoDB: one on-demand table (its definition: `aws/dynamodb-table.json`),
//! keys `PK`/`SK`, one GSI, TTL on `ttl`. One file per port, mirroring
//! `shared::adapters::local`; `docs/dynamodb.md` describes the items. Every read that a
//! decision depends on is strongly consistent; every check-then-act is one conditional write
//! or one transaction.

mod accounts;
mod jobs;
mod limits;
mod sessions;
mod tokens;

pub use jobs::JobClaim;

use std::time::Duration;

use anyhow::{Context, anyhow};
use aws_sdk_dynamodb::{
    Client,
    error::SdkError,
    operation::transact_write_items::TransactWriteItemsError,
    types::{AttributeValue, Put, TransactWriteItem},
};
use shared::domain::UserId;
use time::OffsetDateTime;

type Item = std::collections::HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// How long an emptied login-failure or job record lingers before TTL removes it.
const RECORD_TTL: time::Duration = time::Duration::days(1);

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
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
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
