//! The job queue on AWS: one SQS message per job, read by a worker Lambda.

use anyhow::Context;
use async_trait::async_trait;
use shared::{
    jobs::Envelope,
    ports::{Job, JobQueue},
};

pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn enqueue(&self, job: &Job) -> anyhow::Result<()> {
        let body = serde_json::to_string(&Envelope::new(job.clone()))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .context("sending the job to SQS")?;
        Ok(())
    }
}
