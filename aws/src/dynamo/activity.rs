//! Security activity on DynamoDB: items in their account's partition (`ACTIVITY#<UUIDv7>`, so
//! newest first is a backward query), expired by the table's TTL; an entry past its time that
//! TTL has not removed yet is not read.

use anyhow::Context;
use async_trait::async_trait;
use shared::{
    domain::UserId,
    ports::{ActivityEntry, ActivityKind, ActivityStore, StoreResult},
};
use time::OffsetDateTime;

use super::{DynamoStore, Item, get_s, get_time, key, n, s, user_pk};

const PREFIX: &str = "ACTIVITY#";

fn entry_of(item: &Item) -> anyhow::Result<ActivityEntry> {
    let kind = get_s(item, "kind")?;
    Ok(ActivityEntry {
        id: get_s(item, "SK")?.trim_start_matches(PREFIX).to_string(),
        user_id: UserId(get_s(item, "user_id")?.to_string()),
        kind: ActivityKind::parse(kind).with_context(|| format!("activity kind {kind}"))?,
        at: get_time(item, "at")?,
        source: get_s(item, "source").ok().map(str::to_string),
        device: get_s(item, "device").ok().map(str::to_string),
        detail: get_s(item, "detail").unwrap_or_default().to_string(),
    })
}

#[async_trait]
impl ActivityStore for DynamoStore {
    async fn record_activity(&self, entry: &ActivityEntry) -> StoreResult<()> {
        let mut item = key(user_pk(&entry.user_id), &format!("{PREFIX}{}", entry.id));
        item.extend([
            ("user_id".to_string(), s(entry.user_id.0.clone())),
            ("kind".to_string(), s(entry.kind.as_str())),
            ("at".to_string(), n(entry.at.unix_timestamp())),
            ("detail".to_string(), s(entry.detail.clone())),
            ("ttl".to_string(), n(entry.expires_at().unix_timestamp())),
        ]);
        for (name, value) in [("source", &entry.source), ("device", &entry.device)] {
            if let Some(value) = value {
                item.insert(name.to_string(), s(value.clone()));
            }
        }
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.context("DynamoDB PutItem")?;
        Ok(())
    }

    async fn activity(
        &self,
        user_id: &UserId,
        now: OffsetDateTime,
        limit: usize,
        before: Option<&str>,
    ) -> StoreResult<Vec<ActivityEntry>> {
        let upper = format!("{PREFIX}{}", before.unwrap_or("~"));
        let (mut entries, mut start) = (Vec::new(), None);
        // Expired items still there are filtered out after the read: pages can come back short.
        while entries.len() < limit {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND SK BETWEEN :lower AND :upper")
                .filter_expression("#ttl > :now AND SK <> :upper")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":pk", s(user_pk(user_id)))
                .expression_attribute_values(":lower", s(PREFIX))
                .expression_attribute_values(":upper", s(upper.clone()))
                .expression_attribute_values(":now", n(now.unix_timestamp()))
                .scan_index_forward(false)
                .limit((limit - entries.len() + 1) as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .context("DynamoDB Query")?;
            for item in page.items() {
                entries.push(entry_of(item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        entries.truncate(limit);
        Ok(entries)
    }

    async fn delete_user_activity(&self, user_id: &UserId) -> StoreResult<()> {
        loop {
            // A page of keys at a time: 90 days of an account's activity can be many.
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":pk", s(user_pk(user_id)))
                .expression_attribute_values(":prefix", s(PREFIX))
                .projection_expression("PK, SK")
                .limit(500)
                .send()
                .await
                .context("DynamoDB Query")?;
            self.delete_items(page.items()).await.with_context(|| format!("deleting the activity of {user_id}"))?;
            if page.last_evaluated_key.is_none() {
                return Ok(());
            }
        }
    }
}
