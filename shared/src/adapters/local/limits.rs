//! The limits' counters on SQLite: a reservation is one transaction, a count one upsert.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::{SqliteDb, from_ts, ts};
use crate::{
    domain::UserId,
    ports::{Attempts, CheckKey, CheckReservation, LimitStore, PasswordCheck, StoreResult},
};

/// The rows a check is counted on: per address and source, and per address.
pub(super) fn check_keys(key: CheckKey<'_>) -> [String; 2] {
    [format!("login#{}#{}", key.email_key, key.source), format!("login#{}", key.email_key)]
}

pub(super) fn forget_checks(conn: &rusqlite::Connection, keys: &[String; 2]) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM attempts WHERE key IN (?1, ?2)", params![keys[0], keys[1]]).map(drop)
}

#[async_trait]
impl LimitStore for SqliteDb {
    async fn reserve_password_check(
        &self,
        check: &PasswordCheck<'_>,
        now: OffsetDateTime,
    ) -> StoreResult<CheckReservation> {
        let (keys, email_key, policies) = (check_keys(check.key), check.key.email_key.to_string(), check.policies);
        Ok(self
            .call(move |conn| {
                // One transaction on the one connection: read, decide and write cannot interleave.
                let tx = conn.transaction()?;
                let on_record = |key: &str| {
                    tx.query_row("SELECT count, last_at FROM attempts WHERE key = ?1", [key], |row| {
                        Ok(Attempts { count: row.get(0)?, last_at: from_ts(row.get(1)?)? })
                    })
                    .optional()
                };
                let (source_record, address_record) = (on_record(&keys[0])?, on_record(&keys[1])?);
                let (source, address) = match policies.decide(source_record, address_record, now) {
                    Ok(granted) => granted,
                    Err(wait) => return Ok(CheckReservation::Refused { wait }),
                };
                for (key, attempts) in keys.iter().zip([source, address]) {
                    tx.execute(
                        "INSERT INTO attempts (key, count, last_at) VALUES (?1, ?2, ?3)
                         ON CONFLICT (key) DO UPDATE SET count = excluded.count, last_at = excluded.last_at",
                        params![key, attempts.count, ts(attempts.last_at)],
                    )?;
                }
                let account = tx
                    .query_row("SELECT id FROM users WHERE email_key = ?1", [&email_key], |row| row.get(0))
                    .optional()?
                    .map(UserId);
                tx.commit()?;
                Ok(CheckReservation::Granted { per_source: source, per_address: address, account })
            })
            .await?)
    }

    async fn forget_password_checks(&self, key: CheckKey<'_>) -> StoreResult<()> {
        let keys = check_keys(key);
        self.call(move |conn| forget_checks(conn, &keys)).await?;
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
