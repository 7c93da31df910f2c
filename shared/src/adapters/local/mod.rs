//! The embedded adapters: one SQLite file in WAL mode for the stores and the durable job
//! queue, `.eml` files for mail. One file per port, mirroring `ums_aws::dynamo`.
//!
//! rusqlite is synchronous, so every call runs on the blocking pool. Each check-then-act of a
//! port is a single statement (or transaction), which is what makes it atomic.

mod accounts;
mod activity;
pub mod events;
mod limits;
mod moderation;
mod notifications;
mod outbox;
mod photos;
pub mod queue;
mod sessions;
mod social;
mod tokens;

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use anyhow::Context;
use rusqlite::Connection;
use time::OffsetDateTime;

pub use outbox::OutboxMailer;
pub use photos::{DiskPhotos, LocalFiles, files_router};
pub use queue::ClaimedJob;

#[derive(Clone)]
pub struct SqliteDb {
    /// The one writer (and the reads that must see a transaction's own writes).
    conn: Arc<Mutex<Connection>>,
    /// Read-only connections for the hot point reads (a session, an account), taken one per
    /// read: in WAL mode readers neither wait for the writer nor for each other.
    readers: Arc<Mutex<Vec<Connection>>>,
    path: Arc<std::path::PathBuf>,
    /// Wakes the local worker when a job is queued.
    job_signal: Arc<tokio::sync::Notify>,
    /// Wakes the event delivery after a write (which may have recorded changes).
    change_signal: Arc<tokio::sync::Notify>,
}

/// Reader connections kept open between reads; more are opened under load, then closed.
const MAX_IDLE_READERS: usize = 16;

/// Schema versions, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
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
"#,
    // Jobs are routed by kind: each names its queue (one worker function per queue on AWS).
    "ALTER TABLE jobs ADD COLUMN queue TEXT NOT NULL DEFAULT 'email';",
    // Versioned accounts, sessions and tokens bound to a credential, attempts reserved before
    // a password check.
    r#"
    ALTER TABLE users ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE users ADD COLUMN credential_version INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN credential_version INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN previous_hashes TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE sessions ADD COLUMN rotated_at INTEGER;
    ALTER TABLE one_time_tokens ADD COLUMN credential_version INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE one_time_tokens ADD COLUMN reset_generation INTEGER NOT NULL DEFAULT 0;
    DROP TABLE login_failures;
    CREATE TABLE attempts (
        key TEXT PRIMARY KEY,
        count INTEGER NOT NULL,
        last_at INTEGER NOT NULL
    );
"#,
    // Deleting an account deletes its tokens.
    "CREATE INDEX one_time_tokens_by_user ON one_time_tokens(user_id);",
    // Moderation records, the social graph, notifications and their deliveries.
    r#"
    CREATE TABLE reports (
        id TEXT PRIMARY KEY,
        author_id TEXT NOT NULL,
        reporter_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        flag_id TEXT
    );
    CREATE UNIQUE INDEX one_open_report ON reports(author_id, reporter_id) WHERE flag_id IS NULL;
    CREATE INDEX reports_by_author ON reports(author_id, id);
    CREATE TABLE flags (
        id TEXT PRIMARY KEY,
        author_id TEXT NOT NULL,
        moderator_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        report_ids TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX flags_by_author ON flags(author_id, id);
    CREATE TABLE moderation_audit (
        id TEXT PRIMARY KEY,
        actor_id TEXT NOT NULL,
        action TEXT NOT NULL,
        author_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        at INTEGER NOT NULL,
        record_id TEXT,
        until INTEGER
    );
    CREATE INDEX audit_by_author ON moderation_audit(author_id, id);
    CREATE TABLE edges (
        kind TEXT NOT NULL,
        from_id TEXT NOT NULL,
        to_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (kind, from_id, to_id)
    );
    CREATE INDEX edges_to ON edges(kind, to_id, from_id);
    CREATE TABLE notifications (
        id TEXT PRIMARY KEY,
        author_id TEXT NOT NULL,
        subject TEXT NOT NULL,
        message TEXT,
        article_url TEXT,
        created_at INTEGER NOT NULL,
        queued INTEGER NOT NULL DEFAULT 0,
        sent INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        fanned_out INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE deliveries (
        notification_id TEXT NOT NULL,
        subscriber_id TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        lease_until INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (notification_id, subscriber_id)
    );
"#,
    // Sessions bound to the role and status they were granted with.
    r#"
    ALTER TABLE users ADD COLUMN access_version INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN access_version INTEGER NOT NULL DEFAULT 0;
"#,
    // Fan-outs in segments, each resumed from where it stands.
    r#"
    ALTER TABLE notifications ADD COLUMN segments_left INTEGER;
    ALTER TABLE notifications ADD COLUMN stalled INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE fan_out_segments (
        notification_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        id_from TEXT,
        id_until TEXT,
        position TEXT NOT NULL,
        PRIMARY KEY (notification_id, idx)
    );
"#,
    // An account's export reads the reports it filed through an index.
    "CREATE INDEX reports_by_reporter ON reports(reporter_id, id);",
    // Account events: the outbox. Triggers record every write of an account, an edge, a report
    // or a flag as a change row in the write's own transaction (a write that fails or rolls back
    // leaves none); the local worker turns change rows into events and delivers them to the
    // operator's webhook endpoints, each at its own position in the events' order.
    r#"
    CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        source TEXT NOT NULL,
        old TEXT,
        new TEXT,
        at_ms INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
    );
    CREATE TRIGGER account_made AFTER INSERT ON users BEGIN
        INSERT INTO changes (source, new) VALUES ('account', NEW.data);
    END;
    CREATE TRIGGER account_written AFTER UPDATE OF data ON users WHEN OLD.data IS NOT NEW.data BEGIN
        INSERT INTO changes (source, old, new) VALUES ('account', OLD.data, NEW.data);
    END;
    CREATE TRIGGER account_deleted AFTER DELETE ON users BEGIN
        INSERT INTO changes (source, old) VALUES ('account', OLD.data);
    END;
    CREATE TRIGGER edge_made AFTER INSERT ON edges BEGIN
        INSERT INTO changes (source, new)
        VALUES ('edge', json_object('kind', NEW.kind, 'from', NEW.from_id, 'to', NEW.to_id));
    END;
    -- Edges erased with a deleted account make no event: account.deleted says it.
    CREATE TRIGGER edge_removed AFTER DELETE ON edges
    WHEN EXISTS (SELECT 1 FROM users WHERE id = OLD.from_id) AND EXISTS (SELECT 1 FROM users WHERE id = OLD.to_id)
    BEGIN
        INSERT INTO changes (source, old)
        VALUES ('edge', json_object('kind', OLD.kind, 'from', OLD.from_id, 'to', OLD.to_id));
    END;
    CREATE TRIGGER report_filed AFTER INSERT ON reports BEGIN
        INSERT INTO changes (source, new)
        VALUES ('report', json_object('id', NEW.id, 'author_id', NEW.author_id, 'reporter_id', NEW.reporter_id));
    END;
    CREATE TRIGGER flag_raised AFTER INSERT ON flags BEGIN
        INSERT INTO changes (source, new)
        VALUES ('flag', json_object('id', NEW.id, 'author_id', NEW.author_id, 'moderator_id', NEW.moderator_id));
    END;
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL,
        at INTEGER NOT NULL
    );
    CREATE TABLE webhook_endpoints (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        types TEXT NOT NULL,
        secret TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        position INTEGER NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        failing_since INTEGER,
        next_attempt_ms INTEGER NOT NULL DEFAULT 0,
        disabled_at INTEGER,
        last_error TEXT,
        last_delivered_at INTEGER,
        last_event_id TEXT
    );
    CREATE TABLE webhook_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        endpoint_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        what TEXT NOT NULL,
        event_id TEXT,
        status INTEGER,
        detail TEXT
    );
    CREATE INDEX webhook_log_by_endpoint ON webhook_log(endpoint_id, seq);
