//! Jobs on AWS: one SQS message per job, on the queue its kind names; each queue feeds its
//! own worker function.

use std::collections::BTreeMap;

use anyhow::Context;
use async_trait::async_trait;
use shared::ports::{Envelope, Job, JobQueue, Queue};

use crate::Lazy;

pub struct SqsJobs {
    client: Lazy<aws_sdk_sqs::Client>,
    urls: BTreeMap<Queue, String>,
}

impl SqsJobs {
    /// Jobs for these queues only, at these URLs.
    pub fn new(client: impl Into<Lazy<aws_sdk_sqs::Client>>, urls: BTreeMap<Queue, String>) -> Self {
        Self { client: client.into(), urls }
    }
}

#[async_trait]
impl JobQueue for SqsJobs {
    async fn enqueue(&self, job: &Job) -> anyhow::Result<()> {
        let queue = job.queue();
        let url =
            self.urls.get(&queue).with_context(|| format!("this function was given no {} queue", queue.name()))?;
        let body = serde_json::to_string(&Envelope::new(job.clone()))?;
        self.client.send_message().queue_url(url).message_body(body).send().await.context("sending the job to SQS")?;
        Ok(())
    }
}
