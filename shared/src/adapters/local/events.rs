//! Account events on SQLite: the change rows the triggers write in each write's transaction
//! (the outbox), the events made from them, the operator's webhook endpoints with the position
//! each has reached, and their log. [`run_event_delivery`] is the worker: it turns change rows
//! into events (in one transaction: each once) and delivers them to each endpoint in order,
//! one at a time, retrying the one that failed before any later one: order per account holds.
//! A crash between a delivery and its record sends that event again, with the same id.

use std::time::Duration;

use anyhow::Context;
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::SqliteDb;
use crate::{
    domain::User,
    events::{
        AccountEvent, Image, Record, events_of,
        webhooks::{DeliveryFailed, Endpoint, Sender, WebhookConfig},
    },
    ports::{EdgeKind, StoreResult, WebhookDirectory, WebhookState, WebhookStatus},
};

/// Events and the endpoints' log are kept this long (an endpoint disabled for longer misses
/// what was dropped meanwhile).
const KEPT_FOR: time::Duration = time::Duration::days(30);

/// An endpoint and where its deliveries stand.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EndpointState {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// The last event (by its place in the log) delivered to it or not meant for it.
    pub position: i64,
    /// Failures in a row of the event it is at.
    pub failures: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub failing_since: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub disabled_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
    pub last_event_id: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_delivered_at: Option<OffsetDateTime>,
    /// Events after its position, not yet delivered (or skipped).
    pub behind: u64,
    next_attempt_ms: i64,
}

/// One line of an endpoint's log: a delivery, a failure, or what the operator or the worker did
/// to it (added, disabled, enabled).
#[derive(Clone, Debug, serde::Serialize)]
pub struct LogEntry {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub what: String,
    pub event_id: Option<String>,
    pub status: Option<u16>,
    pub detail: Option<String>,
}

fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn json_error(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
}

/// A change row as the record both outboxes give [`events_of`].
fn record(seq: i64, source: &str, old: Option<String>, new: Option<String>, at_ms: i64) -> anyhow::Result<Record> {
    let image = |json: Option<String>| -> anyhow::Result<Option<Image>> {
        let Some(json) = json else { return Ok(None) };
        let value: serde_json::Value = serde_json::from_str(&json)?;
        let text = |field: &str| value[field].as_str().unwrap_or_default().to_string();
        Ok(Some(match source {
            "account" => Image::Account(Box::new(serde_json::from_value::<User>(value.clone())?)),
            "edge" => Image::Edge {
                kind: if text("kind") == EdgeKind::Follow.as_str() { EdgeKind::Follow } else { EdgeKind::Subscription },
                from: text("from"),
                to: text("to"),
            },
            "report" => {
                Image::Report { id: text("id"), author_id: text("author_id"), reporter_id: text("reporter_id") }
            }
            "flag" => Image::Flag { id: text("id"), author_id: text("author_id"), moderator_id: text("moderator_id") },
            other => anyhow::bail!("a change row from an unknown source {other:?}"),
        }))
    };
    let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)?;
    Ok(Record { id: format!("change-{seq}-{at_ms}"), time, old: image(old)?, new: image(new)? })
}

