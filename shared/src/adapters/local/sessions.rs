//! Sessions on SQLite, keyed by id and always looked up with their user.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteDb, from_ts, ts};
use time::OffsetDateTime;

use crate::{
    domain::UserId,
    ports::{CheckKey, Rotation, Session, SessionStore, StoreError, StoreResult},
};

const COLUMNS: &str = "id, user_id, refresh_hash, created_at, expires_at, credential_version, previous_hashes, rotated_at, access_version, amr, source, device, seen_at, proved_at";

fn session_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Session> {
    let history: String = row.get(6)?;
    Ok(Session {
        id: row.get(0)?,
        user_id: UserId(row.get(1)?),
        refresh_hash: row.get(2)?,
        created_at: from_ts(row.get(3)?)?,
        expires_at: from_ts(row.get(4)?)?,
        credential_version: row.get(5)?,
        previous_hashes: serde_json::from_str(&history)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, Box::new(e)))?,
        rotated_at: row.get::<_, Option<i64>>(7)?.map(from_ts).transpose()?,
        access_version: row.get(8)?,
        amr: serde_json::from_str(&row.get::<_, String>(9)?)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(9, rusqlite::types::Type::Text, Box::new(e)))?,
        source: row.get(10)?,
        device: row.get(11)?,
        seen_at: row.get::<_, Option<i64>>(12)?.map(from_ts).transpose()?,
        proved_at: row.get::<_, Option<i64>>(13)?.map(from_ts).transpose()?,
    })
}

fn history_json(history: &[String]) -> String {
    serde_json::to_string(history).expect("a list of strings serializes")
}

#[async_trait]
impl SessionStore for SqliteDb {
    async fn create_session(&self, session: &Session, forget_checks: Option<CheckKey<'_>>) -> StoreResult<()> {
        let s = session.clone();
        let forget = forget_checks.map(super::limits::check_keys);
        let inserted = self
            .call(move |conn| {
                let tx = conn.transaction()?;
                // Written only while the account is at the credential, role and status the
                // session was made with.
                let inserted = tx.execute(
                    "INSERT INTO sessions (id, user_id, refresh_hash, created_at, expires_at, credential_version,
                        previous_hashes, rotated_at, access_version, amr, source, device, seen_at, proved_at)
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14
                     WHERE EXISTS (SELECT 1 FROM users WHERE id = ?2 AND credential_version = ?6 AND access_version = ?9)",
                    params![
                        s.id,
                        s.user_id.0,
                        s.refresh_hash,
                        ts(s.created_at),
                        ts(s.expires_at),
                        s.credential_version,
                        history_json(&s.previous_hashes),
                        s.rotated_at.map(ts),
                        s.access_version,
                        history_json(&s.amr),
                        s.source,
                        s.device,
                        s.seen_at.map(ts),
                        s.proved_at.map(ts),
                    ],
                )?;
                if let Some(keys) = forget.as_ref().filter(|_| inserted == 1) {
                    super::limits::forget_checks(&tx, keys)?;
                }
                tx.commit()?;
                Ok(inserted)
            })
            .await?;
        if inserted == 1 { Ok(()) } else { Err(StoreError::Conflict) }
    }

    async fn session(&self, user_id: &UserId, id: &str) -> StoreResult<Option<Session>> {
        Ok(self.read(|conn| {
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM sessions WHERE id = ?1 AND user_id = ?2"))?
                .query_row([id, user_id.0.as_str()], session_from_row)
                .optional()
        })?)
    }

    async fn rotate_session(
        &self,
        user_id: &UserId,
        id: &str,
        presented_hash: &str,
        new_hash: &str,
        history: &[String],
        now: OffsetDateTime,
    ) -> StoreResult<Rotation> {
        let (user_id, id) = (user_id.0.clone(), id.to_string());
        let (presented, new) = (presented_hash.to_string(), new_hash.to_string());
        let (history, now) = (history_json(history), ts(now));
        Ok(self
            .call(move |conn| {
                let tx = conn.transaction()?;
                let changed = tx.execute(
                    "UPDATE sessions SET refresh_hash = ?3, previous_hashes = ?5, rotated_at = ?6
                     WHERE id = ?1 AND user_id = ?4 AND refresh_hash = ?2",
                    params![id, presented, new, user_id, history, now],
                )?;
                let outcome = if changed == 1 {
                    Rotation::Rotated
                } else if tx
                    .query_row("SELECT 1 FROM sessions WHERE id = ?1 AND user_id = ?2", [&id, &user_id], |_| Ok(()))
                    .optional()?
                    .is_some()
                {
                    Rotation::Stale
                } else {
                    Rotation::Missing
                };
                tx.commit()?;
                Ok(outcome)
            })
            .await?)
    }

    async fn touch_session(
        &self,
        user_id: &UserId,
        id: &str,
        hash: &str,
        seen_at: OffsetDateTime,
        proved_at: Option<OffsetDateTime>,
    ) -> StoreResult<bool> {
        let (user_id, id, hash) = (user_id.0.clone(), id.to_string(), hash.to_string());
        let (seen_at, proved_at) = (ts(seen_at), proved_at.map(ts));
        let changed = self
            .call(move |conn| {
                conn.execute(
                    "UPDATE sessions SET seen_at = ?4, proved_at = COALESCE(?5, proved_at)
                     WHERE id = ?1 AND user_id = ?2 AND refresh_hash = ?3",
                    params![id, user_id, hash, seen_at, proved_at],
                )
            })
            .await?;
        Ok(changed == 1)
    }

    async fn user_sessions(&self, user_id: &UserId) -> StoreResult<Vec<Session>> {
        let user_id = user_id.0.clone();
        Ok(self
            .call(move |conn| {
                let mut stmt = conn
                    .prepare(&format!("SELECT {COLUMNS} FROM sessions WHERE user_id = ?1 ORDER BY created_at, id"))?;
                stmt.query_map([user_id], session_from_row)?.collect()
            })
            .await?)
    }

    async fn delete_session(&self, user_id: &UserId, id: &str) -> StoreResult<()> {
        let (user_id, id) = (user_id.0.clone(), id.to_string());
        self.call(move |conn| {
            conn.execute("DELETE FROM sessions WHERE id = ?1 AND user_id = ?2", [id, user_id]).map(drop)
        })
        .await?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: &UserId) -> StoreResult<()> {
        let id = user_id.0.clone();
        self.call(move |conn| conn.execute("DELETE FROM sessions WHERE user_id = ?1", [id]).map(drop)).await?;
        Ok(())
    }
}
