//! Sessions on SQLite, keyed by id and always looked up with their user.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteDb, from_ts, ts};
use crate::{
    domain::UserId,
    ports::{Rotation, Session, SessionStore, StoreResult},
};

fn session_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: row.get(0)?,
        user_id: UserId(row.get(1)?),
        refresh_hash: row.get(2)?,
        created_at: from_ts(row.get(3)?)?,
        expires_at: from_ts(row.get(4)?)?,
    })
}

#[async_trait]
impl SessionStore for SqliteDb {
    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        let s = session.clone();
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO sessions (id, user_id, refresh_hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![s.id, s.user_id.0, s.refresh_hash, ts(s.created_at), ts(s.expires_at)],
            )
            .map(drop)
        })
        .await?;
        Ok(())
    }

    async fn session(&self, user_id: &UserId, id: &str) -> StoreResult<Option<Session>> {
        let (user_id, id) = (user_id.0.clone(), id.to_string());
        Ok(self
            .call(move |conn| {
                conn.query_row(
                    "SELECT id, user_id, refresh_hash, created_at, expires_at FROM sessions WHERE id = ?1 AND user_id = ?2",
                    [id, user_id],
                    session_from_row,
                )
                .optional()
            })
            .await?)
    }

    async fn rotate_session(
        &self,
        user_id: &UserId,
        id: &str,
        presented_hash: &str,
        new_hash: &str,
    ) -> StoreResult<Rotation> {
        let (user_id, id) = (user_id.0.clone(), id.to_string());
        let (presented, new) = (presented_hash.to_string(), new_hash.to_string());
        Ok(self
            .call(move |conn| {
                let tx = conn.transaction()?;
                let changed = tx.execute(
                    "UPDATE sessions SET refresh_hash = ?3 WHERE id = ?1 AND user_id = ?4 AND refresh_hash = ?2",
                    params![id, presented, new, user_id],
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
