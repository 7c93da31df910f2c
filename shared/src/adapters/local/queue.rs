//! The durable local job queue, and the loop that drains it: what SQS and the worker
//! Lambdas are on AWS, with the same semantics (a claimed job is hidden for a while and comes
//! back if its worker dies; failures retry with backoff; a job that keeps failing is kept as
//! dead, like a dead-letter queue).

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::{SqliteDb, ts};
use crate::{
    jobs::{Backoff, Worker},
    ports::{Envelope, Job, JobQueue},
};

/// A job claimed by the local worker.
pub struct ClaimedJob {
    pub id: i64,
    pub attempts: u32,
    pub payload: String,
}

impl SqliteDb {
    /// Takes the next due job and hides it for `visibility` (like an SQS receive): if the
    /// worker dies, the job comes back. Transactional emails come first (on AWS their own
    /// queue and worker invocations): a fan-out never holds up a reset link.
    pub async fn claim_job(
        &self,
        now: OffsetDateTime,
        visibility: time::Duration,
    ) -> anyhow::Result<Option<ClaimedJob>> {
        let (now, hidden_until) = (ts(now), ts(now + visibility));
        self.call(move |conn| {
            conn.query_row(
                "UPDATE jobs SET attempts = attempts + 1, run_at = ?2
                 WHERE id = (SELECT id FROM jobs WHERE dead = 0 AND run_at <= ?1
                             ORDER BY queue <> 'email', run_at, id LIMIT 1)
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

    /// Schedules a job that was asked to slow down for `at`, its attempt not counted.
    pub async fn back_off_job(&self, id: i64, at: OffsetDateTime) -> anyhow::Result<()> {
        self.call(move |conn| {
            conn.execute("UPDATE jobs SET run_at = ?2, attempts = attempts - 1 WHERE id = ?1", params![id, ts(at)])
                .map(drop)
        })
        .await
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

#[async_trait]
impl JobQueue for SqliteDb {
    async fn enqueue(&self, job: &Job) -> anyhow::Result<()> {
        let payload = serde_json::to_string(&Envelope::new(job.clone()))?;
        let queue = job.queue().name();
        let now = ts(OffsetDateTime::now_utc());
        self.call(move |conn| {
            conn.execute("INSERT INTO jobs (queue, payload, run_at) VALUES (?1, ?2, ?3)", params![queue, payload, now])
                .map(drop)
        })
        .await?;
        self.job_signal.notify_one();
        Ok(())
    }
}

/// Attempts before a job is marked dead (the local dead-letter state).
pub const MAX_ATTEMPTS: u32 = 5;
/// How long a claimed job stays hidden from other workers.
const VISIBILITY: time::Duration = time::Duration::seconds(60);

/// The wait before retry `attempt + 1`: 2, 4, 8, 16 seconds.
pub fn retry_delay(attempt: u32) -> time::Duration {
    time::Duration::seconds(2_i64.pow(attempt.min(10)))
}

/// Drains the local queue until the task is dropped, handing each job to `worker` (locally,
/// `jobs::Workers`: every queue's worker). The queue runs on wall-clock time.
pub async fn run_local_worker(db: SqliteDb, worker: Arc<dyn Worker>) {
    let signal = db.job_signal();
    loop {
        match drain_once(&db, worker.as_ref()).await {
            Ok(()) => {}
            Err(e) => tracing::error!(error = ?e, "the local job queue failed"),
        }
        // Woken by new jobs; the timeout picks up retries that came due.
        let _ = tokio::time::timeout(Duration::from_secs(1), signal.notified()).await;
    }
}

/// Runs every job that is due now.
pub async fn drain_once(db: &SqliteDb, worker: &dyn Worker) -> anyhow::Result<()> {
    drain_due(db, worker, OffsetDateTime::now_utc()).await
}

/// Runs every job due at `now`: the unit of the local queue's retry semantics.
pub async fn drain_due(db: &SqliteDb, worker: &dyn Worker, now: OffsetDateTime) -> anyhow::Result<()> {
    let mut backed_off = 0;
    while let Some(claimed) = db.claim_job(now, VISIBILITY).await? {
        let envelope = serde_json::from_str::<Envelope>(&claimed.payload);
        let outcome = match &envelope {
            Ok(envelope) => worker.handle(&envelope.job).await,
            Err(e) => Err(anyhow::anyhow!("the job cannot be read: {e}")),
        };
        match outcome {
            Ok(()) => db.complete_job(claimed.id).await?,
            Err(e) if Backoff::of(&e).is_some() => {
                backed_off += 1;
                let wait = Backoff::of(&e).map(|backoff| backoff.delay(backed_off)).unwrap_or_default();
                let delay = time::Duration::try_from(wait).unwrap_or(time::Duration::MINUTE);
                tracing::info!(job = claimed.id, error = %format!("{e:#}"), "job backed off");
                db.back_off_job(claimed.id, now + delay).await?;
            }
            Err(e) => {
                let retry_at = (claimed.attempts < MAX_ATTEMPTS).then(|| now + retry_delay(claimed.attempts));
                tracing::warn!(job = claimed.id, attempts = claimed.attempts, dead = retry_at.is_none(), error = %format!("{e:#}"), "job failed");
                db.fail_job(claimed.id, format!("{e:#}"), retry_at).await?;
                if let (None, Ok(envelope)) = (retry_at, &envelope) {
                    worker.give_up(&envelope.job).await?;
                }
            }
        }
    }
    Ok(())
}
