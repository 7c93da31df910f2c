//! SQS → email worker → SES v2, on the emulator: delivery, redelivery, poison messages.

use shared::{
    jobs::EmailWorker,
    ports::{EmailJob, EmailMessage, Envelope, Job, JobQueue, Queue},
};
use ums_aws::SqsJobs;

use crate::emulator::{Queues, Table, sent_emails, ses_worker, sqs_event, unique};

const FROM: &str = "Blog Platform <no-reply@blog.example>";

async fn worker_deps(table: &Table) -> EmailWorker {
    ses_worker(table, FROM).await
}

fn confirmation_to(to: &str) -> Job {
    Job::SendEmail(EmailJob {
        to: to.into(),
        message: EmailMessage::ConfirmEmail { link: format!("https://blog.example/confirm?token={to}") },
    })
}

fn email_queue(queues: &Queues) -> SqsJobs {
    SqsJobs::new(queues.client.clone(), [(Queue::Email, queues.url.clone())].into())
}

fn emails_to(all: &[String], to: &str) -> usize {
    all.iter().filter(|m| m.contains(&format!("To: {to}\r\n"))).count()
}

#[tokio::test]
async fn a_queued_email_is_sent_through_ses_with_the_outbox_templates() {
    let (table, queues) = (Table::create().await, Queues::create(3).await);
    let deps = worker_deps(&table).await;
    let to = format!("{}@example.com", unique("ada"));
    email_queue(&queues).enqueue(&confirmation_to(&to)).await.unwrap();

    assert_eq!(queues.deliver_once(&deps, &table.store()).await, (1, 0));

    let sent = sent_emails().await;
    let email = sent.iter().find(|m| m.contains(&format!("To: {to}\r\n"))).expect("SES got the email");
    assert!(email.contains("Subject: Confirm your email address"));
    assert!(email.contains("multipart/alternative"));
    assert!(email.contains(&format!("https://blog.example/confirm?token={to}")));
    assert_eq!(queues.count(&queues.url).await, 0);
}

#[tokio::test]
async fn a_redelivered_job_is_done_at_most_once() {
    let (table, queues) = (Table::create().await, Queues::create(3).await);
    let deps = worker_deps(&table).await;
    let to = format!("{}@example.com", unique("twice"));
    email_queue(&queues).enqueue(&confirmation_to(&to)).await.unwrap();
    let messages = queues.client.receive_message().queue_url(&queues.url).send().await.unwrap().messages.unwrap();

    // SQS delivers the same message twice (at-least-once delivery).
    let first = ums_aws::worker::handle_batch(sqs_event(&messages), &deps, &table.store()).await;
    let second = ums_aws::worker::handle_batch(sqs_event(&messages), &deps, &table.store()).await;

    assert!(first.batch_item_failures.is_empty() && second.batch_item_failures.is_empty());
    assert_eq!(emails_to(&sent_emails().await, &to), 1);
}

#[tokio::test]
async fn only_the_failing_message_of_a_batch_is_redelivered_and_it_ends_in_the_dead_letter_queue() {
    let (table, queues) = (Table::create().await, Queues::create(2).await);
    let deps = worker_deps(&table).await;
    let to = format!("{}@example.com", unique("good"));
    email_queue(&queues).enqueue(&confirmation_to(&to)).await.unwrap();
    let poison = serde_json::to_string(&Envelope::new(confirmation_to("not an address"))).unwrap();
    queues.client.send_message().queue_url(&queues.url).message_body(poison).send().await.unwrap();
    queues.client.send_message().queue_url(&queues.url).message_body("{ not json").send().await.unwrap();

    let mut delivered = 0;
    let mut failed = 0;
    for _ in 0..4 {
        let (received, failures) = queues.deliver_once(&deps, &table.store()).await;
        delivered += received - failures;
        failed += failures;
    }

    assert_eq!(delivered, 1, "the good message went through once");
    assert_eq!(failed, 4, "each poison message was tried maxReceiveCount times");
    assert_eq!(emails_to(&sent_emails().await, &to), 1);
    assert_eq!(queues.count(&queues.url).await, 0);
    assert_eq!(queues.count(&queues.dead_letter_url).await, 2);
}
