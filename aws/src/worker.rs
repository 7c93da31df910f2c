//! A worker function on AWS: an SQS batch in, partial batch failures out.
//!
//! A job is done at most once even when SQS delivers it twice: an idempotency record in
//! DynamoDB is claimed before the work and marked done after it (except for jobs whose own
//! records make a second run harmless: `Job::is_self_idempotent`). A failed job is released and
//! reported, so SQS redelivers it; after the queue's `maxReceiveCount` it lands in the
//! dead-letter queue, and the worker is told first (`Worker::give_up`). A job that was asked to
//! slow down (a throttled email, [`Backoff`]) is hidden for a jittered, growing while
//! (`ChangeMessageVisibility`) and reported, so it comes back later without being failed.

use std::collections::BTreeMap;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::future::join_all;
use shared::{
    domain::photo_keys,
    jobs::{Backoff, Worker},
    ports::{Envelope, Job},
};
use time::OffsetDateTime;

use crate::{
    Lazy,
    dynamo::{DynamoStore, JobClaim},
};

/// How long a claimed job is held before another delivery may take it over; the same as the
/// function's timeout.
pub const JOB_LEASE: time::Duration = time::Duration::seconds(30);
/// Receives after which SQS moves a message to its dead-letter queue: the template's
/// `maxReceiveCount` for the email, photo and notify queues (the deployment test holds it).
pub const MAX_RECEIVES: u32 = 5;

/// What a worker needs to put a message back for later: the SQS client and its queues' URLs.
pub struct Redelivery {
    sqs: Lazy<aws_sdk_sqs::Client>,
    /// Each queue's URL by its name (the last part of the URL and of the ARN).
    urls: BTreeMap<String, String>,
}

impl Redelivery {
    pub fn new(sqs: impl Into<Lazy<aws_sdk_sqs::Client>>, urls: impl IntoIterator<Item = String>) -> Self {
        let urls = urls.into_iter().map(|url| (url.rsplit('/').next().unwrap_or_default().to_string(), url)).collect();
        Self { sqs: sqs.into(), urls }
    }

    /// Hides the message for `delay` (SQS hides one for 12 hours at most).
    async fn back_off(&self, record: &SqsMessage, delay: std::time::Duration) -> anyhow::Result<()> {
        let arn = record.event_source_arn.as_deref().unwrap_or_default();
        let name = arn.rsplit(':').next().unwrap_or_default();
        let url = self.urls.get(name).ok_or_else(|| anyhow::anyhow!("no URL for the queue {arn}"))?;
        self.sqs
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(record.receipt_handle.clone().unwrap_or_default())
            .visibility_timeout(delay.as_secs().clamp(1, 12 * 3600) as i32)
            .send()
            .await?;
        Ok(())
    }
}

fn receive_count(record: &SqsMessage) -> u32 {
    record.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1)
}

/// Does a batch; see the module's comment. Without `redelivery`, a backed-off job is simply
/// reported failed (it comes back after the queue's visibility timeout).
pub async fn handle_batch(event: SqsEvent, worker: &dyn Worker, records: &DynamoStore) -> SqsBatchResponse {
    handle_batch_with(event, worker, records, None).await
}