"#,
    // How each session's login proved who it was (RFC 8176 `amr`); earlier ones by password.
    r#"ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '["pwd"]';"#,
    // A passkey ceremony's state, kept with its single-use token.
    "ALTER TABLE one_time_tokens ADD COLUMN payload TEXT;",
    // Where each session's login came from, and on what device (shown to its owner).
    "ALTER TABLE sessions ADD COLUMN source TEXT; ALTER TABLE sessions ADD COLUMN device TEXT;",
    // Each account's security activity, newest first by its UUIDv7 id, gone after 90 days.
    r#"
    CREATE TABLE security_activity (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        at INTEGER NOT NULL,
        source TEXT,
        device TEXT,
        detail TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE INDEX security_activity_by_user ON security_activity(user_id, id);
"#,
    // Expired single-use tokens are swept at each new one (tokens.rs).
    "CREATE INDEX one_time_tokens_by_expiry ON one_time_tokens(expires_at);",
    // Provider accounts linked to ours (`provider#subject`): each belongs to one account.
    r#"
    CREATE TABLE linked_identities (
        identity_key TEXT PRIMARY KEY,
        user_id TEXT NOT NULL
    );
    CREATE INDEX linked_identities_by_user ON linked_identities(user_id);
"#,
    // How many times an emailed code was checked against its token (`TokenStore::use_token`).
    "ALTER TABLE one_time_tokens ADD COLUMN uses INTEGER NOT NULL DEFAULT 0;",
    // A console session's last use and last step-up (`SessionStore::touch_session`).
    "ALTER TABLE sessions ADD COLUMN seen_at INTEGER; ALTER TABLE sessions ADD COLUMN proved_at INTEGER;",
];

pub(crate) fn ts(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

pub(crate) fn from_ts(secs: i64) -> rusqlite::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Integer, Box::new(e)))
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
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            readers: Arc::new(Mutex::new(Vec::new())),
            path: Arc::new(path.to_path_buf()),
            job_signal: Arc::new(tokio::sync::Notify::new()),
            change_signal: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Runs one point read on a reader connection, on the calling thread: such a read takes
    /// microseconds, less than handing it to the blocking pool and back would.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> anyhow::Result<T> {
        let idle = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let conn = Connection::open_with_flags(self.path.as_path(), flags)
                    .with_context(|| format!("opening {} to read", self.path.display()))?;
                conn.busy_timeout(std::time::Duration::from_secs(5))?;
                conn
            }
        };
        let result = f(&conn).context("database error");
        let mut idle = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        result
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

    /// [`Self::call`] for a write of a table the change triggers watch (accounts, edges,
    /// reports, flags): then wakes the event worker (one permit, however many writes). Writes
    /// from another process (the operator command) are seen at its next look, within a second.
    async fn call_watched<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let result = self.call(f).await;
        self.change_signal.notify_one();
        result
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
