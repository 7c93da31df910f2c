//! Jobs on AWS: one SQS message per job, on the queue its kind names; each queue feeds its
//! own worker function.

use std::collections::BTreeMap;

use anyhow::Context;
use async_trait::async_trait;
use shared::ports::{Envelope, Job, JobQueue, Queue};

use crate::Lazy;

/// The most a batch of messages may weigh (SQS: 256 KiB), with room for the entries' framing.
const BATCH_BYTES: usize = 250 * 1024;
/// Batches sent at once by `enqueue_all`.
const BATCHES_AT_ONCE: usize = 4;

pub struct SqsJobs {
    client: Lazy<aws_sdk_sqs::Client>,
    urls: BTreeMap<Queue, String>,
}

impl SqsJobs {
    /// Jobs for these queues only, at these URLs.
    pub fn new(client: impl Into<Lazy<aws_sdk_sqs::Client>>, urls: BTreeMap<Queue, String>) -> Self {
        Self { client: client.into(), urls }
    }

    fn url(&self, queue: Queue) -> anyhow::Result<&String> {
        self.urls.get(&queue).with_context(|| format!("this function was given no {} queue", queue.name()))
    }

    /// Sends up to ten messages (each job's envelope) in one call; the entries SQS did not take
    /// are sent again, once, and then are an error.
    async fn send_batch(&self, url: &str, bodies: &[String]) -> anyhow::Result<()> {
        let mut left: Vec<(usize, &String)> = bodies.iter().enumerate().collect();
        for _ in 0..2 {
            let entries = left
                .iter()
                .map(|(i, body)| {
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(*body)
                        .build()
                        .expect("id and body are set")
                })
                .collect();
            let output = self
                .client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .context("sending jobs to SQS")?;
            let refused: Vec<&str> = output.failed.iter().map(|f| f.id.as_str()).collect();
            left.retain(|(i, _)| refused.contains(&i.to_string().as_str()));
            if left.is_empty() {
                return Ok(());
            }
        }
        anyhow::bail!("SQS did not take {} of the jobs", left.len())
    }

    pub fn client(&self) -> Lazy<aws_sdk_sqs::Client> {
        self.client.clone()
    }

    pub fn urls(&self) -> Vec<String> {
        self.urls.values().cloned().collect()
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

    /// In batches of up to ten messages and 256 KB (SQS's limits), a few batches at once.
    async fn enqueue_all(&self, jobs: &[Job]) -> anyhow::Result<()> {
        let mut batches: Vec<(&String, Vec<String>, usize)> = Vec::new();
        for job in jobs {
            let url = self.url(job.queue())?;
            let body = serde_json::to_string(&Envelope::new(job.clone()))?;
            let fits = |(u, bodies, bytes): &&mut (&String, Vec<String>, usize)| {
                *u == url && bodies.len() < 10 && *bytes + body.len() <= BATCH_BYTES
            };
            match batches.iter_mut().rev().find(|b| fits(b)) {
                Some((_, bodies, bytes)) => {
                    *bytes += body.len();
                    bodies.push(body);
                }
                None => batches.push((url, vec![body.clone()], body.len())),
            }
        }
        for group in batches.chunks(BATCHES_AT_ONCE) {
            let mut sends = Vec::with_capacity(group.len());
            for (url, bodies, _) in group {
                sends.push(self.send_batch(url, bodies));
            }
            futures_util::future::join_all(sends).await.into_iter().collect::<anyhow::Result<()>>()?;
        }
        Ok(())
    }
}
