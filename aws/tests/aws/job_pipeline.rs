//! The job queue and the mailer, specified once and run on both pipelines: the embedded one
//! (SQLite queue, local worker, `.eml` outbox) and the AWS one (SQS, worker Lambda handler,
//! SES v2 on the emulator).

use std::sync::Arc;

use async_trait::async_trait;
use shared::{
    Config,
    adapters::{
        OutboxMailer, SqliteDb,
        local::queue::{self, MAX_ATTEMPTS},
    },
    clock::SystemClock,
    jobs::{EmailWorker, LinkIssuer},
    ports::{EmailJob, EmailMessage, Job, JobQueue, Mailer, OutgoingEmail, Queue},
};
use time::{Duration, OffsetDateTime};
use ums_aws::SqsJobs;

use crate::emulator::{Queues, Table, sent_emails, ses_worker, unique};

const FROM: &str = "Blog Platform <no-reply@blog.example>";

/// A queue, the worker that drains it, and the place its mail ends up.
#[async_trait]
trait Pipeline {
    fn queue(&self) -> &dyn JobQueue;
    /// Runs the worker over every delivery due, as often as the queue retries, far enough
    /// in time for every retry to come due.
    async fn drain(&self);
    /// The raw messages the mail service accepted for `to`.
    async fn delivered_to(&self, to: &str) -> Vec<String>;
    /// Jobs that failed for good.
    async fn dead(&self) -> usize;
}

struct Embedded {
    db: SqliteDb,
    deps: EmailWorker,
    outbox: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Embedded {
    fn new(mailer: Option<Arc<dyn Mailer>>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox");
        let mailer = mailer.unwrap_or_else(|| Arc::new(OutboxMailer::new(outbox.clone()).unwrap()));
        let db = SqliteDb::open(&dir.path().join("db.sqlite3")).unwrap();
        let mut config = Config::local(dir.path().to_path_buf(), "127.0.0.1:3000".parse().unwrap());
        config.email_from = FROM.into();
        let store = Arc::new(db.clone());
        let links = LinkIssuer {
            accounts: store.clone(),
            sessions: store.clone(),
            tokens: store.clone(),
            clock: Arc::new(SystemClock),
            config: Arc::new(config),
        };
        Self { db, deps: EmailWorker { mailer, links, deliveries: store }, outbox, _dir: dir }
    }
}

#[async_trait]
impl Pipeline for Embedded {
    fn queue(&self) -> &dyn JobQueue {
        &self.db
    }
    async fn drain(&self) {
        let mut now = OffsetDateTime::now_utc() + Duration::seconds(1);
        for _ in 0..MAX_ATTEMPTS + 1 {
            queue::drain_due(&self.db, &self.deps, now).await.unwrap();
            now += Duration::hours(1);
        }
    }
    async fn delivered_to(&self, to: &str) -> Vec<String> {
        let files = std::fs::read_dir(&self.outbox).map(|d| d.flatten().collect::<Vec<_>>()).unwrap_or_default();
        files
            .iter()
            .map(|f| std::fs::read_to_string(f.path()).unwrap())
            .filter(|m| m.contains(&format!("To: {to}\r\n")))
            .collect()
    }
    async fn dead(&self) -> usize {
        self.db.dead_jobs().await.unwrap().len()
    }
}

struct OnAws {
    table: Table,
    queues: Queues,
    sqs: SqsJobs,
    deps: EmailWorker,
}

impl OnAws {
    async fn new(mailer: Option<Arc<dyn Mailer>>) -> Self {
        let (table, queues) = (Table::create().await, Queues::create(MAX_ATTEMPTS).await);
        let mut deps = ses_worker(&table, FROM).await;
        if let Some(mailer) = mailer {
            deps.mailer = mailer;
        }
        let sqs = SqsJobs::new(queues.client.clone(), [(Queue::Email, queues.url.clone())].into());
        Self { table, queues, sqs, deps }
    }
}

#[async_trait]
impl Pipeline for OnAws {
    fn queue(&self) -> &dyn JobQueue {
        &self.sqs
    }
    async fn drain(&self) {
        // Each receive is one delivery; the redrive policy moves a message to the
        // dead-letter queue on the receive after its last allowed one.
        for _ in 0..MAX_ATTEMPTS + 1 {
            self.queues.deliver_once(&self.deps, &self.table.store()).await;
        }
    }
    async fn delivered_to(&self, to: &str) -> Vec<String> {
        sent_emails().await.into_iter().filter(|m| m.contains(&format!("To: {to}\r\n"))).collect()
    }
    async fn dead(&self) -> usize {
        self.queues.count(&self.queues.dead_letter_url).await
    }
}

fn reset_email(to: &str) -> Job {
    Job::SendEmail(EmailJob {
        to: to.into(),
        message: EmailMessage::ResetPassword { link: format!("https://blog.example/reset?token=for-{to}") },
    })
}

/// A mail service that is always down.
struct DownMailer;

#[async_trait]
impl Mailer for DownMailer {
    async fn send(&self, _email: &OutgoingEmail) -> anyhow::Result<()> {
        anyhow::bail!("mail service unavailable")
    }
}

async fn a_queued_email_is_delivered_once_with_both_parts(pipeline: &dyn Pipeline) {
    let to = format!("{}@example.com", unique("ada"));
    pipeline.queue().enqueue(&reset_email(&to)).await.unwrap();

    pipeline.drain().await;

    let delivered = pipeline.delivered_to(&to).await;
    assert_eq!(delivered.len(), 1);
    let email = &delivered[0];
    assert!(email.contains("From: \"Blog Platform\" <no-reply@blog.example>\r\n"));
    assert!(email.contains("Subject: Reset your password\r\n"));
    assert!(email.contains("Content-Type: text/plain; charset=utf-8"));
    assert!(email.contains("Content-Type: text/html; charset=utf-8"));
    // The link stays whole on one line in both parts' raw form.
    assert!(email.contains(&format!("\r\nhttps://blog.example/reset?token=for-{to}\r\n")));
    assert_eq!(pipeline.dead().await, 0);
}

async fn a_job_that_keeps_failing_ends_dead(pipeline: &dyn Pipeline) {
    let to = format!("{}@example.com", unique("never"));
    pipeline.queue().enqueue(&reset_email(&to)).await.unwrap();

    pipeline.drain().await;

    assert_eq!(pipeline.dead().await, 1);
}

#[tokio::test]
async fn embedded_a_queued_email_is_delivered_once_with_both_parts() {
    a_queued_email_is_delivered_once_with_both_parts(&Embedded::new(None)).await;
}

#[tokio::test]
async fn aws_a_queued_email_is_delivered_once_with_both_parts() {
    a_queued_email_is_delivered_once_with_both_parts(&OnAws::new(None).await).await;
}

#[tokio::test]
async fn embedded_a_job_that_keeps_failing_ends_dead() {
    a_job_that_keeps_failing_ends_dead(&Embedded::new(Some(Arc::new(DownMailer)))).await;
}

#[tokio::test]
async fn aws_a_job_that_keeps_failing_ends_dead() {
    a_job_that_keeps_failing_ends_dead(&OnAws::new(Some(Arc::new(DownMailer))).await).await;
}
