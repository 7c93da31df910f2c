//! The notification fan-out on the AWS path: DynamoDB, SQS and SES in the emulator, the notify
//! and email workers as their Lambda functions run them (SQS batches, partial failures). An
//! author with 1,000 subscribers notifies them; the notify worker is killed halfway through a
//! page and SQS redelivers its message. Each subscriber gets exactly one email.

use std::{collections::BTreeMap, sync::Arc};

use shared::{
    Config,
    domain::{Role, User},
    ports::{AccountStore, Job, JobQueue, NotificationStore, Queue},
};
use ums_aws::SqsJobs;

use crate::emulator::{Queues, Table, sent_emails, ses_worker, sqs_event, unique};

const SUBSCRIBERS: usize = 1000;

fn account(email: &str, role: Role) -> User {
    User { role, ..crate::store_conformance::cases::user(email) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fan_out_to_1000_subscribers_killed_halfway_sends_each_exactly_one_email_on_aws() {
    let table = Table::create().await;
    let store = Arc::new(table.store());
    let (notify_queue, email_queue) = (Queues::create(5).await, Queues::create(5).await);
    let domain = format!("{}.example", unique("fanout"));
    let author = account(&format!("bob@{domain}"), Role::Author);
    store.create_account(&author).await.unwrap();
    let started = std::time::Instant::now();
    crate::emulator::subscribers(&store, &author.id, &domain, SUBSCRIBERS).await;
    eprintln!("1,000 subscribers written in {:?}", started.elapsed());

    let config = Arc::new(Config::local(std::env::temp_dir(), "127.0.0.1:3000".parse().unwrap()));
    let urls = [(Queue::Delivery, email_queue.url.clone()), (Queue::Notify, notify_queue.url.clone())];
    let jobs = Arc::new(SqsJobs::new(notify_queue.client.clone(), urls.into()));
    let notify = crate::emulator::notify_worker(&store, jobs.clone(), config);
    let email = ses_worker(&table, "Blog Platform <no-reply@blog.example>").await;

    let notification = crate::emulator::new_notification(&author.id, "A new article", "About gardens.");
    store.create_notification(&notification).await.unwrap();
    jobs.enqueue(&Job::FanOut { notification_id: notification.id.clone(), segment: None }).await.unwrap();

    // Pages of the fan-out until 450 emails are queued, then the worker dies mid-step: its
    // message is not deleted.
    let mut killed = None;
    while killed.is_none() {
        let received = notify_queue.client.receive_message().queue_url(&notify_queue.url).send().await.unwrap();
        let messages = received.messages.unwrap_or_default();
        assert!(!messages.is_empty(), "the fan-out ended before it could be killed");
        let event = sqs_event(&messages);
        let (worker, records) = (notify.clone(), store.clone());
        let run = tokio::spawn(async move { ums_aws::worker::handle_batch(event, &worker, &records).await });
        while !run.is_finished() {
            if store.notification(&notification.id).await.unwrap().unwrap().queued >= 450 {
                run.abort();
                killed = Some(messages[0].body.clone().unwrap());
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        if killed.is_none() {
            assert!(run.await.unwrap().batch_item_failures.is_empty());
            for message in &messages {
                let handle = message.receipt_handle.clone().unwrap();
                notify_queue
                    .client
                    .delete_message()
                    .queue_url(&notify_queue.url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
    eprintln!("killed after {:?}", started.elapsed());
    let at_kill = store.notification(&notification.id).await.unwrap().unwrap();
    assert!(at_kill.queued < SUBSCRIBERS as u64 && !at_kill.fanned_out, "killed halfway: {at_kill:?}");
    // A fan-out step keeps no job record: its progress is saved with the notification, and the
    // redelivered step takes up from there.
    let envelope: serde_json::Value = serde_json::from_str(&killed.unwrap()).unwrap();
    assert_eq!(envelope["job"]["type"], "fan_out");

    // SQS redelivers the killed message; both workers run until their queues are empty.
    let mut idle_rounds = 0;
    while idle_rounds < 3 {
        let (fan_outs, fan_out_failures) = notify_queue.deliver_once(&notify, &store).await;
        let (emails, email_failures) = email_queue.deliver_once(&email, &store).await;
        assert_eq!((fan_out_failures, email_failures), (0, 0));
        idle_rounds = if fan_outs + emails == 0 { idle_rounds + 1 } else { 0 };
    }

    eprintln!("queues drained after {:?}", started.elapsed());
    let mut received: BTreeMap<String, usize> = BTreeMap::new();
    for mail in sent_emails().await {
        if let Some(to) = mail.lines().find_map(|l| l.strip_prefix("To: ")).filter(|to| to.ends_with(&domain)) {
            *received.entry(to.to_string()).or_default() += 1;
        }
    }
    assert_eq!(received.len(), SUBSCRIBERS, "every subscriber got an email");
    let twice: Vec<_> = received.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "nobody got two: {twice:?}");
    let done = store.notification(&notification.id).await.unwrap().unwrap();
    assert_eq!((done.queued, done.sent, done.failed, done.fanned_out), (1000, 1000, 0, true));
    assert_eq!(notify_queue.count(&notify_queue.dead_letter_url).await, 0);
}
