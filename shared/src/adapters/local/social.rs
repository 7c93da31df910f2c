//! Subscriptions and follows on SQLite: one row per edge; counts are counted.

use async_trait::async_trait;
use rusqlite::params;

use super::{SqliteDb, from_ts, ts};
use crate::{
    domain::{AuthorCounts, UserId},
    ports::{Edge, EdgeAdded, EdgeKind, IdRange, Position, Side, SocialStore, StoreResult},
};

#[async_trait]
impl SocialStore for SqliteDb {
    async fn add_edge(&self, edge: &Edge) -> StoreResult<EdgeAdded> {
        let edge = edge.clone();
        Ok(self
            .call_watched(move |conn| {
                let tx = conn.transaction()?;
                let author: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1 AND role = 'author')",
                    [&edge.to.0],
                    |row| row.get(0),
                )?;
                if !author {
                    return Ok(EdgeAdded::NotAnAuthor);
                }
                let inserted = tx.execute(
                    "INSERT INTO edges (kind, from_id, to_id, created_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT DO NOTHING",
                    params![edge.kind.as_str(), edge.from.0, edge.to.0, ts(edge.created_at)],
                )?;
                tx.commit()?;
                Ok(if inserted == 1 { EdgeAdded::New } else { EdgeAdded::Existing })
            })
            .await?)
    }

    async fn remove_edge(&self, kind: EdgeKind, from: &UserId, to: &UserId) -> StoreResult<bool> {
        let (from, to) = (from.0.clone(), to.0.clone());
        let removed = self
            .call_watched(move |conn| {
                conn.execute(
                    "DELETE FROM edges WHERE kind = ?1 AND from_id = ?2 AND to_id = ?3",
                    params![kind.as_str(), from, to],
                )
            })
            .await?;
        Ok(removed == 1)
    }

    async fn edges(
        &self,
        kind: EdgeKind,
        side: &Side,
        limit: u32,
        after: Option<&Position>,
    ) -> StoreResult<(Vec<Edge>, Option<Position>)> {
        let after = after.map(|p| p["id"].as_str().unwrap_or_default().to_string()).unwrap_or_default();
        let (sql, fixed) = match side {
            Side::From(id) => (
                "SELECT from_id, to_id, created_at FROM edges WHERE kind = ?1 AND from_id = ?2 AND to_id > ?3
                 ORDER BY to_id LIMIT ?4",
                id.0.clone(),
            ),
            Side::To(id) => (
                "SELECT from_id, to_id, created_at FROM edges WHERE kind = ?1 AND to_id = ?2 AND from_id > ?3
                 ORDER BY from_id LIMIT ?4",
                id.0.clone(),
            ),
        };
        let edges: Vec<Edge> = self
            .call(move |conn| {
                let mut stmt = conn.prepare(sql)?;
                stmt.query_map(params![kind.as_str(), fixed, after, limit], |row| {
                    Ok(Edge {
                        kind,
                        from: UserId(row.get(0)?),
                        to: UserId(row.get(1)?),
                        created_at: from_ts(row.get(2)?)?,
                    })
                })?
                .collect()
            })
            .await?;
        let other = |e: &Edge| match side {
            Side::From(_) => e.to.0.clone(),
            Side::To(_) => e.from.0.clone(),
        };
        let next = (edges.len() == limit as usize)
            .then(|| edges.last().map(|e| serde_json::json!({ "id": other(e) })))
            .flatten();
        Ok((edges, next))
    }

    async fn counts(&self, user: &UserId) -> StoreResult<AuthorCounts> {
        let id = user.0.clone();
        Ok(self
            .call(move |conn| {
                conn.query_row(
                    "SELECT
                        (SELECT COUNT(*) FROM edges WHERE kind = 'subscription' AND to_id = ?1),
                        (SELECT COUNT(*) FROM edges WHERE kind = 'follow' AND to_id = ?1),
                        (SELECT COUNT(*) FROM edges WHERE kind = 'follow' AND from_id = ?1)",
                    [id],
                    |row| Ok(AuthorCounts { subscribers: row.get(0)?, followers: row.get(1)?, follows: row.get(2)? }),
                )
            })
            .await?)
    }

    async fn subscriber_ids(
        &self,
        author: &UserId,
        range: &IdRange,
        after: Option<&UserId>,
        limit: u32,
    ) -> StoreResult<Vec<UserId>> {
        let (author, range) = (author.0.clone(), range.clone());
        let after = after.map(|id| id.0.clone());
        Ok(self
            .call(move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT from_id FROM edges WHERE kind = 'subscription' AND to_id = ?1
                       AND (?2 IS NULL OR from_id >= ?2) AND (?3 IS NULL OR from_id < ?3)
                       AND (?4 IS NULL OR from_id > ?4)
                     ORDER BY from_id LIMIT ?5",
                )?;
                stmt.query_map(params![author, range.from, range.until, after, limit], |row| Ok(UserId(row.get(0)?)))?
                    .collect()
            })
            .await?)
    }

    async fn subscriber_id_bounds(&self, author: &UserId) -> StoreResult<Option<(UserId, UserId)>> {
        let author = author.0.clone();
        let bounds: (Option<String>, Option<String>) = self
            .call(move |conn| {
                conn.query_row(
                    "SELECT MIN(from_id), MAX(from_id) FROM edges WHERE kind = 'subscription' AND to_id = ?1",
                    [author],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
            })
            .await?;
        Ok(match bounds {
            (Some(first), Some(last)) => Some((UserId(first), UserId(last))),
            _ => None,
        })
    }

    async fn delete_user_edges(&self, user: &UserId, limit: u32) -> StoreResult<bool> {
        // Counts are counted from the edges here: removing an edge uncounts it.
        let id = user.0.clone();
        let removed = self
            .call(move |conn| {
                conn.execute(
                    "DELETE FROM edges WHERE rowid IN
                        (SELECT rowid FROM edges WHERE from_id = ?1 OR to_id = ?1 LIMIT ?2)",
                    params![id, limit],
                )
            })
            .await?;
        Ok(removed == limit as usize)
    }
}
