//! Notifications and their deliveries on DynamoDB, in one partition `NOTIFICATION#<id>`:
//! `NOTIFICATION` holds what was sent (with the message, written once); `PROGRESS` is small and
//! holds the counts, the fan-out's segments and where each stands (`seg_<n>`), so counting a
//! delivery costs one write unit whatever the message's size; one `DELIVERY#<subscriber>` item
//! per subscriber, its state moved by conditional writes. Everything here expires: the
//! notification after [`NOTIFICATION_TTL`], a delivery after the longest a queued job lives.

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use shared::{
    domain::UserId,
    ports::{DeliveryClaim, Finished, Notification, NotificationStore, Segment, SegmentPosition, StoreResult},
};
use time::OffsetDateTime;

use super::{Condition, DynamoStore, Item, QUEUED_JOB_TTL, get_n, get_s, get_time, key, n, s};

/// How long a notification and its progress can be read back (`GET author/notification`).
pub const NOTIFICATION_TTL: time::Duration = time::Duration::days(90);
/// Deliveries finished in one transaction at most (DynamoDB takes 100 items, one is the count).
const FINISHED_PER_WRITE: usize = 99;

fn notification_pk(id: &str) -> String {
    format!("NOTIFICATION#{id}")
}

fn delivery_key(id: &str, subscriber: &UserId) -> Item {
    key(notification_pk(id), &format!("DELIVERY#{subscriber}"))
}

fn progress_key(id: &str) -> Item {
    key(notification_pk(id), "PROGRESS")
}

/// The attribute where segment `index` stands.
fn segment_attribute(index: u32) -> String {
    format!("seg_{index}")
}

fn expires(after: time::Duration) -> AttributeValue {
    n((OffsetDateTime::now_utc() + after).unix_timestamp())
}

impl DynamoStore {
    /// Marks each delivery and adds them to the counts in one transaction; if one was finished
    /// by another job meanwhile (its condition fails), each is written on its own.
    async fn finish_together(&self, id: &str, finished: &[Finished]) -> anyhow::Result<()> {
        let sent = finished.iter().filter(|f| f.sent).count() as i64;
        let mut items: Vec<_> = finished.iter().map(|f| self.mark_finished(id, f)).collect();
        let count = Condition::default().value(":sent", n(sent)).value(":failed", n(finished.len() as i64 - sent));
        items.push(self.update_if(progress_key(id), "ADD sent :sent, failed :failed", &count));
        if self.transact(items).await?.is_ok() || finished.len() == 1 {
            return Ok(());
        }
        for one in finished {
            Box::pin(self.finish_together(id, std::slice::from_ref(one))).await?;
        }
        Ok(())
    }

    fn mark_finished(&self, id: &str, finished: &Finished) -> aws_sdk_dynamodb::types::TransactWriteItem {
        let sending = Condition::new("#state = :sending")
            .name("#state", "state")
            .value(":sending", s("sending"))
            .value(":done", s(if finished.sent { "sent" } else { "failed" }));
        self.update_if(delivery_key(id, &finished.subscriber), "SET #state = :done", &sending)
    }
}

