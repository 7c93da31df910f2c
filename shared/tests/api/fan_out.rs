//! An author with 1,000 subscribers notifies them all; the fan-out worker is killed halfway
//! through and its job comes back, as a queue redelivers it. Each subscriber gets one email.

use std::{collections::BTreeMap, sync::Arc};

use shared::{
    Config, LocalApp,
    adapters::SqliteDb,
    domain::{AccountStatus, EmailAddress, PasswordHash, Profile, Role, User, UserId},
    jobs::{Worker, Workers},
    ports::{AccountStore, Edge, EdgeKind, Envelope, Job, JobQueue, Notification, NotificationStore, SocialStore},
};
use time::{Duration, OffsetDateTime};

use crate::helpers::ManualClock;

const SUBSCRIBERS: usize = 1000;

fn account(email: &str, role: Role) -> User {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    User {
        id: UserId::generate(),
        email: EmailAddress::parse(email).unwrap(),
        role,
        status: AccountStatus::Active,
        profile: Profile { first_name: "Ada".into(), last_name: "Lovelace".into(), nickname: None, bio: None },
        // Never checked here: these accounts only receive.
        password_hash: Some(PasswordHash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into())),
        email_confirmed_at: Some(now),
        created_at: now,
        updated_at: now,
        version: 0,
        credential_version: 0,
        reset_generation: 0,
        pending_email: None,
        factors: Default::default(),
        access_version: 0,
        photo_id: None,
        photo_upload: None,
        photo_status: None,
        photo_error: None,
        known_devices: Vec::new(),
        identities: Vec::new(),
    }
}

/// How the local queue runs jobs (`adapters::local::queue`), with one difference: when the
/// notification has `kill_at` deliveries recorded, the fan-out job running is aborted where it
/// stands, as a killed process would leave it: claimed, hidden for the visibility timeout.
async fn run_queue(db: &SqliteDb, workers: &Arc<Workers>, now: OffsetDateTime, kill_at: Option<(&str, u64)>) -> bool {
    let mut killed = false;
    while let Some(claimed) = db.claim_job(now, Duration::seconds(60)).await.unwrap() {
        let envelope: Envelope = serde_json::from_str(&claimed.payload).unwrap();
        let fan_out = matches!(envelope.job, Job::FanOut { .. });
        let task = {
            let workers = workers.clone();
            tokio::spawn(async move { workers.handle(&envelope.job).await })
        };
        if let (Some((id, at)), true, false) = (kill_at, fan_out, killed) {
            while !task.is_finished() {
                if db.notification(id).await.unwrap().unwrap().queued >= at {
                    task.abort();
                    killed = true;
                    break;
                }
                tokio::task::yield_now().await;
            }
            if killed {
                continue;
            }
        }
        match task.await {
            Ok(Ok(())) => db.complete_job(claimed.id).await.unwrap(),
            Ok(Err(e)) => db.fail_job(claimed.id, format!("{e:#}"), Some(now + Duration::seconds(2))).await.unwrap(),
            Err(e) => panic!("{e}"),
        }
    }
    killed
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_a_fan_out_to_1000_subscribers_killed_halfway_sends_each_exactly_one_email() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let mut config = Config::local(dir.path().to_path_buf(), "127.0.0.1:3000".parse().unwrap());
    // One chain of pages, so that the kill lands in the middle of a job, whatever the timing
    // (segments of 250 would each end near it; the AWS tests kill a segmented fan-out).
    config.limits.fan_out_segments = 1;
    let app = LocalApp::build_with_clock(config, clock.clone()).unwrap();
    let db = app.db.clone();

    let author = account("bob@example.com", Role::Author);
    db.create_account(&author).await.unwrap();
    for i in 0..SUBSCRIBERS {
        let reader = account(&format!("reader{i}@example.com"), Role::Reader);
        db.create_account(&reader).await.unwrap();
        let edge = Edge {
            kind: EdgeKind::Subscription,
            from: reader.id,
            to: author.id.clone(),
            created_at: reader.created_at,
        };
        db.add_edge(&edge).await.unwrap();
    }
    let notification = Notification {
        id: uuid::Uuid::now_v7().to_string(),
        author_id: author.id.clone(),
        subject: "A new article".into(),
        message: Some("About gardens.".into()),
        article_url: None,
        created_at: clock_now(&clock),
        queued: 0,
        sent: 0,
        failed: 0,
        fanned_out: false,
        stalled: false,
    };
    db.create_notification(&notification).await.unwrap();
    db.enqueue(&Job::FanOut { notification_id: notification.id.clone(), segment: None }).await.unwrap();

    // Killed when 450 of 1,000 deliveries are recorded: in the middle of the fifth page. (The
    // queue keeps wall-clock time; an hour ahead, every job queued meanwhile is due.)
    let start = OffsetDateTime::now_utc() + Duration::hours(1);
    assert!(run_queue(&db, &app.workers, start, Some((&notification.id, 450))).await, "the fan-out was killed");
    let at_kill = db.notification(&notification.id).await.unwrap().unwrap();
    assert!(at_kill.queued < SUBSCRIBERS as u64 && !at_kill.fanned_out, "killed halfway: {at_kill:?}");

    // The visibility timeout passes: the killed job comes back, and everything runs.
    clock.advance(Duration::minutes(2));
    run_queue(&db, &app.workers, start + Duration::minutes(2), None).await;

    let mut received: BTreeMap<String, usize> = BTreeMap::new();
    for entry in std::fs::read_dir(dir.path().join("outbox")).unwrap() {
        let email = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let to = email.lines().find_map(|l| l.strip_prefix("To: ")).unwrap().to_string();
        *received.entry(to).or_default() += 1;
    }
    assert_eq!(received.len(), SUBSCRIBERS, "every subscriber got an email");
    assert!(
        received.values().all(|n| *n == 1),
        "nobody got two: {:?}",
        received.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    let done = db.notification(&notification.id).await.unwrap().unwrap();
    assert_eq!((done.queued, done.sent, done.failed, done.fanned_out), (1000, 1000, 0, true));
    assert!(db.dead_jobs().await.unwrap().is_empty());
}

fn clock_now(clock: &ManualClock) -> OffsetDateTime {
    shared::clock::Clock::now(clock)
}
