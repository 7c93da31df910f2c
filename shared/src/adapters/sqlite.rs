//! The embedded store and durable job queue: one SQLite file in WAL mode.
//!
//! rusqlite is synchronous, so every call runs on the blocking pool. Each check-then-act of
//! the `Store` port is a single statement (or transaction), which is what makes it atomic.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use anyhow::Context;
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use crate::{
    domain::{Role, User, UserId},
    pagination::Position,
    ports::{Job, JobQueue, LoginFailures, OneTimeToken, Rotation, Session, Store, StoreError, StoreResult, TokenKind},
};

#[derive(Clone)]
pub struct SqliteDb {
    conn: Arc<Mutex<Connection>>,
    /// Wakes the local worker when a job is queued.
    job_signal: Arc<tokio::sync::Notify>,
}

/// Schema versions, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[r#"
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        email_key TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        refresh_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE INDEX sessions_by_user ON sessions(user_id);
    CREATE TABLE one_time_tokens (
        hash TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        user_id TEXT NOT NULL,
        email_key TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE login_failures (
        key TEXT PRIMARY KEY,
        count INTEGER NOT NULL,
        last_failure_at INTEGER NOT NULL
    );
    CREATE TABLE counters (
        key TEXT PRIMARY KEY,
        count INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        payload TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        run_at INTEGER NOT NULL,
        dead INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    );
    CREATE INDEX jobs_due ON jobs(dead, run_at);
"#];

fn ts(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

fn from_ts(secs: i64) -> rusqlite::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Integer, Box::new(e)))
}

fn user_from_json(data: String) -> rusqlite::Result<User> {
    serde_json::from_str(&data)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn session_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: row.get(0)?,
        user_id: UserId(row.get(1)?),
        refresh_hash: row.get(2)?,
        created_at: from_ts(row.get(3)?)?,
        expires_at: from_ts(row.get(4)?)?,
    })
}

/// A job claimed by the local worker.
pub struct ClaimedJob {
    pub id: i64,
    pub attempts: u32,
    pub payload: String,
}