pub async fn handle_batch_with(
    event: SqsEvent,
    worker: &dyn Worker,
    records: &DynamoStore,
    redelivery: Option<&Redelivery>,
) -> SqsBatchResponse {
    // Each record's jobs, or why it cannot be read.
    let mut failed = vec![false; event.records.len()];
    let mut backed_off: Vec<Option<std::time::Duration>> = vec![None; event.records.len()];
    let mut pending: Vec<(usize, Envelope)> = Vec::new();
    for (index, record) in event.records.iter().enumerate() {
        match jobs_in(record.body.as_deref().unwrap_or_default()) {
            Ok(envelopes) => pending.extend(envelopes.into_iter().map(|e| (index, e))),
            Err(e) => {
                tracing::warn!(message_id = ?record.message_id, error = %format!("{e:#}"), "a message that is no job");
                failed[index] = true;
            }
        }
    }
    let claims = join_all(pending.iter().map(|(_, envelope)| claim(envelope, records))).await;
    let mut run: Vec<(usize, Envelope, bool)> = Vec::new();
    for ((index, envelope), claim) in pending.into_iter().zip(claims) {
        match claim {
            Ok(Claimed::Run { recorded }) => run.push((index, envelope, recorded)),
            Ok(Claimed::Done) => {}
            Err(e) => {
                tracing::warn!(job = %envelope.id, error = %format!("{e:#}"), "job not taken; SQS will redeliver it");
                failed[index] = true;
            }
        }
    }
    let jobs: Vec<Job> = run.iter().map(|(_, envelope, _)| envelope.job.clone()).collect();
    let results = worker.handle_batch(&jobs).await;
    for ((index, envelope, recorded), result) in run.into_iter().zip(results) {
        let record = &event.records[index];
        let settled = match result {
            Ok(()) if recorded => records.finish_job(&envelope.id).await,
            Ok(()) => Ok(()),
            Err(e) => {
                if recorded && let Err(release) = records.release_job(&envelope.id).await {
                    tracing::warn!(job = %envelope.id, error = %format!("{release:#}"), "job record not released");
                }
                if let Some(backoff) = Backoff::of(&e) {
                    tracing::info!(job = %envelope.id, error = %format!("{e:#}"), "job backed off");
                    backed_off[index] = Some(backoff.delay(receive_count(record)));
                } else if receive_count(record) >= MAX_RECEIVES {
                    tracing::error!(job = %envelope.id, error = %format!("{e:#}"), "job failed for good; SQS moves it to the dead-letter queue");
                    if let Err(e) = worker.give_up(&envelope.job).await {
                        tracing::error!(job = %envelope.id, error = %format!("{e:#}"), "giving up on the job failed");
                    }
                } else {
                    tracing::warn!(job = %envelope.id, error = %format!("{e:#}"), "job failed; SQS will redeliver it");
                }
                Err(e)
            }
        };
        if settled.is_err() {
            failed[index] = true;
        }
    }
    let mut failures = Vec::new();
    for (index, record) in event.records.iter().enumerate() {
        if !failed[index] {
            continue;
        }
        if let Some(delay) = backed_off[index]
            && let Some(redelivery) = redelivery
            && let Err(e) = redelivery.back_off(record, delay).await
        {
            tracing::warn!(message_id = ?record.message_id, error = %format!("{e:#}"), "message not hidden for its backoff");
        }
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = record.message_id.clone().unwrap_or_default();
        failures.push(failure);
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

enum Claimed {
    /// To do now; `recorded` if its idempotency record was claimed for it.
    Run { recorded: bool },
    /// Done before: a redelivery, to acknowledge without doing it again.
    Done,
}

async fn claim(envelope: &Envelope, records: &DynamoStore) -> anyhow::Result<Claimed> {
    if envelope.job.is_self_idempotent() {
        return Ok(Claimed::Run { recorded: false });
    }
    match records.claim_job(&envelope.id, OffsetDateTime::now_utc(), JOB_LEASE).await? {
        JobClaim::AlreadyDone => {
            tracing::info!(job = %envelope.id, "job already done; redelivery acknowledged");
            Ok(Claimed::Done)
        }
        JobClaim::Busy => anyhow::bail!("job {} is being processed by another delivery", envelope.id),
        JobClaim::Acquired => Ok(Claimed::Run { recorded: true }),
    }
}

/// The jobs a message carries: one envelope we queued, or the uploads an S3 notification
/// announces (S3 sends those to the photo queue itself; its test message carries none).
pub fn jobs_in(body: &str) -> anyhow::Result<Vec<Envelope>> {
    let value: serde_json::Value = serde_json::from_str(body)?;
    if value.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    if value.get("Records").is_none() {
        return Ok(vec![serde_json::from_value(value)?]);
    }
    // Only the key is read: the rest of a notification's shape varies (and is not ours).
    let records = value["Records"].as_array().ok_or_else(|| anyhow::anyhow!("Records is not a list"))?;
    records
        .iter()
        .map(|record| {
            let key = url_decoded(record["s3"]["object"]["key"].as_str().unwrap_or_default());
            let (user_id, upload_id) =
                photo_keys::parse_upload(&key).ok_or_else(|| anyhow::anyhow!("not an upload key: {key:?}"))?;
            Ok(Envelope::new(Job::ProcessPhoto { user_id, upload_id }))
        })
        .collect()
}

/// A notification's key, which S3 URL-encodes as a form value (`+` for a space).
fn url_decoded(key: &str) -> String {
    let mut bytes = Vec::with_capacity(key.len());
    let mut rest = key.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        let hex = tail.get(..2).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (byte, hex) {
            (b'%', Some(decoded)) => {
                bytes.push(decoded);
                rest = &tail[2..];
                continue;
            }
            (b'+', _) => bytes.push(b' '),
            _ => bytes.push(byte),
        }
        rest = tail;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
