//! Sessions on DynamoDB, in their user's partition: ending them all is one strongly
//! consistent query.

use std::time::Duration;

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use aws_sdk_dynamodb::{
    operation::update_item::UpdateItemError,
    types::{AttributeValue, ConditionCheck, DeleteRequest, TransactWriteItem, WriteRequest},
};
use shared::{
    domain::UserId,
    ports::{CheckKey, Rotation, Session, SessionStore, StoreError, StoreResult},
};
use time::OffsetDateTime;

use super::{Condition, DynamoStore, Item, condition_failed, get_n, get_s, get_time, key, n, s, user_pk};

fn session_from_item(item: &Item) -> anyhow::Result<Session> {
    let history = item.get("previous_hashes").and_then(|v| v.as_l().ok()).map(Vec::as_slice).unwrap_or_default();
    Ok(Session {
        id: get_s(item, "SK")?.trim_start_matches("SESSION#").to_string(),
        user_id: UserId(get_s(item, "user_id")?.to_string()),
        refresh_hash: get_s(item, "refresh_hash")?.to_string(),
        created_at: get_time(item, "created_at")?,
        expires_at: get_time(item, "expires_at")?,
        credential_version: get_n(item, "credential_version").unwrap_or(0) as u64,
        access_version: get_n(item, "access_version").unwrap_or(0) as u64,
        previous_hashes: history.iter().filter_map(|v| v.as_s().ok().cloned()).collect(),
        rotated_at: get_time(item, "rotated_at").ok(),
        amr: match item.get("amr").and_then(|v| v.as_l().ok()) {
            Some(methods) => methods.iter().filter_map(|v| v.as_s().ok().cloned()).collect(),
            // Sessions from before second factors were signed in with a password.
            None => vec!["pwd".to_string()],
        },
        source: get_s(item, "source").ok().map(str::to_string),
        device: get_s(item, "device").ok().map(str::to_string),
        seen_at: get_time(item, "seen_at").ok(),
        proved_at: get_time(item, "proved_at").ok(),
    })
}

impl DynamoStore {
    /// Every session item of the user (only their keys if `keys_only`), read strongly
    /// consistently from the user's partition, page after page.
    async fn session_items(&self, user_id: &UserId, keys_only: bool) -> anyhow::Result<Vec<Item>> {
        let (mut items, mut start) = (Vec::new(), None);
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":pk", s(user_pk(user_id)))
                .expression_attribute_values(":prefix", s("SESSION#"))
                .consistent_read(true)
                .set_exclusive_start_key(start);
            if keys_only {
                query = query.projection_expression("PK, SK");
            }
            let page = query.send().await.context("DynamoDB Query")?;
            items.extend(page.items().iter().cloned());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }
}

