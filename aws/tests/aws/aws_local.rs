//! The AWS path as `scripts/aws-local` runs it: its queue bridge does what Lambda's SQS event
//! source does. Needs `scripts/aws-local` running (its `env.json` says where: in `AWS_LOCAL_DIR`,
//! `.aws-local` unless set). The AWS-path run (scripts/test) runs it; the in-process one leaves
//! it out (`.config/nextest.toml`).

use std::time::Duration;

use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use serde_json::Value;
use shared::ports::{EmailJob, EmailMessage, Envelope, Job};

use crate::emulator::unique;

fn aws_local() -> Value {
    let dir =
        std::env::var("AWS_LOCAL_DIR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../.aws-local").into());
    let path = format!("{dir}/env.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}: start scripts/aws-local first"));
    serde_json::from_str(&text).unwrap()
}

async fn waiting_in(sqs: &aws_sdk_sqs::Client, url: &str) -> usize {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    attributes[&QueueAttributeName::ApproximateNumberOfMessages].parse().unwrap()
}

#[tokio::test]
async fn a_poison_job_reaches_the_dead_letter_queue_and_the_rest_of_its_batch_is_delivered() {
    let env = aws_local();
    let credentials = aws_sdk_sqs::config::Credentials::new("testing", "testing", None, None, "emulator");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(ums_aws::lambda::http_client())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(env["AWS_ENDPOINT_URL"].as_str().unwrap())
        .credentials_provider(credentials)
        .load()
        .await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = env["UMS_EMAIL_QUEUE_URL"].as_str().unwrap();
    let dead_letters = format!("{queue}-dlq");
    let before = waiting_in(&sqs, &dead_letters).await;
    let recipients: Vec<String> = (0..2).map(|i| format!("{}-{i}@example.com", unique("batch"))).collect();
    let mut entries =
        vec![SendMessageBatchRequestEntry::builder().id("poison").message_body("not a job").build().unwrap()];
    for (i, to) in recipients.iter().enumerate() {
        let job = Job::SendEmail(EmailJob {
            to: to.clone(),
            message: EmailMessage::ResetPassword { link: format!("https://blog.example/reset?token=t{i}") },
        });
        let body = serde_json::to_string(&Envelope::new(job)).unwrap();
        entries.push(SendMessageBatchRequestEntry::builder().id(format!("job{i}")).message_body(body).build().unwrap());
    }
    sqs.send_message_batch().queue_url(queue).set_entries(Some(entries)).send().await.unwrap();

    let outbox = std::path::PathBuf::from(env["outbox"].as_str().unwrap());
    let delivered = |to: &str| {
        std::fs::read_dir(&outbox)
            .unwrap()
            .flatten()
            .any(|f| std::fs::read_to_string(f.path()).unwrap_or_default().contains(&format!("To: {to}\r\n")))
    };
    let mut waited = 0;
    while !(recipients.iter().all(|to| delivered(to)) && waiting_in(&sqs, &dead_letters).await > before) {
        assert!(
            waited < 120,
            "after 60 s: delivered {:?}, dead letters {}",
            recipients.iter().map(|to| delivered(to)).collect::<Vec<_>>(),
            waiting_in(&sqs, &dead_letters).await - before
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        waited += 1;
    }
    assert_eq!(waiting_in(&sqs, &dead_letters).await, before + 1, "the poison, and only it, is a dead letter");
}
