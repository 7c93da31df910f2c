//! Workers: plain async functions from a job to a result. Locally a background task drains
//! the durable queue and calls them; on AWS an SQS-triggered Lambda does.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    adapters::SqliteDb,
    ports::{Job, Mailer},
};

/// A job as it travels through a queue: the id makes redeliveries recognisable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: String,
    pub job: Job,
}

impl Envelope {
    pub fn new(job: Job) -> Self {
        Self { id: uuid::Uuid::now_v7().to_string(), job }
    }
}

/// What a worker needs to do its jobs.
#[derive(Clone)]
pub struct WorkerDeps {
    pub mailer: Arc<dyn Mailer>,
    pub email_from: String,
}

/// Does one job. An error means "retry later"; the queue decides when to give up.
pub async fn handle(job: &Job, deps: &WorkerDeps) -> anyhow::Result<()> {
    match job {
        Job::SendEmail(email) => {
            let rendered = email.render(&deps.email_from).context("rendering the email")?;
            deps.mailer.send(&rendered).await.context("sending the email")
        }
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

/// Drains the local queue until the task is dropped. The queue runs on wall-clock time.
pub async fn run_local_worker(db: SqliteDb, deps: WorkerDeps) {
    let signal = db.job_signal();
    loop {
        match drain_once(&db, &deps).await {
            Ok(()) => {}
            Err(e) => tracing::error!(error = ?e, "the local job queue failed"),
        }
        // Woken by new jobs; the timeout picks up retries that came due.
        let _ = tokio::time::timeout(Duration::from_secs(1), signal.notified()).await;
    }
}

/// Runs every job that is due now.
pub async fn drain_once(db: &SqliteDb, deps: &WorkerDeps) -> anyhow::Result<()> {
    drain_due(db, deps, OffsetDateTime::now_utc()).await
}

/// Runs every job due at `now`: the unit of the local queue's retry semantics.
pub async fn drain_due(db: &SqliteDb, deps: &WorkerDeps, now: OffsetDateTime) -> anyhow::Result<()> {
    while let Some(claimed) = db.claim_job(now, VISIBILITY).await? {
        let outcome = match serde_json::from_str::<Envelope>(&claimed.payload) {
            Ok(envelope) => handle(&envelope.job, deps).await,
            Err(e) => Err(anyhow::Error::from(e).context("the job cannot be read")),
        };
        match outcome {
            Ok(()) => db.complete_job(claimed.id).await?,
            Err(e) => {
                let retry_at = (claimed.attempts < MAX_ATTEMPTS).then(|| now + retry_delay(claimed.attempts));
                tracing::warn!(job = claimed.id, attempts = claimed.attempts, dead = retry_at.is_none(), error = %format!("{e:#}"), "job failed");
                db.fail_job(claimed.id, format!("{e:#}"), retry_at).await?;
            }
        }
    }
    Ok(())
}
