//! The limits' counters on SQLite: each count is one upsert.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::{SqliteDb, from_ts, ts};
use crate::ports::{LimitStore, LoginFailures, StoreResult};

#[async_trait]
impl LimitStore for SqliteDb {
    async fn login_failures(&self, key: &str) -> StoreResult<Option<LoginFailures>> {
        let key = key.to_string();
        Ok(self
            .call(move |conn| {
                conn.query_row("SELECT count, last_failure_at FROM login_failures WHERE key = ?1", [key], |row| {
                    Ok(LoginFailures { count: row.get(0)?, last_failure_at: from_ts(row.get(1)?)? })
                })
                .optional()
            })
            .await?)
    }

    async fn record_login_failure(
        &self,
        key: &str,
        now: OffsetDateTime,
        forget_before: OffsetDateTime,
    ) -> StoreResult<LoginFailures> {
        let key = key.to_string();
        Ok(self
            .call(move |conn| {
                conn.query_row(
                    "INSERT INTO login_failures (key, count, last_failure_at) VALUES (?1, 1, ?2)
                     ON CONFLICT (key) DO UPDATE SET
                        count = CASE WHEN last_failure_at < ?3 THEN 1 ELSE count + 1 END,
                        last_failure_at = ?2
                     RETURNING count, last_failure_at",
                    params![key, ts(now), ts(forget_before)],
                    |row| Ok(LoginFailures { count: row.get(0)?, last_failure_at: from_ts(row.get(1)?)? }),
                )
            })
            .await?)
    }

    async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        let key = key.to_string();
        self.call(move |conn| conn.execute("DELETE FROM login_failures WHERE key = ?1", [key]).map(drop)).await?;
        Ok(())
    }

    async fn increment_counter(&self, key: &str, expires_at: OffsetDateTime) -> StoreResult<u32> {
        let key = key.to_string();
        Ok(self
            .call(move |conn| {
                // Expired counters are swept here rather than by a separate job.
                conn.execute("DELETE FROM counters WHERE expires_at <= strftime('%s', 'now') - 86400", [])?;
                conn.query_row(
                    "INSERT INTO counters (key, count, expires_at) VALUES (?1, 1, ?2)
                     ON CONFLICT (key) DO UPDATE SET count = count + 1
                     RETURNING count",
                    params![key, ts(expires_at)],
                    |row| row.get(0),
                )
            })
            .await?)
    }
}
