//! The store on DynamoDB: one on-demand table, keys `PK`/`SK`, one GSI, TTL on `ttl`.
//! `docs/dynamodb.md` describes the items. Every read that a decision depends on is strongly
//! consistent; every check-then-act is one conditional write or one transaction.

use std::time::Duration;

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    error::SdkError,
    operation::{
        delete_item::DeleteItemError, put_item::PutItemError, transact_write_items::TransactWriteItemsError,
        update_item::UpdateItemError,
    },
    types::{AttributeValue, Delete, DeleteRequest, Put, ReturnValue, TransactWriteItem, WriteRequest},
};
use serde::{Deserialize, Serialize};
use shared::{
    domain::{Role, User, UserId},
    pagination::Position,
    ports::{LoginFailures, OneTimeToken, Rotation, Session, Store, StoreError, StoreResult, TokenKind},
};
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

fn email_pk(email_key: &str) -> String {
    format!("EMAIL#{email_key}")
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

/// A user item: the account's fields, plus the keys and index attributes.
#[derive(Serialize, Deserialize)]
struct UserItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    /// GSI1 lists accounts by role, oldest first.
    #[serde(rename = "GSI1PK")]
    gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    gsi1sk: String,
    email_key: String,
    #[serde(flatten)]
    user: User,
}

fn user_item(user: &User) -> anyhow::Result<Item> {
    let item = UserItem {
        pk: user_pk(&user.id),
        sk: "PROFILE".into(),
        gsi1pk: format!("ROLE#{}", user.role.as_str()),
        // Ids are UUIDv7: sorting by id is sorting by age.
        gsi1sk: user.id.0.clone(),
        email_key: user.email.key(),
        user: user.clone(),
    };
    Ok(serde_dynamo::to_item(item)?)
}

fn email_marker(user: &User) -> Item {
    let mut item = key(email_pk(&user.email.key()), "EMAIL");
    item.insert("user_id".into(), s(user.id.0.clone()));
    item
}