impl SqliteDb {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // The operator command may write while the server runs.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)), job_signal: Arc::new(tokio::sync::Notify::new()) })
    }

    pub fn job_signal(&self) -> Arc<tokio::sync::Notify> {
        self.job_signal.clone()
    }

    async fn call<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut conn)
        })
        .await
        .context("the database task failed")?
        .context("database error")
    }

    /// Takes the next due job and hides it for `visibility` (like an SQS receive): if the
    /// worker dies, the job comes back.
    pub async fn claim_job(
        &self,
        now: OffsetDateTime,
        visibility: time::Duration,
    ) -> anyhow::Result<Option<ClaimedJob>> {
        let (now, hidden_until) = (ts(now), ts(now + visibility));
        self.call(move |conn| {
            conn.query_row(
                "UPDATE jobs SET attempts = attempts + 1, run_at = ?2
                 WHERE id = (SELECT id FROM jobs WHERE dead = 0 AND run_at <= ?1 ORDER BY run_at, id LIMIT 1)
                 RETURNING id, attempts, payload",
                params![now, hidden_until],
                |row| Ok(ClaimedJob { id: row.get(0)?, attempts: row.get(1)?, payload: row.get(2)? }),
            )
            .optional()
        })
        .await
    }

    pub async fn complete_job(&self, id: i64) -> anyhow::Result<()> {
        self.call(move |conn| conn.execute("DELETE FROM jobs WHERE id = ?1", [id]).map(drop)).await
    }

    /// Schedules a retry at `retry_at`, or marks the job dead (kept for inspection, like a
    /// dead-letter queue).
    pub async fn fail_job(&self, id: i64, error: String, retry_at: Option<OffsetDateTime>) -> anyhow::Result<()> {
        self.call(move |conn| {
            match retry_at {
                Some(at) => conn
                    .execute("UPDATE jobs SET run_at = ?2, last_error = ?3 WHERE id = ?1", params![id, ts(at), error]),
                None => conn.execute("UPDATE jobs SET dead = 1, last_error = ?2 WHERE id = ?1", params![id, error]),
            }
            .map(drop)
        })
        .await
    }

    /// Jobs that failed for good.
    pub async fn dead_jobs(&self) -> anyhow::Result<Vec<(String, String)>> {
        self.call(|conn| {
            let mut stmt =
                conn.prepare("SELECT payload, COALESCE(last_error, '') FROM jobs WHERE dead = 1 ORDER BY id")?;
            stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?.collect()
        })
        .await
    }
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let applied: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql).with_context(|| format!("applying migration {}", version + 1))?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteDb {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let user = user.clone();
        let data = serde_json::to_string(&user).map_err(anyhow::Error::from)?;
        let inserted = self
            .call(move |conn| {
                conn.execute(
                    "INSERT INTO users (id, email_key, role, status, created_at, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (email_key) DO NOTHING",
                    params![
                        user.id.0,
                        user.email.key(),
                        user.role.as_str(),
                        user.status.as_str(),
                        ts(user.created_at),
                        data
                    ],
                )
            })
            .await?;
        if inserted == 0 { Err(StoreError::EmailTaken) } else { Ok(()) }
    }

    async fn user(&self, id: &UserId) -> StoreResult<Option<User>> {
        let id = id.0.clone();
        let data: Option<String> = self
            .call(move |conn| conn.query_row("SELECT data FROM users WHERE id = ?1", [id], |row| row.get(0)).optional())
            .await?;
        Ok(data.map(user_from_json).transpose().map_err(anyhow::Error::from)?)
    }

    async fn user_by_email(&self, email_key: &str) -> StoreResult<Option<User>> {
        let key = email_key.to_string();
        let data: Option<String> = self
            .call(move |conn| {
                conn.query_row("SELECT data FROM users WHERE email_key = ?1", [key], |row| row.get(0)).optional()
            })
            .await?;
        Ok(data.map(user_from_json).transpose().map_err(anyhow::Error::from)?)
    }

    async fn update_user(&self, user: &User) -> StoreResult<()> {
        let user = user.clone();
        let data = serde_json::to_string(&user).map_err(anyhow::Error::from)?;
        let result = self
            .call(move |conn| {
                conn.execute(
                    "UPDATE users SET email_key = ?2, role = ?3, status = ?4, data = ?5 WHERE id = ?1",
                    params![user.id.0, user.email.key(), user.role.as_str(), user.status.as_str(), data],
                )
            })
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }

    async fn list_users(
        &self,
        role: Option<Role>,
        limit: u32,
        after: Option<&Position>,
    ) -> StoreResult<(Vec<User>, Option<Position>)> {
        // The position is the last row's (role, id); ids are UUIDv7, so they sort by age.
        let (after_role, after_id) = match after {
            Some(p) => (
                p["role"].as_str().ok_or_else(|| anyhow::anyhow!("bad position"))?.to_string(),
                p["id"].as_str().ok_or_else(|| anyhow::anyhow!("bad position"))?.to_string(),
            ),
            None => (String::new(), String::new()),
        };
        let role = role.map(Role::as_str);
        let rows: Vec<(String, String, String)> = self
            .call(move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT role, id, data FROM users
                     WHERE (?1 IS NULL OR role = ?1) AND (role, id) > (?2, ?3)
                     ORDER BY role, id LIMIT ?4",
                )?;
                stmt.query_map(params![role, after_role, after_id, limit], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?
                .collect()
            })
            .await?;
        let next = (rows.len() == limit as usize)
            .then(|| rows.last().map(|(role, id, _)| serde_json::json!({ "role": role, "id": id })))
            .flatten();
        let users = rows.into_iter().map(|(_, _, data)| user_from_json(data)).collect::<rusqlite::Result<_>>();
        Ok((users.map_err(anyhow::Error::from)?, next))
    }

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

    async fn put_token(&self, token: &OneTimeToken) -> StoreResult<()> {
        let t = token.clone();
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO one_time_tokens (hash, kind, user_id, email_key, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![t.hash, t.kind.as_str(), t.user_id.0, t.email_key, ts(t.expires_at)],
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
                    "DELETE FROM one_time_tokens WHERE hash = ?1 AND kind = ?2 RETURNING hash, user_id, email_key, expires_at",
                    params![hash, kind.as_str()],
                    |row| {
                        Ok(OneTimeToken {
                            hash: row.get(0)?,
                            kind,
                            user_id: UserId(row.get(1)?),
                            email_key: row.get(2)?,
                            expires_at: from_ts(row.get(3)?)?,
                        })
                    },
                )
                .optional()
            })
            .await?)
    }

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

fn is_unique_violation(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<rusqlite::Error>(),
            Some(rusqlite::Error::SqliteFailure(f, _)) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        )
    })
}

#[async_trait]
impl JobQueue for SqliteDb {
    async fn enqueue(&self, job: &Job) -> anyhow::Result<()> {
        let payload = serde_json::to_string(&crate::jobs::Envelope::new(job.clone()))?;
        let now = ts(OffsetDateTime::now_utc());
        self.call(move |conn| {
            conn.execute("INSERT INTO jobs (payload, run_at) VALUES (?1, ?2)", params![payload, now]).map(drop)
        })
        .await?;
        self.job_signal.notify_one();
        Ok(())
    }
}