#[async_trait]
impl NotificationStore for DynamoStore {
    async fn create_notification(&self, notification: &Notification) -> StoreResult<()> {
        let mut item = key(notification_pk(&notification.id), "NOTIFICATION");
        item.extend([
            ("author_id".to_string(), s(notification.author_id.0.clone())),
            ("subject".to_string(), s(notification.subject.clone())),
            ("created_at".to_string(), n(notification.created_at.unix_timestamp())),
            ("ttl".to_string(), expires(NOTIFICATION_TTL)),
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

    /// The notification and its progress, in one strongly consistent query (both sort after
    /// every `DELIVERY#`).
    async fn notification(&self, id: &str) -> StoreResult<Option<Notification>> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK >= :notification")
            .expression_attribute_values(":pk", s(notification_pk(id)))
            .expression_attribute_values(":notification", s("NOTIFICATION"))
            .consistent_read(true)
            .send()
            .await
            .context("DynamoDB Query")?;
        let items = output.items.unwrap_or_default();
        let find =
            |sk: &str| items.iter().find(|i| i.get("SK").and_then(|v| v.as_s().ok()).map(String::as_str) == Some(sk));
        let Some(item) = find("NOTIFICATION") else {
            return Ok(None);
        };
        let progress = find("PROGRESS").cloned().unwrap_or_default();
        let count = |name| get_n(&progress, name).unwrap_or(0).max(0) as u64;
        let flag = |name| progress.get(name).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false);
        Ok(Some(Notification {
            id: id.to_string(),
            author_id: UserId(get_s(item, "author_id")?.to_string()),
            subject: get_s(item, "subject")?.to_string(),
            message: get_s(item, "message").ok().map(str::to_string),
            article_url: get_s(item, "article_url").ok().map(str::to_string),
            created_at: get_time(item, "created_at")?,
            queued: count("queued"),
            sent: count("sent"),
            failed: count("failed"),
            fanned_out: get_n(&progress, "segments_left").is_ok_and(|left| left <= 0),
            stalled: flag("stalled"),
        }))
    }

    async fn start_fan_out(&self, id: &str, segments: &[Segment]) -> StoreResult<Vec<Segment>> {
        let plan = serde_json::to_string(segments).context("writing the plan")?;
        let mut update = "SET segments_left = :count, #plan = :plan, #ttl = if_not_exists(#ttl, :ttl)".to_string();
        let mut condition = Condition::new("attribute_not_exists(segments_left)")
            .name("#plan", "plan")
            .name("#ttl", "ttl")
            .value(":count", n(segments.len() as i64))
            .value(":plan", s(plan))
            .value(":ttl", expires(NOTIFICATION_TTL));
        if !segments.is_empty() {
            condition = condition.value(":start", s(SegmentPosition::Start.to_stored()));
        }
        for segment in segments {
            let name = format!("#seg{}", segment.index);
            update += &format!(", {name} = :start");
            condition = condition.name(&name, &segment_attribute(segment.index));
        }
        // Planned before (a redelivered start): the plan on record stands.
        let progress = match self.update_one(progress_key(id), &update, &condition).await? {
            Ok(progress) | Err(Some(progress)) => progress,
            Err(None) => self.get(notification_pk(id), "PROGRESS").await?.context("a fan-out's progress is gone")?,
        };
        Ok(serde_json::from_str(get_s(&progress, "plan")?).context("reading the plan")?)
    }

    async fn segment_position(&self, id: &str, index: u32) -> StoreResult<Option<SegmentPosition>> {
        let Some(progress) = self.get(notification_pk(id), "PROGRESS").await? else {
            return Ok(None);
        };
        Ok(get_s(&progress, &segment_attribute(index)).ok().and_then(SegmentPosition::from_stored))
    }

    async fn advance_segment(
        &self,
        id: &str,
        index: u32,
        from: &SegmentPosition,
        to: &SegmentPosition,
        queued: u64,
    ) -> StoreResult<bool> {
        let ends = if *to == SegmentPosition::Done { -1 } else { 0 };
        let condition = Condition::new("#seg = :from")
            .name("#seg", &segment_attribute(index))
            .value(":from", s(from.to_stored()))
            .value(":to", s(to.to_stored()))
            .value(":queued", n(queued as i64))
            .value(":ends", n(ends));
        let update = "SET #seg = :to REMOVE stalled ADD queued :queued, segments_left :ends";
        Ok(self.update_one(progress_key(id), update, &condition).await?.is_ok())
    }

    async fn mark_stalled(&self, id: &str) -> StoreResult<()> {
        let stalled = Condition::default().value(":yes", AttributeValue::Bool(true));
        let _unconditional = self.update_one(progress_key(id), "SET stalled = :yes", &stalled).await?;
        Ok(())
    }

    /// One write: creates the delivery, or takes back a released one. A refused claim says why
    /// from the delivery as the refusal found it.
    async fn claim_delivery(
        &self,
        id: &str,
        subscriber: &UserId,
        now: OffsetDateTime,
        lease: time::Duration,
    ) -> StoreResult<DeliveryClaim> {
        let claimable = Condition::new("attribute_not_exists(PK) OR #state = :queued")
            .name("#state", "state")
            .name("#ttl", "ttl")
            .value(":sending", s("sending"))
            .value(":queued", s("queued"))
            .value(":lease", n((now + lease).unix_timestamp()))
            .value(":ttl", n((now + QUEUED_JOB_TTL).unix_timestamp()))
            .value(":one", n(1));
        let update = "SET #state = :sending, lease_until = :lease, #ttl = :ttl ADD attempts :one";
        let item = match self.update_one(delivery_key(id, subscriber), update, &claimable).await? {
            Ok(claimed) => {
                let attempt = get_n(&claimed, "attempts").unwrap_or(1);
                return Ok(DeliveryClaim::Acquired { attempt: attempt as u32 });
            }
            Err(Some(item)) => item,
            Err(None) => match self.get(notification_pk(id), &format!("DELIVERY#{subscriber}")).await? {
                Some(item) => item,
                None => return Ok(DeliveryClaim::Busy),
            },
        };
        let abandoned = get_n(&item, "lease_until").unwrap_or(0) < now.unix_timestamp();
        Ok(match get_s(&item, "state")? {
            "sending" if abandoned => DeliveryClaim::Abandoned,
            "sending" => DeliveryClaim::Busy,
            _ => DeliveryClaim::Done,
        })
    }

    async fn finish_deliveries(&self, id: &str, finished: &[Finished]) -> StoreResult<()> {
        for chunk in finished.chunks(FINISHED_PER_WRITE) {
            self.finish_together(id, chunk).await?;
        }
        Ok(())
    }

    async fn release_delivery(&self, id: &str, subscriber: &UserId, spent_attempt: bool) -> StoreResult<()> {
        // Not being sent any more (finished or given up by another delivery): nothing to give back.
        let sending = Condition::new("#state = :sending")
            .name("#state", "state")
            .value(":sending", s("sending"))
            .value(":queued", s("queued"))
            .value(":refund", n(if spent_attempt { 0 } else { -1 }));
        let _refused_if_finished = self
            .update_one(delivery_key(id, subscriber), "SET #state = :queued ADD attempts :refund", &sending)
            .await?;
        Ok(())
    }
}
