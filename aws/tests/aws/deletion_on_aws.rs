//! Deleting an author with 5,000 subscribers and 100 follows on the AWS path: DynamoDB, SQS and
//! SES in the emulator, the account lifecycle as the users function runs it, the notify worker
//! erasing the edges a page per job as its Lambda function runs it. The request itself writes
//! only the account; every edge and count goes after, and the goodbye email goes once.

use std::sync::Arc;

use shared::{
    Config,
    accounts::{Deletion, Lifecycle},
    clock::SystemClock,
    domain::{AuthorCounts, Role, User, UserId},
    ports::{AccountStore, Edge, EdgeKind, Queue, Side, SocialStore},
};
use ums_aws::SqsJobs;

use crate::emulator::{Queues, Table, in_batches, sent_emails, ses_worker, unique};

const SUBSCRIBERS: usize = 5000;
/// Authors who follow the deleted one and whom it follows.
const FOLLOWS: usize = 50;

fn account(email: &str, role: Role) -> User {
    User { role, ..crate::store_conformance::cases::user(email) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_an_author_with_5000_subscribers_erases_every_edge_and_count_and_says_goodbye_once_on_aws() {
    let table = Table::create().await;
    let store = Arc::new(table.store());
    let (notify_queue, email_queue, photo_queue) =
        (Queues::create(5).await, Queues::create(5).await, Queues::create(5).await);
    let domain = format!("{}.example", unique("deletion"));
    let author = account(&format!("arthur@{domain}"), Role::Author);
    store.create_account(&author).await.unwrap();
    let started = std::time::Instant::now();
    let now = author.created_at;
    let edge = |kind, from: &UserId, to: &UserId| Edge { kind, from: from.clone(), to: to.clone(), created_at: now };
    // Subscribers need no account of their own here: an edge only checks its target.
    in_batches(
        50,
        (0..SUBSCRIBERS).map(|_| {
            let (store, edge) = (store.clone(), edge(EdgeKind::Subscription, &UserId::generate(), &author.id));
            tokio::spawn(async move { store.add_edge(&edge).await.map(drop).unwrap() })
        }),
    )
    .await;
    let mut others = Vec::new();
    for i in 0..FOLLOWS {
        let other = account(&format!("olive{i}@{domain}"), Role::Author);
        store.create_account(&other).await.unwrap();
        others.push(other.id);
    }
    in_batches(
        50,
        others.iter().flat_map(|other| {
            [edge(EdgeKind::Follow, other, &author.id), edge(EdgeKind::Follow, &author.id, other)].map(|edge| {
                let store = store.clone();
                tokio::spawn(async move { store.add_edge(&edge).await.map(drop).unwrap() })
            })
        }),
    )
    .await;
    let counts = store.counts(&author.id).await.unwrap();
    assert_eq!(counts, AuthorCounts { subscribers: 5000, followers: 50, follows: 50 });
    eprintln!("{} edges written in {:?}", SUBSCRIBERS + 2 * FOLLOWS, started.elapsed());

    let urls = [
        (Queue::Email, email_queue.url.clone()),
        (Queue::Photo, photo_queue.url.clone()),
        (Queue::Notify, notify_queue.url.clone()),
    ];
    let jobs = Arc::new(SqsJobs::new(notify_queue.client.clone(), urls.into()));
    let lifecycle = Lifecycle { accounts: store.as_ref(), sessions: store.as_ref(), clock: &SystemClock };
    let request = std::time::Instant::now();
    lifecycle
        .delete_account(jobs.as_ref(), Deletion { id: &author.id, role: None, verified: None, read: None })
        .await
        .unwrap();
    eprintln!("the deletion request's work took {:?}", request.elapsed());
    assert_eq!(store.account(&author.id).await.unwrap(), None);

    let config = Arc::new(Config::local(std::env::temp_dir(), "127.0.0.1:3000".parse().unwrap()));
    let notify = crate::emulator::notify_worker(&store, jobs.clone(), config);
    let email = ses_worker(&table, "Blog Platform <no-reply@blog.example>").await;
    let (mut idle_rounds, mut erasure_jobs) = (0, 0);
    while idle_rounds < 3 {
        let (erased, erase_failures) = notify_queue.deliver_once(&notify, &store).await;
        let (emails, email_failures) = email_queue.deliver_once(&email, &store).await;
        assert_eq!((erase_failures, email_failures), (0, 0));
        erasure_jobs += erased;
        idle_rounds = if erased + emails == 0 { idle_rounds + 1 } else { 0 };
    }
    eprintln!("erased in {erasure_jobs} jobs, {:?} after the deletion", request.elapsed());
    assert!(erasure_jobs > 1, "a page per job, each queuing the next");

    for kind in [EdgeKind::Subscription, EdgeKind::Follow] {
        for side in [Side::From(author.id.clone()), Side::To(author.id.clone())] {
            assert_eq!(store.edges(kind, &side, 10, None).await.unwrap().0, [], "{kind:?} {side:?}");
        }
    }
    assert_eq!(store.counts(&author.id).await.unwrap(), AuthorCounts::default());
    for other in &others {
        assert_eq!(store.counts(other).await.unwrap(), AuthorCounts::default(), "{other}");
    }
    let goodbyes = sent_emails()
        .await
        .into_iter()
        .filter(|mail| mail.contains(&format!("To: arthur@{domain}")) && mail.contains("deleted"))
        .count();
    assert_eq!(goodbyes, 1, "one goodbye email");
    assert_eq!(notify_queue.count(&notify_queue.dead_letter_url).await, 0);
}
