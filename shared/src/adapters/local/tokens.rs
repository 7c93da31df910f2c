//! Single-use tokens on SQLite: taking one is a `DELETE ... RETURNING`.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteDb, from_ts, ts};
use crate::{
    domain::UserId,
    ports::{OneTimeToken, StoreResult, TokenKind, TokenStore},
};

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
            conn.execute(
                "INSERT INTO one_time_tokens (hash, kind, user_id, email_key, expires_at, credential_version,
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
                    "DELETE FROM one_time_tokens WHERE hash = ?1 AND kind = ?2 RETURNING hash, user_id, email_key, expires_at, credential_version, reset_generation, payload",
                    params![hash, kind.as_str()],
                    |row| token_from_row(row, kind),
                )
                .optional()
            })
            .await?)
    }

    async fn peek_token(&self, kind: TokenKind, hash: &str) -> StoreResult<Option<OneTimeToken>> {
        Ok(self.read(|conn| {
            conn.prepare_cached(
                "SELECT hash, user_id, email_key, expires_at, credential_version, reset_generation, payload
                 FROM one_time_tokens WHERE hash = ?1 AND kind = ?2",
            )?
            .query_row(params![hash, kind.as_str()], |row| token_from_row(row, kind))
            .optional()
        })?)
    }

    async fn delete_user_tokens(&self, user_id: &UserId) -> StoreResult<()> {
        let id = user_id.0.clone();
        self.call(move |conn| conn.execute("DELETE FROM one_time_tokens WHERE user_id = ?1", [id]).map(drop)).await?;
        Ok(())
    }
}