fn history(hashes: &[String]) -> AttributeValue {
    AttributeValue::L(hashes.iter().map(|h| s(h.clone())).collect())
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn create_session(&self, session: &Session, forget_checks: Option<CheckKey<'_>>) -> StoreResult<()> {
        let mut item = key(user_pk(&session.user_id), &format!("SESSION#{}", session.id));
        item.extend([
            ("user_id".to_string(), s(session.user_id.0.clone())),
            ("refresh_hash".to_string(), s(session.refresh_hash.clone())),
            ("created_at".to_string(), n(session.created_at.unix_timestamp())),
            ("expires_at".to_string(), n(session.expires_at.unix_timestamp())),
            ("credential_version".to_string(), n(session.credential_version)),
            ("access_version".to_string(), n(session.access_version)),
            ("previous_hashes".to_string(), history(&session.previous_hashes)),
            ("amr".to_string(), history(&session.amr)),
            ("ttl".to_string(), n(session.expires_at.unix_timestamp())),
        ]);
        for (name, value) in [("source", &session.source), ("device", &session.device)] {
            if let Some(value) = value {
                item.insert(name.to_string(), s(value.clone()));
            }
        }
        for (name, value) in [("seen_at", session.seen_at), ("proved_at", session.proved_at)] {
            if let Some(value) = value {
                item.insert(name.to_string(), n(value.unix_timestamp()));
            }
        }
        // Written only while the account is at the credential, role and status the session
        // was made with.
        let credential = Condition::new("attribute_exists(PK)")
            .and(Condition::number_is("credential_version", session.credential_version))
            .and(Condition::number_is("access_version", session.access_version));
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(&session.user_id), "PROFILE")))
            .condition_expression(&credential.expression)
            .set_expression_attribute_names(credential.names())
            .set_expression_attribute_values(credential.values())
            .build()
            .map_err(anyhow::Error::from)?;
        let mut items = vec![
            TransactWriteItem::builder().condition_check(check).build(),
            self.put(item, "attribute_not_exists(PK)"),
        ];
        if let Some(checks) = forget_checks {
            let (update, names) = super::limits::forget_checks(checks);
            let marker_stays = Condition { expression: "attribute_exists(PK)".into(), ..names };
            items.push(self.update_if(super::limits::check_counts_key(checks.email_key), &update, &marker_stays));
        }
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::Conflict),
        }
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
        previous: &[String],
        now: OffsetDateTime,
    ) -> StoreResult<Rotation> {
        let sk = format!("SESSION#{id}");
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user_id), &sk)))
            .update_expression("SET refresh_hash = :new, previous_hashes = :history, rotated_at = :now")
            .condition_expression("refresh_hash = :presented")
            .expression_attribute_values(":new", s(new_hash))
            .expression_attribute_values(":history", history(previous))
            .expression_attribute_values(":now", n(now.unix_timestamp()))
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

    async fn touch_session(
        &self,
        user_id: &UserId,
        id: &str,
        hash: &str,
        seen_at: OffsetDateTime,
        proved_at: Option<OffsetDateTime>,
    ) -> StoreResult<bool> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user_id), &format!("SESSION#{id}"))))
            .condition_expression("refresh_hash = :hash")
            .expression_attribute_values(":hash", s(hash))
            .expression_attribute_values(":seen", n(seen_at.unix_timestamp()));
        update = match proved_at {
            Some(at) => update
                .update_expression("SET seen_at = :seen, proved_at = :proved")
                .expression_attribute_values(":proved", n(at.unix_timestamp())),
            None => update.update_expression("SET seen_at = :seen"),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed::<UpdateItemError, _>(&e) => Ok(false),
            Err(e) => Err(anyhow::Error::new(e).context("DynamoDB UpdateItem").into()),
        }
    }

    async fn user_sessions(&self, user_id: &UserId) -> StoreResult<Vec<Session>> {
        let items = self.session_items(user_id, false).await?;
        let mut sessions = items.iter().map(session_from_item).collect::<anyhow::Result<Vec<_>>>()?;
        sessions.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(sessions)
    }

    async fn delete_session(&self, user_id: &UserId, id: &str) -> StoreResult<()> {
        Ok(self.delete(user_pk(user_id), &format!("SESSION#{id}")).await?)
    }

    async fn delete_user_sessions(&self, user_id: &UserId) -> StoreResult<()> {
        let keys = self.session_items(user_id, true).await?;
        self.delete_items(&keys).await.with_context(|| format!("ending every session of {user_id}"))?;
        Ok(())
    }
}

impl DynamoStore {
    /// Deletes the items of these keys, 25 to a BatchWriteItem, taking up what a batch leaves
    /// unprocessed a few times before giving up.
    pub(crate) async fn delete_items(&self, keys: &[Item]) -> anyhow::Result<()> {
        for chunk in keys.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|key| {
                    let delete = DeleteRequest::builder().set_key(Some(key.clone())).build().expect("a key");
                    WriteRequest::builder().delete_request(delete).build()
                })
                .collect();
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
                return Err(anyhow!("{} items left undeleted", requests.len()));
            }
        }
        Ok(())
    }
}