fn session_from_item(item: &Item) -> anyhow::Result<Session> {
    Ok(Session {
        id: get_s(item, "SK")?.trim_start_matches("SESSION#").to_string(),
        user_id: UserId(get_s(item, "user_id")?.to_string()),
        refresh_hash: get_s(item, "refresh_hash")?.to_string(),
        created_at: get_time(item, "created_at")?,
        expires_at: get_time(item, "expires_at")?,
    })
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
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .build()
            .expect("table, item and condition are set");
        TransactWriteItem::builder().put(put).build()
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let items = vec![
            self.put(user_item(user)?, "attribute_not_exists(PK)"),
            self.put(email_marker(user), "attribute_not_exists(PK)"),
        ];
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::EmailTaken),
        }
    }

    async fn user(&self, id: &UserId) -> StoreResult<Option<User>> {
        let Some(item) = self.get(user_pk(id), "PROFILE").await? else {
            return Ok(None);
        };
        let stored: UserItem = serde_dynamo::from_item(item).map_err(anyhow::Error::from)?;
        Ok(Some(stored.user))
    }

    async fn user_by_email(&self, email_key: &str) -> StoreResult<Option<User>> {
        let Some(marker) = self.get(email_pk(email_key), "EMAIL").await? else {
            return Ok(None);
        };
        let id = UserId(get_s(&marker, "user_id")?.to_string());
        self.user(&id).await
    }

    async fn update_user(&self, user: &User) -> StoreResult<()> {
        // The common case, the email unchanged, is one conditional write.
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(user_item(user)?))
            .condition_expression("attribute_exists(PK) AND email_key = :email_key")
            .expression_attribute_values(":email_key", s(user.email.key()))
            .send()
            .await;
        match result {
            Ok(_) => return Ok(()),
            Err(e) if condition_failed::<PutItemError, _>(&e) => {}
            Err(e) => return Err(anyhow::Error::new(e).context("DynamoDB PutItem").into()),
        }
        // The email changed: move the marker in the same transaction as the account.
        let current = self.get(user_pk(&user.id), "PROFILE").await?.ok_or_else(|| anyhow!("no account {}", user.id))?;
        let old_key = get_s(&current, "email_key")?.to_string();
        let delete_old = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(email_pk(&old_key), "EMAIL")))
            .condition_expression("user_id = :id")
            .expression_attribute_values(":id", s(user.id.0.clone()))
            .build()
            .map_err(anyhow::Error::from)?;
        let mut replace_user = self.put(user_item(user)?, "email_key = :old").put.expect("a put");
        replace_user.expression_attribute_values = Some([(":old".to_string(), s(old_key))].into());
        let items = vec![
            TransactWriteItem::builder().delete(delete_old).build(),
            self.put(email_marker(user), "attribute_not_exists(PK)"),
            TransactWriteItem::builder().put(replace_user).build(),
        ];
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(codes) if codes.get(1).is_some_and(|c| c == "ConditionalCheckFailed") => Err(StoreError::EmailTaken),
            Err(codes) => Err(anyhow!("the account changed during the update ({codes:?})").into()),
        }
    }

    /// One role's accounts come from one GSI1 query; all roles, from one role after another.
    /// The position is the role being read and DynamoDB's `LastEvaluatedKey` in it (null at the
    /// start of a role). GSI reads are eventually consistent: fine for a listing, and no
    /// decision rests on one.
    async fn list_users(
        &self,
        role: Option<Role>,
        limit: u32,
        after: Option<&Position>,
    ) -> StoreResult<(Vec<User>, Option<Position>)> {
        let roles: Vec<Role> = role.map_or_else(|| Role::ALL.to_vec(), |role| vec![role]);
        let (first, mut start_key) = match after {
            None => (0, None),
            Some(position) => {
                let role = position["role"].as_str().and_then(Role::parse).ok_or_else(|| anyhow!("bad position"))?;
                let index = roles.iter().position(|r| *r == role).ok_or_else(|| anyhow!("position of another role"))?;
                (index, key_from_json(&position["key"])?)
            }
        };
        let mut users = Vec::new();
        for role in &roles[first..] {
            let remaining = limit as usize - users.len();
            if remaining == 0 {
                return Ok((users, Some(serde_json::json!({ "role": role.as_str(), "key": null }))));
            }
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("GSI1")
                .key_condition_expression("GSI1PK = :role")
                .expression_attribute_values(":role", s(format!("ROLE#{}", role.as_str())))
                .limit(remaining as i32)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .context("DynamoDB Query")?;
            for item in page.items() {
                let stored: UserItem = serde_dynamo::from_item(item.clone()).map_err(anyhow::Error::from)?;
                users.push(stored.user);
            }
            if let Some(last) = page.last_evaluated_key {
                let key: serde_json::Map<String, serde_json::Value> =
                    last.iter().filter_map(|(k, v)| Some((k.clone(), v.as_s().ok()?.clone().into()))).collect();
                return Ok((users, Some(serde_json::json!({ "role": role.as_str(), "key": key }))));
            }
        }
        Ok((users, None))
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        let mut item = key(user_pk(&session.user_id), &format!("SESSION#{}", session.id));
        item.extend([
            ("user_id".to_string(), s(session.user_id.0.clone())),
            ("refresh_hash".to_string(), s(session.refresh_hash.clone())),
            ("created_at".to_string(), n(session.created_at.unix_timestamp())),
            ("expires_at".to_string(), n(session.expires_at.unix_timestamp())),
            ("ttl".to_string(), n(session.expires_at.unix_timestamp())),
        ]);
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.context("DynamoDB PutItem")?;
        Ok(())
    }

    async fn session(&self, user_id: &UserId, id: &str) -> StoreResult<Option<Session>> {
        let item = self.get(user_pk(user_id), &format!("SESSION#{id}")).await?;
        Ok(item.as_ref().map(session_from_item).transpose()?)
    }

    async fn rotate_session(
        &self,
        user_id: &UserId,
        id: &str,
        presented_hash: &str,
        new_hash: &str,
    ) -> StoreResult<Rotation> {
        let sk = format!("SESSION#{id}");
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user_id), &sk)))
            .update_expression("SET refresh_hash = :new")
            .condition_expression("refresh_hash = :presented")
            .expression_attribute_values(":new", s(new_hash))
            .expression_attribute_values(":presented", s(presented_hash))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Rotation::Rotated),
            Err(e) if condition_failed::<UpdateItemError, _>(&e) => {
                // Rare: tell a replayed token (the session exists) from an ended session.
                let exists = self.get(user_pk(user_id), &sk).await?.is_some();
                Ok(if exists { Rotation::Stale } else { Rotation::Missing })
            }
            Err(e) => Err(anyhow::Error::new(e).context("DynamoDB UpdateItem").into()),
        }
    }

    async fn delete_session(&self, user_id: &UserId, id: &str) -> StoreResult<()> {
        Ok(self.delete(user_pk(user_id), &format!("SESSION#{id}")).await?)
    }

    async fn delete_user_sessions(&self, user_id: &UserId) -> StoreResult<()> {
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":pk", s(user_pk(user_id)))
                .expression_attribute_values(":prefix", s("SESSION#"))
                .projection_expression("PK, SK")
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .context("DynamoDB Query")?;
            for chunk in page.items().chunks(25) {
                let mut requests: Vec<WriteRequest> = chunk
                    .iter()
                    .map(|item| {
                        let delete = DeleteRequest::builder().set_key(Some(item.clone())).build().expect("a key");
                        WriteRequest::builder().delete_request(delete).build()
                    })
                    .collect();
                // BatchWriteItem may leave some items for later; keep at it briefly.
                for attempt in 0..5 {
                    let output = self
                        .client
                        .batch_write_item()
                        .request_items(&self.table, requests)
                        .send()
                        .await
                        .context("DynamoDB BatchWriteItem")?;
                    requests = output.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
                    if requests.is_empty() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
                if !requests.is_empty() {
                    return Err(anyhow!("could not end every session of {user_id}").into());
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(());
            }
        }
    }

    async fn put_token(&self, token: &OneTimeToken) -> StoreResult<()> {
        let mut item = key(format!("TOKEN#{}", token.hash), "TOKEN");
        item.extend([
            ("kind".to_string(), s(token.kind.as_str())),
            ("user_id".to_string(), s(token.user_id.0.clone())),
            ("email_key".to_string(), s(token.email_key.clone())),
            ("expires_at".to_string(), n(token.expires_at.unix_timestamp())),
            ("ttl".to_string(), n(token.expires_at.unix_timestamp())),
        ]);
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.context("DynamoDB PutItem")?;
        Ok(())
    }

    async fn take_token(&self, kind: TokenKind, hash: &str) -> StoreResult<Option<OneTimeToken>> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("TOKEN#{hash}"), "TOKEN")))
            .condition_expression("kind = :kind")
            .expression_attribute_values(":kind", s(kind.as_str()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let item = match result {
            Ok(output) => output.attributes,
            Err(e) if condition_failed::<DeleteItemError, _>(&e) => None,
            Err(e) => return Err(anyhow::Error::new(e).context("DynamoDB DeleteItem").into()),
        };
        let Some(item) = item else { return Ok(None) };
        Ok(Some(OneTimeToken {
            hash: hash.to_string(),
            kind,
            user_id: UserId(get_s(&item, "user_id")?.to_string()),
            email_key: get_s(&item, "email_key")?.to_string(),
            expires_at: get_time(&item, "expires_at")?,
        }))
    }

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

/// The outcome of claiming a job for processing.
#[derive(Debug, PartialEq, Eq)]
pub enum JobClaim {
    /// Ours to do now.
    Acquired,
    /// Done before: a redelivery, to acknowledge without doing it again.
    AlreadyDone,
    /// Another worker holds it; let SQS deliver it again later.
    Busy,
}

/// Idempotency records for the SQS worker: a job id is done at most once.
impl DynamoStore {
    pub async fn claim_job(
        &self,
        job_id: &str,
        now: OffsetDateTime,
        lease: time::Duration,
    ) -> anyhow::Result<JobClaim> {
        let pk = format!("JOB#{job_id}");
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone(), "JOB")))
            .update_expression("SET #state = :running, lease_until = :lease, #ttl = :ttl")
            .condition_expression("attribute_not_exists(PK) OR (#state = :running AND lease_until < :now)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":running", s("running"))
            .expression_attribute_values(":lease", n((now + lease).unix_timestamp()))
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .expression_attribute_values(":ttl", n((now + RECORD_TTL).unix_timestamp()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(JobClaim::Acquired),
            Err(e) if condition_failed::<UpdateItemError, _>(&e) => {
                let item = self.get(pk, "JOB").await?;
                let done = item.as_ref().and_then(|i| get_s(i, "state").ok()) == Some("done");
                Ok(if done { JobClaim::AlreadyDone } else { JobClaim::Busy })
            }
            Err(e) => Err(anyhow::Error::new(e).context("DynamoDB UpdateItem")),
        }
    }

    pub async fn finish_job(&self, job_id: &str) -> anyhow::Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("JOB#{job_id}"), "JOB")))
            .update_expression("SET #state = :done")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":done", s("done"))
            .send()
            .await
            .context("DynamoDB UpdateItem")?;
        Ok(())
    }

    /// Gives a failed job back, so its redelivery is tried afresh.
    pub async fn release_job(&self, job_id: &str) -> anyhow::Result<()> {
        self.delete(format!("JOB#{job_id}"), "JOB").await
    }
}
