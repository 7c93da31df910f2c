//! The embedded job queue: retries with backoff, then a dead state, like SQS with a DLQ.

use std::sync::{
    Arc,
    atomic::{AtomicU32, Ordering},
};

use shared::{
    Config,
    adapters::{
        SqliteDb,
        local::queue::{self, MAX_ATTEMPTS},
    },
    clock::SystemClock,
    jobs::{EmailWorker, LinkIssuer},
    ports::{EmailJob, EmailMessage, Job, JobQueue, Mailer, OutgoingEmail},
};
use time::{Duration, OffsetDateTime};

/// A mail service that is down for the first `failures` sends.
struct FlakyMailer {
    failures: u32,
    calls: AtomicU32,
}

#[async_trait::async_trait]
impl Mailer for FlakyMailer {
    async fn send(&self, _email: &OutgoingEmail) -> anyhow::Result<()> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call < self.failures { anyhow::bail!("mail service unavailable") } else { Ok(()) }
    }
}

fn email_job() -> Job {
    Job::SendEmail(EmailJob {
        to: "ada@example.com".into(),
        message: EmailMessage::ConfirmEmail { link: "http://x/confirm?token=t".into() },
    })
}

fn setup(failures: u32) -> (tempfile::TempDir, SqliteDb, EmailWorker, Arc<FlakyMailer>) {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&dir.path().join("db.sqlite3")).unwrap();
    let mailer = Arc::new(FlakyMailer { failures, calls: AtomicU32::new(0) });
    let mut config = Config::local(dir.path().to_path_buf(), "127.0.0.1:3000".parse().unwrap());
    config.email_from = "Blog <no-reply@blog.example>".into();
    let store = Arc::new(db.clone());
    let links = LinkIssuer {
        accounts: store.clone(),
        sessions: store.clone(),
        tokens: store.clone(),
        clock: Arc::new(SystemClock),
        config: Arc::new(config),
    };
    let deps = EmailWorker { mailer: mailer.clone(), links, deliveries: store };
    (dir, db, deps, mailer)
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_a_failed_job_is_retried_after_a_backoff_and_then_succeeds() {
    let (_dir, db, deps, mailer) = setup(2);
    db.enqueue(&email_job()).await.unwrap();
    let now = OffsetDateTime::now_utc() + Duration::seconds(1);

    queue::drain_due(&db, &deps, now).await.unwrap();
    assert_eq!(mailer.calls.load(Ordering::SeqCst), 1);
    // Not due again until its backoff has passed.
    queue::drain_due(&db, &deps, now + Duration::seconds(1)).await.unwrap();
    assert_eq!(mailer.calls.load(Ordering::SeqCst), 1);
    queue::drain_due(&db, &deps, now + Duration::seconds(2)).await.unwrap();
    assert_eq!(mailer.calls.load(Ordering::SeqCst), 2);
    queue::drain_due(&db, &deps, now + Duration::seconds(10)).await.unwrap();
    assert_eq!(mailer.calls.load(Ordering::SeqCst), 3, "the third try goes through");

    queue::drain_due(&db, &deps, now + Duration::hours(1)).await.unwrap();
    assert_eq!(mailer.calls.load(Ordering::SeqCst), 3, "a finished job is not run again");
    assert!(db.dead_jobs().await.unwrap().is_empty());
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_a_job_that_keeps_failing_ends_dead_and_stops_being_tried() {
    let (_dir, db, deps, mailer) = setup(u32::MAX);
    db.enqueue(&email_job()).await.unwrap();
    let mut now = OffsetDateTime::now_utc() + Duration::seconds(1);

    for _ in 0..10 {
        queue::drain_due(&db, &deps, now).await.unwrap();
        now += Duration::hours(1);
    }

    assert_eq!(mailer.calls.load(Ordering::SeqCst), MAX_ATTEMPTS);
    let dead = db.dead_jobs().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].1.contains("mail service unavailable"));
}