impl SqliteDb {
    /// Turns up to `limit` change rows, oldest first, into events, and removes them, in one
    /// transaction; how many rows it took.
    pub async fn publish_changes(&self, limit: u32) -> anyhow::Result<usize> {
        let pending: bool =
            self.read(|conn| conn.query_row("SELECT EXISTS (SELECT 1 FROM changes)", [], |r| r.get(0)))?;
        if !pending {
            return Ok(0);
        }
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let rows: Vec<(i64, Record)> = tx
                .prepare("SELECT seq, source, old, new, at_ms FROM changes ORDER BY seq LIMIT ?1")?
                .query_map([limit], |r| {
                    let (seq, source): (i64, String) = (r.get(0)?, r.get(1)?);
                    let record = record(seq, &source, r.get(2)?, r.get(3)?, r.get(4)?).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, e.into())
                    })?;
                    Ok((seq, record))
                })?
                .collect::<rusqlite::Result<_>>()?;
            for (_, record) in &rows {
                for event in events_of(record) {
                    let body = serde_json::to_string(&event).map_err(json_error)?;
                    tx.execute(
                        "INSERT INTO events (id, body, at) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO NOTHING",
                        params![event.id, body, super::ts(event.time)],
                    )?;
                }
            }
            if let Some((last, ..)) = rows.last() {
                tx.execute("DELETE FROM changes WHERE seq <= ?1", [last])?;
            }
            tx.commit()?;
            Ok(rows.len())
        })
        .await
    }

    /// Up to `limit` events after `position`, in order, with their places.
    pub async fn events_after(&self, position: i64, limit: u32) -> anyhow::Result<Vec<(i64, AccountEvent)>> {
        self.read(|conn| {
            conn.prepare_cached("SELECT seq, body FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")?
                .query_map(params![position, limit], |r| {
                    let body: String = r.get(1)?;
                    Ok((r.get(0)?, serde_json::from_str(&body).map_err(json_error)?))
                })?
                .collect()
        })
    }

    /// Adds an endpoint; it receives the events made from now on.
    pub async fn add_endpoint(&self, endpoint: &Endpoint, now: OffsetDateTime) -> anyhow::Result<()> {
        let endpoint = endpoint.clone();
        let types = serde_json::to_string(&endpoint.types)?;
        self.call(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO webhook_endpoints (id, url, types, secret, created_at, position)
                 VALUES (?1, ?2, ?3, ?4, ?5, (SELECT COALESCE(MAX(seq), 0) FROM events))",
                params![endpoint.id, endpoint.url, types, endpoint.secret, super::ts(now)],
            )?;
            log(&tx, &endpoint.id, now, "added", None, None, Some(&endpoint.url))?;
            tx.commit()
        })
        .await
    }

    pub async fn endpoints(&self) -> anyhow::Result<Vec<EndpointState>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT id, url, types, secret, position, failures, failing_since, disabled_at, last_error,
                        next_attempt_ms, (SELECT COUNT(*) FROM events WHERE seq > position), last_event_id,
                        last_delivered_at
                 FROM webhook_endpoints ORDER BY id",
            )?
            .query_map([], |r| {
                let types: String = r.get(2)?;
                let time = |secs: Option<i64>| secs.map(super::from_ts).transpose();
                Ok(EndpointState {
                    endpoint: Endpoint {
                        id: r.get(0)?,
                        url: r.get(1)?,
                        types: serde_json::from_str(&types).map_err(json_error)?,
                        secret: r.get(3)?,
                    },
                    position: r.get(4)?,
                    failures: r.get(5)?,
                    failing_since: time(r.get(6)?)?,
                    disabled_at: time(r.get(7)?)?,
                    last_error: r.get(8)?,
                    next_attempt_ms: r.get(9)?,
                    behind: r.get(10)?,
                    last_event_id: r.get(11)?,
                    last_delivered_at: time(r.get(12)?)?,
                })
            })?
            .collect()
        })
    }

    /// Removes an endpoint (its log stays, for the record); whether there was one.
    pub async fn remove_endpoint(&self, id: &str, now: OffsetDateTime) -> anyhow::Result<bool> {
        let id = id.to_string();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let removed = tx.execute("DELETE FROM webhook_endpoints WHERE id = ?1", [&id])? == 1;
            if removed {
                log(&tx, &id, now, "removed", None, None, None)?;
            }
            tx.commit()?;
            Ok(removed)
        })
        .await
    }

    /// Enables a disabled endpoint again: it resumes at the event it stopped at.
    pub async fn enable_endpoint(&self, id: &str, now: OffsetDateTime) -> anyhow::Result<bool> {
        let id = id.to_string();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let enabled = tx.execute(
                "UPDATE webhook_endpoints SET disabled_at = NULL, failures = 0, failing_since = NULL,
                    next_attempt_ms = 0 WHERE id = ?1 AND disabled_at IS NOT NULL",
                [&id],
            )? == 1;
            if enabled {
                log(&tx, &id, now, "enabled", None, None, None)?;
            }
            tx.commit()?;
            Ok(enabled)
        })
        .await
    }

    /// The endpoint's log, newest first.
    pub async fn endpoint_log(&self, id: &str, limit: u32) -> anyhow::Result<Vec<LogEntry>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT at, what, event_id, status, detail FROM webhook_log WHERE endpoint_id = ?1
                 ORDER BY seq DESC LIMIT ?2",
            )?
            .query_map(params![id, limit], |r| {
                Ok(LogEntry {
                    at: super::from_ts(r.get(0)?)?,
                    what: r.get(1)?,
                    event_id: r.get(2)?,
                    status: r.get(3)?,
                    detail: r.get(4)?,
                })
            })?
            .collect()
        })
    }

    /// Moves the endpoint past `position`: delivered (`delivered` names the event and the
    /// answer's status) or not meant for it.
    async fn advance(&self, endpoint_id: &str, position: i64, delivered: Option<(String, u16)>) -> anyhow::Result<()> {
        let id = endpoint_id.to_string();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "UPDATE webhook_endpoints SET position = MAX(position, ?2), failures = 0, failing_since = NULL,
                    next_attempt_ms = 0, last_error = NULL WHERE id = ?1",
                params![id, position],
            )?;
            if let Some((event_id, status)) = delivered {
                let now = OffsetDateTime::now_utc();
                tx.execute(
                    "UPDATE webhook_endpoints SET last_event_id = ?2, last_delivered_at = ?3 WHERE id = ?1",
                    params![id, event_id, super::ts(now)],
                )?;
                log(&tx, &id, now, "delivered", Some(&event_id), Some(status), None)?;
            }
            tx.commit()
        })
        .await
    }

    /// Records a failed delivery and when to try again; past the retry window the endpoint is
    /// disabled, with a log line that says why. Whether it was disabled.
    async fn record_failure(
        &self,
        endpoint_id: &str,
        event_id: &str,
        failed: &DeliveryFailed,
        config: &WebhookConfig,
    ) -> anyhow::Result<bool> {
        let now = OffsetDateTime::now_utc();
        let (id, event_id, status, detail) =
            (endpoint_id.to_string(), event_id.to_string(), failed.status, failed.detail.clone());
        let config = config.clone();
        self.call(move |conn| {
            // The count and the start of the failing come from the stored row, in the write's
            // own transaction: an operator's `enable` in between is not written over.
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let stored: Option<(u32, Option<i64>)> = tx
                .query_row(
                    "SELECT failures, failing_since FROM webhook_endpoints WHERE id = ?1 AND disabled_at IS NULL",
                    [&id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((failures, since)) = stored else { return Ok(false) };
            let failures = failures + 1;
            let failing_since = since.map(super::from_ts).transpose()?.unwrap_or(now);
            let give_up = now - failing_since >= config.retry_for;
            let next_attempt_ms =
                now_ms() + i64::try_from(config.retry_after(failures).as_millis()).unwrap_or(i64::MAX);
            tx.execute(
                "UPDATE webhook_endpoints SET failures = ?2, failing_since = ?3, next_attempt_ms = ?4,
                    last_error = ?5, disabled_at = CASE WHEN ?6 THEN ?7 ELSE disabled_at END
                 WHERE id = ?1",
                params![id, failures, super::ts(failing_since), next_attempt_ms, detail, give_up, super::ts(now)],
            )?;
            log(&tx, &id, now, "failed", Some(&event_id), status, Some(&detail))?;
            if give_up {
                let why =
                    format!("failing for {} minutes, since {failing_since}", (now - failing_since).whole_minutes());
                let why = format!("{why} (the retry window is {} hours)", config.retry_for.as_secs() / 3600);
                log(&tx, &id, now, "disabled", Some(&event_id), None, Some(&why))?;
            }
            tx.commit()?;
            Ok(give_up)
        })
        .await
    }

    /// Drops events and log lines older than [`KEPT_FOR`].
    async fn prune_events(&self, now: OffsetDateTime) -> anyhow::Result<()> {
        let before = super::ts(now - KEPT_FOR);
        self.call(move |conn| {
            conn.execute("DELETE FROM events WHERE at < ?1", [before])?;
            conn.execute("DELETE FROM webhook_log WHERE at < ?1", [before])?;
            Ok(())
        })
        .await
    }
}

#[async_trait::async_trait]
impl WebhookDirectory for SqliteDb {
    async fn webhook_statuses(&self) -> StoreResult<Vec<WebhookStatus>> {
        Ok(self
            .endpoints()
            .await?
            .into_iter()
            .map(|state| WebhookStatus {
                state: WebhookState::of(state.failures, state.disabled_at.is_some()),
                id: state.endpoint.id,
                url: state.endpoint.url,
                types: state.endpoint.types,
                failures: state.failures,
                failing_since: state.failing_since,
                last_error: state.last_error,
                last_delivered_event: state.last_event_id,
                last_delivered_at: state.last_delivered_at,
                disabled_at: state.disabled_at,
            })
            .collect())
    }
}

fn log(
    tx: &rusqlite::Transaction,
    endpoint_id: &str,
    at: OffsetDateTime,
    what: &str,
    event_id: Option<&str>,
    status: Option<u16>,
    detail: Option<&str>,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO webhook_log (endpoint_id, at, what, event_id, status, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![endpoint_id, super::ts(at), what, event_id, status, detail],
    )?;
    Ok(())
}

/// How many events one endpoint is sent in one round, before the worker looks at new changes.
const EVENTS_PER_ROUND: u32 = 200;
/// How long the worker waits for a write before it looks again anyway.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// The local event worker: publishes change rows as events and delivers them, until aborted.
pub async fn run_event_delivery(db: SqliteDb, config: WebhookConfig) {
    let sender = Sender::new(&config);
    let mut pruned_at: Option<std::time::Instant> = None;
    loop {
        let signal = db.change_signal.notified();
        // Registered before looking, so a write while we look still wakes the next wait.
        tokio::pin!(signal);
        signal.as_mut().enable();
        let wait = match deliver_round(&db, &sender, &config).await {
            Ok(wait) => wait,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "delivering account events");
                IDLE_WAIT
            }
        };
        if pruned_at.is_none_or(|at| at.elapsed() > Duration::from_secs(600)) {
            if let Err(e) = db.prune_events(OffsetDateTime::now_utc()).await {
                tracing::warn!(error = %format!("{e:#}"), "pruning old events");
            }
            pruned_at = Some(std::time::Instant::now());
        }
        tokio::select! {
            _ = signal => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Publishes what changed and delivers to every endpoint that is due; how long to wait before
/// the next round if no write comes first.
async fn deliver_round(db: &SqliteDb, sender: &Sender, config: &WebhookConfig) -> anyhow::Result<Duration> {
    while db.publish_changes(500).await.context("publishing changes")? == 500 {}
    let endpoints = db.endpoints().await?;
    let now = now_ms();
    let due: Vec<_> =
        endpoints.iter().filter(|e| e.disabled_at.is_none() && e.behind > 0 && e.next_attempt_ms <= now).collect();
    let rounds = due.iter().map(|endpoint| deliver_to(db, sender, config, endpoint));
    let more = futures_util::future::join_all(rounds).await.into_iter().collect::<anyhow::Result<Vec<bool>>>()?;
    if more.contains(&true) {
        return Ok(Duration::ZERO);
    }
    // The next retry due, if it comes before the idle wait.
    let next_retry = endpoints
        .iter()
        .filter(|e| e.disabled_at.is_none() && e.failures > 0)
        .map(|e| Duration::from_millis(u64::try_from(e.next_attempt_ms - now_ms()).unwrap_or(0)))
        .min();
    Ok(next_retry.map_or(IDLE_WAIT, |retry| retry.min(IDLE_WAIT)))
}

/// Sends one endpoint the events after its position, in order, stopping at the first failure
/// (that event is retried before any later one). Whether more are waiting.
async fn deliver_to(
    db: &SqliteDb,
    sender: &Sender,
    config: &WebhookConfig,
    endpoint: &EndpointState,
) -> anyhow::Result<bool> {
    let events = db.events_after(endpoint.position, EVENTS_PER_ROUND).await?;
    let mut skipped = None;
    for (position, event) in &events {
        if !endpoint.endpoint.wants(event.change.kind()) {
            skipped = Some(*position);
            continue;
        }
        if let Some(position) = skipped.take() {
            db.advance(&endpoint.endpoint.id, position, None).await?;
        }
        match sender.send(&endpoint.endpoint, event).await {
            Ok(delivered) => {
                db.advance(&endpoint.endpoint.id, *position, Some((event.id.clone(), delivered.status))).await?;
            }
            Err(failed) => {
                let disabled = db.record_failure(&endpoint.endpoint.id, &event.id, &failed, config).await?;
                if disabled {
                    tracing::warn!(endpoint = %endpoint.endpoint.id, url = %endpoint.endpoint.url, error = %failed, "webhook endpoint disabled: it kept failing for the whole retry window");
                } else {
                    tracing::info!(endpoint = %endpoint.endpoint.id, event = %event.id, error = %failed, "webhook delivery failed; retried later");
                }
                return Ok(false);
            }
        }
    }
    if let Some(position) = skipped {
        db.advance(&endpoint.endpoint.id, position, None).await?;
    }
    Ok(events.len() == EVENTS_PER_ROUND as usize)
}
