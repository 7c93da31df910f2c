//! Single-use tokens on SQLite: taking one is a `DELETE ... RETURNING`.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::{SqliteDb, from_ts, ts};
use crate::{
    domain::UserId,
    ports::{OneTimeToken, StoreResult, TokenKind, TokenStore},
};

/// The columns `token_from_row` reads, in its order.
const COLUMNS: &str = "hash, user_id, email_key, expires_at, credential_version, reset_generation, payload";

fn token_from_row(row: &rusqlite::Row<'_>, kind: TokenKind) -> rusqlite::Result<OneTimeToken> {
    Ok(OneTimeToken {
        hash: row.get(0)?,
        kind,
        user_id: UserId(row.get(1)?),
        email_key: row.get(2)?,
        expires_at: from_ts(row.get(3)?)?,
        credential_version: row.get(4)?,
        reset_generation: row.get(5)?,
        payload: row.get(6)?,
    })
}

#[async_trait]
impl TokenStore for SqliteDb {
    async fn put_token(&self, token: &OneTimeToken) -> StoreResult<()> {
        let t = token.clone();
        self.call(move |conn| {
            // Expired tokens are swept at each new one: on AWS, DynamoDB's TTL removes them;
            // here nothing else would, and unauthenticated routes keep tokens (ceremonies).
            conn.execute("DELETE FROM one_time_tokens WHERE expires_at <= ?1", params![ts(OffsetDateTime::now_utc())])?;
            conn.execute(
                "INSERT OR REPLACE INTO one_time_tokens (hash, kind, user_id, email_key, expires_at, credential_version,
                    reset_generation, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    t.hash,
                    t.kind.as_str(),
                    t.user_id.0,
                    t.email_key,
                    ts(t.expires_at),
                    t.credential_version,
                    t.reset_generation,
                    t.payload
                ],
            )
            .map(drop)
        })
        .await?;
        Ok(())
    }

    async fn take_token(&self, kind: TokenKind, hash: &str) -> StoreResult<Option<OneTimeToken>> {
        let hash = hash.to_string();
        Ok(self
            .call(move |conn| {
                conn.query_row(
                    &format!("DELETE FROM one_time_tokens WHERE hash = ?1 AND kind = ?2 RETURNING {COLUMNS}"),
                    params![hash, kind.as_str()],
                    |row| token_from_row(row, kind),
                )
                .optional()
            })
            .await?)
    }

    async fn peek_token(&self, kind: TokenKind, hash: &str) -> StoreResult<Option<OneTimeToken>> {
        Ok(self.read(|conn| {
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM one_time_tokens WHERE hash = ?1 AND kind = ?2"))?
                .query_row(params![hash, kind.as_str()], |row| token_from_row(row, kind))
                .optional()
        })?)
    }

    async fn use_token(&self, kind: TokenKind, hash: &str, max: u32) -> StoreResult<Option<OneTimeToken>> {
        let hash = hash.to_string();
        Ok(self
            .call(move |conn| {
                conn.query_row(
                    &format!(
                        "UPDATE one_time_tokens SET uses = uses + 1 WHERE hash = ?1 AND kind = ?2 AND uses < ?3
                         RETURNING {COLUMNS}"
                    ),
                    params![hash, kind.as_str(), max],
                    |row| token_from_row(row, kind),
                )
                .optional()
            })
            .await?)
    }

    async fn take_token_if(&self, kind: TokenKind, hash: &str, payload: &str) -> StoreResult<Option<OneTimeToken>> {
        let (hash, payload) = (hash.to_string(), payload.to_string());
        Ok(self
            .call(move |conn| {
                conn.query_row(
                    &format!(
                        "DELETE FROM one_time_tokens WHERE hash = ?1 AND kind = ?2 AND payload = ?3 RETURNING {COLUMNS}"
                    ),
                    params![hash, kind.as_str(), payload],
                    |row| token_from_row(row, kind),
                )
                .optional()
            })
            .await?)
    }

    async fn delete_user_tokens(&self, user_id: &UserId) -> StoreResult<()> {
        let id = user_id.0.clone();
        self.call(move |conn| conn.execute("DELETE FROM one_time_tokens WHERE user_id = ?1", [id]).map(drop)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(hash: &str, expires_at: OffsetDateTime) -> OneTimeToken {
        OneTimeToken {
            hash: hash.into(),
            kind: TokenKind::PasskeySignIn,
            user_id: UserId(String::new()),
            email_key: String::new(),
            expires_at,
            credential_version: 0,
            reset_generation: 0,
            payload: None,
        }
    }

    #[tokio::test]
    async fn expired_tokens_are_swept_when_the_next_one_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("ums.db")).unwrap();
        let now = OffsetDateTime::now_utc();
        db.put_token(&token("expired", now - time::Duration::seconds(1))).await.unwrap();
        db.put_token(&token("live", now + time::Duration::minutes(5))).await.unwrap();
        db.put_token(&token("next", now + time::Duration::minutes(5))).await.unwrap();
        let count: i64 =
            db.call(|conn| conn.query_row("SELECT COUNT(*) FROM one_time_tokens", [], |r| r.get(0))).await.unwrap();
        assert_eq!(count, 2, "the expired token is gone, the live ones stay");
        assert!(db.take_token(TokenKind::PasskeySignIn, "live").await.unwrap().is_some());
    }
}
