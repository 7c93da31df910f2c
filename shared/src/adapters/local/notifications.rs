//! Notifications and their deliveries on SQLite: a fan-out's segments are rows moved by
//! conditional updates; a delivery is one row per subscriber, its state moved by conditional
//! updates, each counted in the same transaction.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::{SqliteDb, from_ts, ts};
use crate::{
    domain::UserId,
    ports::{DeliveryClaim, Finished, IdRange, Notification, NotificationStore, Segment, SegmentPosition, StoreResult},
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
                    "SELECT id, author_id, subject, message, article_url, created_at, queued, sent, failed, fanned_out,
                       stalled
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
                            stalled: row.get(10)?,
                        })
                    },
                )
                .optional()
            })
            .await?)
    }

    async fn start_fan_out(&self, id: &str, segments: &[Segment]) -> StoreResult<Vec<Segment>> {
        let (id, segments) = (id.to_string(), segments.to_vec());
        Ok(self
            .call(move |conn| {
                let tx = conn.transaction()?;
                let started = tx.execute(
                    "UPDATE notifications SET segments_left = ?2, fanned_out = ?3 WHERE id = ?1 AND segments_left IS NULL",
                    params![id, segments.len() as i64, segments.is_empty()],
                )?;
                if started == 1 {
                    for segment in &segments {
                        tx.execute(
                            "INSERT INTO fan_out_segments (notification_id, idx, id_from, id_until, position)
                             VALUES (?1, ?2, ?3, ?4, 'start')",
                            params![id, segment.index, segment.range.from, segment.range.until],
                        )?;
                    }
                }
                let standing = {
                    let mut stmt = tx.prepare(
                        "SELECT idx, id_from, id_until FROM fan_out_segments WHERE notification_id = ?1 ORDER BY idx",
                    )?;
                    stmt.query_map([&id], |row| {
                        Ok(Segment { index: row.get(0)?, range: IdRange { from: row.get(1)?, until: row.get(2)? } })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?
                };
                tx.commit()?;
                Ok(standing)
            })
            .await?)
    }

    async fn segment_position(&self, id: &str, index: u32) -> StoreResult<Option<SegmentPosition>> {
        let id = id.to_string();
        let stored: Option<String> = self
            .call(move |conn| {
                conn.query_row(
                    "SELECT position FROM fan_out_segments WHERE notification_id = ?1 AND idx = ?2",
                    params![id, index],
                    |row| row.get(0),
                )
                .optional()
            })
            .await?;
        Ok(stored.as_deref().and_then(SegmentPosition::from_stored))
    }

    async fn advance_segment(
        &self,
        id: &str,
        index: u32,
        from: &SegmentPosition,
        to: &SegmentPosition,
        queued: u64,
    ) -> StoreResult<bool> {
        let (id, from, to, ends) = (id.to_string(), from.to_stored(), to.to_stored(), *to == SegmentPosition::Done);
        Ok(self
            .call(move |conn| {
                let tx = conn.transaction()?;
                let moved = tx.execute(
                    "UPDATE fan_out_segments SET position = ?4 WHERE notification_id = ?1 AND idx = ?2 AND position = ?3",
                    params![id, index, from, to],
                )?;
                if moved == 1 {
                    tx.execute(
                        "UPDATE notifications SET queued = queued + ?2, stalled = 0,
                           segments_left = segments_left - ?3, fanned_out = (segments_left - ?3 <= 0)
                         WHERE id = ?1",
                        params![id, queued as i64, ends as i64],
                    )?;
                }
                tx.commit()?;
                Ok(moved == 1)
            })
            .await?)
    }

    async fn mark_stalled(&self, id: &str) -> StoreResult<()> {
        let id = id.to_string();
        self.call(move |conn| conn.execute("UPDATE notifications SET stalled = 1 WHERE id = ?1", [id]).map(drop))
            .await?;
        Ok(())
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
                        "INSERT INTO deliveries (notification_id, subscriber_id, state, attempts, lease_until)
                         VALUES (?1, ?2, 'sending', 1, ?3)
                         ON CONFLICT DO UPDATE SET state = 'sending', attempts = attempts + 1, lease_until = ?3
                           WHERE state = 'queued'
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
                    Some((state, lease_until)) if state == "sending" && lease_until < now => DeliveryClaim::Abandoned,
                    Some((state, _)) if state == "sending" => DeliveryClaim::Busy,
                    _ => DeliveryClaim::Done,
                })
            })
            .await?)
    }

    async fn finish_deliveries(&self, id: &str, finished: &[Finished]) -> StoreResult<()> {
        let (id, finished) = (id.to_string(), finished.to_vec());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            for done in &finished {
                let (state, counter) = if done.sent { ("sent", "sent") } else { ("failed", "failed") };
                let moved = tx.execute(
                    "UPDATE deliveries SET state = ?3 WHERE notification_id = ?1 AND subscriber_id = ?2
                     AND state = 'sending'",
                    params![id, done.subscriber.0, state],
                )?;
                if moved == 1 {
                    tx.execute(&format!("UPDATE notifications SET {counter} = {counter} + 1 WHERE id = ?1"), [&id])?;
                }
            }
            tx.commit()
        })
        .await?;
        Ok(())
    }

    async fn release_delivery(&self, id: &str, subscriber: &UserId, spent_attempt: bool) -> StoreResult<()> {
        let (id, sid) = (id.to_string(), subscriber.0.clone());
        self.call(move |conn| {
            conn.execute(
                "UPDATE deliveries SET state = 'queued', attempts = attempts - ?3
                 WHERE notification_id = ?1 AND subscriber_id = ?2 AND state = 'sending'",
                params![id, sid, (!spent_attempt) as i64],
            )
            .map(drop)
        })
        .await?;
        Ok(())
    }
}
