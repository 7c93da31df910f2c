//! The limits' counters on SQLite: a reservation is one transaction, a count one upsert.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::{SqliteDb, from_ts, ts};
use crate::ports::{AttemptPolicy, Attempts, LimitStore, Reservation, StoreResult};

#[async_trait]
impl LimitStore for SqliteDb {
    async fn reserve_attempt(
        &self,
        key: &str,
        policy: &AttemptPolicy,
        now: OffsetDateTime,
    ) -> StoreResult<Reservation> {
        let (key, policy) = (key.to_string(), *policy);
        Ok(self
            .call(move |conn| {
                // One transaction on the one connection: read, decide and write cannot interleave.
                let tx = conn.transaction()?;
                let on_record = tx
                    .query_row("SELECT count, last_at FROM attempts WHERE key = ?1", [&key], |row| {
                        Ok(Attempts { count: row.get(0)?, last_at: from_ts(row.get(1)?)? })
                    })
                    .optional()?;
                let reservation = policy.decide(on_record, now);
                if let Reservation::Granted(attempts) = reservation {
                    tx.execute(
                        "INSERT INTO attempts (key, count, last_at) VALUES (?1, ?2, ?3)
                         ON CONFLICT (key) DO UPDATE SET count = excluded.count, last_at = excluded.last_at",
                        params![key, attempts.count, ts(attempts.last_at)],
                    )?;
                }
                tx.commit()?;
                Ok(reservation)
            })
            .await?)
    }

    async fn clear_attempts(&self, key: &str) -> StoreResult<()> {
        let key = key.to_string();
        self.call(move |conn| conn.execute("DELETE FROM attempts WHERE key = ?1", [key]).map(drop)).await?;
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
