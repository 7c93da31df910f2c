//! Notifications and their deliveries on SQLite: a delivery is one row per subscriber, its
//! state moved by conditional updates, each counted in the same transaction.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::{SqliteDb, from_ts, ts};
use crate::{
    domain::UserId,
    ports::{DeliveryClaim, DeliveryState, Notification, NotificationStore, StoreResult},
};

#[async_trait]
impl NotificationStore for SqliteDb {
    async fn create_notification(&self, n: &Notification) -> StoreResult<()> {
        let n = n.clone();
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO notifications (id, author_id, subject, message, article_url, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![n.id, n.author_id.0, n.subject, n.message, n.article_url, ts(n.created_at)],
            )
            .map(drop)
        })
        .await?;
        Ok(())
    }

    async fn notification(&self, id: &str) -> StoreResult<Option<Notification>> {
        let id = id.to_string();
        Ok(self
            .call(move |conn| {
                conn.query_row(
                    "SELECT id, author_id, subject, message, article_url, created_at, queued, sent, failed, fanned_out
                     FROM notifications WHERE id = ?1",
                    [id],
                    |row| {
                        Ok(Notification {
                            id: row.get(0)?,
                            author_id: UserId(row.get(1)?),
                            subject: row.get(2)?,
                            message: row.get(3)?,
                            article_url: row.get(4)?,
                            created_at: from_ts(row.get(5)?)?,
                            queued: row.get(6)?,
                            sent: row.get(7)?,
                            failed: row.get(8)?,
                            fanned_out: row.get(9)?,
                        })
                    },
                )
                .optional()
            })
            .await?)
    }

    async fn record_delivery(&self, notification_id: &str, subscriber: &UserId) -> StoreResult<DeliveryState> {
        let (nid, sid) = (notification_id.to_string(), subscriber.0.clone());
        let state: String = self
            .call(move |conn| {
                let tx = conn.transaction()?;
                let inserted = tx.execute(
                    "INSERT INTO deliveries (notification_id, subscriber_id, state) VALUES (?1, ?2, 'queued')
                     ON CONFLICT DO NOTHING",
                    params![nid, sid],
                )?;
                if inserted == 1 {
                    tx.execute("UPDATE notifications SET queued = queued + 1 WHERE id = ?1", [&nid])?;
                }
                let state = tx.query_row(
                    "SELECT state FROM deliveries WHERE notification_id = ?1 AND subscriber_id = ?2",
                    params![nid, sid],
                    |row| row.get(0),
                )?;
                tx.commit()?;
                Ok(state)
            })
            .await?;
        Ok(DeliveryState::parse(&state).unwrap_or(DeliveryState::Queued))
    }

    async fn claim_delivery(
        &self,
        notification_id: &str,
        subscriber: &UserId,
        now: OffsetDateTime,
        lease: time::Duration,
    ) -> StoreResult<DeliveryClaim> {
        let (nid, sid) = (notification_id.to_string(), subscriber.0.clone());
        let (now, until) = (ts(now), ts(now + lease));
        Ok(self
            .call(move |conn| {
                let claimed: Option<u32> = conn
                    .query_row(
                        "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, lease_until = ?3
                         WHERE notification_id = ?1 AND subscriber_id = ?2 AND state = 'queued'
                         RETURNING attempts",
                        params![nid, sid, until],
                        |row| row.get(0),
                    )
                    .optional()?;
                if let Some(attempt) = claimed {
                    return Ok(DeliveryClaim::Acquired { attempt });
                }
                let state: Option<(String, i64)> = conn
                    .query_row(
                        "SELECT state, lease_until FROM deliveries WHERE notification_id = ?1 AND subscriber_id = ?2",
                        params![nid, sid],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()?;
                Ok(match state {
                    None => DeliveryClaim::Missing,
                    Some((state, lease_until)) if state == "sending" && lease_until < now => DeliveryClaim::Abandoned,
                    Some((state, _)) if state == "sending" => DeliveryClaim::Busy,
                    Some(_) => DeliveryClaim::Done,
                })
            })
            .await?)
    }

    async fn finish_delivery(&self, notification_id: &str, subscriber: &UserId, sent: bool) -> StoreResult<()> {
        let (nid, sid) = (notification_id.to_string(), subscriber.0.clone());
        let (state, counter) = if sent { ("sent", "sent") } else { ("failed", "failed") };
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let moved = tx.execute(
                "UPDATE deliveries SET state = ?3 WHERE notification_id = ?1 AND subscriber_id = ?2 AND state = 'sending'",
                params![nid, sid, state],
            )?;
            if moved == 1 {
                tx.execute(&format!("UPDATE notifications SET {counter} = {counter} + 1 WHERE id = ?1"), [&nid])?;
            }
            tx.commit()
        })
        .await?;
        Ok(())
    }

    async fn release_delivery(&self, notification_id: &str, subscriber: &UserId) -> StoreResult<()> {
        let (nid, sid) = (notification_id.to_string(), subscriber.0.clone());
        self.call(move |conn| {
            conn.execute(
                "UPDATE deliveries SET state = 'queued' WHERE notification_id = ?1 AND subscriber_id = ?2
                 AND state = 'sending'",
                params![nid, sid],
            )
            .map(drop)
        })
        .await?;
        Ok(())
    }

    async fn finish_fan_out(&self, notification_id: &str) -> StoreResult<()> {
        let nid = notification_id.to_string();
        self.call(move |conn| conn.execute("UPDATE notifications SET fanned_out = 1 WHERE id = ?1", [nid]).map(drop))
            .await?;
        Ok(())
    }
}
