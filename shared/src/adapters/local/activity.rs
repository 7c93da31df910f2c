//! Security activity on SQLite: one row per entry, read newest first by account. Expired rows
//! are never read, and an account's are cleared when it records its next entry.

use async_trait::async_trait;
use rusqlite::{Row, params};
use time::OffsetDateTime;

use super::{SqliteDb, from_ts, ts};
use crate::{
    domain::UserId,
    ports::{ActivityEntry, ActivityKind, ActivityStore, StoreResult},
};

fn entry_from(row: &Row) -> rusqlite::Result<ActivityEntry> {
    let kind: String = row.get(2)?;
    Ok(ActivityEntry {
        id: row.get(0)?,
        user_id: UserId(row.get(1)?),
        kind: ActivityKind::parse(&kind).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, format!("kind {kind}").into())
        })?,
        at: from_ts(row.get(3)?)?,
        source: row.get(4)?,
        device: row.get(5)?,
        detail: row.get(6)?,
    })
}

#[async_trait]
impl ActivityStore for SqliteDb {
    async fn record_activity(&self, entry: &ActivityEntry) -> StoreResult<()> {
        let e = entry.clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "DELETE FROM security_activity WHERE user_id = ?1 AND expires_at <= ?2",
                params![e.user_id.0, ts(e.at)],
            )?;
            tx.execute(
                "INSERT INTO security_activity (id, user_id, kind, at, source, device, detail, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![e.id, e.user_id.0, e.kind.as_str(), ts(e.at), e.source, e.device, e.detail, ts(e.expires_at())],
            )?;
            tx.commit()
        })
        .await?;
        Ok(())
    }

    async fn activity(
        &self,
        user_id: &UserId,
        now: OffsetDateTime,
        limit: usize,
        before: Option<&str>,
    ) -> StoreResult<Vec<ActivityEntry>> {
        let before = before.unwrap_or("~");
        Ok(self.read(|conn| {
            conn.prepare_cached(
                "SELECT id, user_id, kind, at, source, device, detail FROM security_activity
                 WHERE user_id = ?1 AND expires_at > ?2 AND id < ?3 ORDER BY id DESC LIMIT ?4",
            )?
            .query_map(params![user_id.0, ts(now), before, limit as i64], entry_from)?
            .collect()
        })?)
    }

    async fn delete_user_activity(&self, user_id: &UserId) -> StoreResult<()> {
        let id = user_id.0.clone();
        self.call(move |conn| conn.execute("DELETE FROM security_activity WHERE user_id = ?1", params![id]).map(drop))
            .await?;
        Ok(())
    }
}
