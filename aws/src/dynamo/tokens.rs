//! Single-use tokens on DynamoDB: taking one is a conditional delete returning the item.

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::{
    operation::{delete_item::DeleteItemError, update_item::UpdateItemError},
    types::ReturnValue,
};
use shared::{
    domain::UserId,
    ports::{OneTimeToken, StoreResult, TokenKind, TokenStore},
};

use super::{DynamoStore, Item, condition_failed, get_n, get_s, get_time, key, n, s};

fn token_of(item: &Item, kind: TokenKind, hash: &str) -> StoreResult<OneTimeToken> {
    Ok(OneTimeToken {
        hash: hash.to_string(),
        kind,
        user_id: UserId(get_s(item, "user_id")?.to_string()),
        email_key: get_s(item, "email_key")?.to_string(),
        expires_at: get_time(item, "expires_at")?,
        credential_version: get_n(item, "credential_version").unwrap_or(0) as u64,
        reset_generation: get_n(item, "reset_generation").unwrap_or(0) as u32,
        payload: get_s(item, "payload").ok().map(str::to_string),
    })
}

#[async_trait]
impl TokenStore for DynamoStore {
    async fn put_token(&self, token: &OneTimeToken) -> StoreResult<()> {
        let mut item = key(format!("TOKEN#{}", token.hash), "TOKEN");
        item.extend([
            ("kind".to_string(), s(token.kind.as_str())),
            ("user_id".to_string(), s(token.user_id.0.clone())),
            ("email_key".to_string(), s(token.email_key.clone())),
            ("expires_at".to_string(), n(token.expires_at.unix_timestamp())),
            ("credential_version".to_string(), n(token.credential_version)),
            ("reset_generation".to_string(), n(token.reset_generation)),
            ("ttl".to_string(), n(token.expires_at.unix_timestamp())),
        ]);
        // GSI1 finds a user's tokens when the account is deleted. A token of no account (a
        // passkey sign-in's decoy) is not indexed: they would all share one index partition.
        if !token.user_id.0.is_empty() {
            item.insert("GSI1PK".to_string(), s(tokens_of(&token.user_id)));
            item.insert("GSI1SK".to_string(), s(token.hash.clone()));
        }
        if let Some(payload) = &token.payload {
            item.insert("payload".to_string(), s(payload.clone()));
        }
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.context("DynamoDB PutItem")?;
        Ok(())
    }

    async fn take_token(&self, kind: TokenKind, hash: &str) -> StoreResult<Option<OneTimeToken>> {
        self.take_where(kind, hash, None).await
    }

    async fn peek_token(&self, kind: TokenKind, hash: &str) -> StoreResult<Option<OneTimeToken>> {
        let item = self.get(format!("TOKEN#{hash}"), "TOKEN").await?;
        let of_kind = item.filter(|item| get_s(item, "kind").is_ok_and(|k| k == kind.as_str()));
        of_kind.map(|item| token_of(&item, kind, hash)).transpose()
    }

    async fn use_token(&self, kind: TokenKind, hash: &str, max: u32) -> StoreResult<Option<OneTimeToken>> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("TOKEN#{hash}"), "TOKEN")))
            .update_expression("ADD #uses :one")
            .condition_expression("kind = :kind AND (attribute_not_exists(#uses) OR #uses < :max)")
            .expression_attribute_names("#uses", "uses")
            .expression_attribute_values(":kind", s(kind.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let item = match result {
            Ok(output) => output.attributes,
            Err(e) if condition_failed::<UpdateItemError, _>(&e) => None,
            Err(e) => return Err(anyhow::Error::new(e).context("DynamoDB UpdateItem").into()),
        };
        item.map(|item| token_of(&item, kind, hash)).transpose()
    }

    async fn take_token_if(&self, kind: TokenKind, hash: &str, payload: &str) -> StoreResult<Option<OneTimeToken>> {
        self.take_where(kind, hash, Some(payload)).await
    }

    async fn delete_user_tokens(&self, user_id: &UserId) -> StoreResult<()> {
        let mut start_key = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("GSI1")
                .key_condition_expression("GSI1PK = :tokens")
                .expression_attribute_values(":tokens", s(tokens_of(user_id)))
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .context("DynamoDB Query")?;
            for item in page.items() {
                self.delete(get_s(item, "PK")?.to_string(), "TOKEN").await?;
            }
            match page.last_evaluated_key {
                Some(last) => start_key = Some(last),
                None => return Ok(()),
            }
        }
    }
}

impl DynamoStore {
    /// Deletes the token, returning it, if it is of this kind (and, given one, has this payload):
    /// the condition is the delete's own, so of two takes one gets it.
    async fn take_where(
        &self,
        kind: TokenKind,
        hash: &str,
        payload: Option<&str>,
    ) -> StoreResult<Option<OneTimeToken>> {
        let mut delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("TOKEN#{hash}"), "TOKEN")))
            .condition_expression("kind = :kind")
            .expression_attribute_values(":kind", s(kind.as_str()))
            .return_values(ReturnValue::AllOld);
        if let Some(payload) = payload {
            delete = delete
                .condition_expression("kind = :kind AND #payload = :payload")
                .expression_attribute_names("#payload", "payload")
                .expression_attribute_values(":payload", s(payload));
        }
        let item = match delete.send().await {
            Ok(output) => output.attributes,
            Err(e) if condition_failed::<DeleteItemError, _>(&e) => None,
            Err(e) => return Err(anyhow::Error::new(e).context("DynamoDB DeleteItem").into()),
        };
        item.map(|item| token_of(&item, kind, hash)).transpose()
    }
}

fn tokens_of(user_id: &UserId) -> String {
    format!("TOKENS#{user_id}")
}
