//! A worker function on AWS: an SQS batch in, partial batch failures out.
//!
//! A job is done at most once even when SQS delivers it twice: an idempotency record in
//! DynamoDB is claimed before the work and marked done after it. A failed job is released and
//! reported, so SQS redelivers it; after the queue's `maxReceiveCount` it lands in the
//! dead-letter queue.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use shared::{
    domain::photo_keys,
    jobs::Worker,
    ports::{Envelope, Job},
};
use time::OffsetDateTime;

use crate::dynamo::{DynamoStore, JobClaim};

/// How long a claimed job is held before another delivery may take it over; the same as the
/// function's timeout.
pub const JOB_LEASE: time::Duration = time::Duration::seconds(30);

pub async fn handle_batch(event: SqsEvent, worker: &dyn Worker, records: &DynamoStore) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        if let Err(e) = handle_record(record.body.as_deref().unwrap_or_default(), worker, records).await {
            tracing::warn!(message_id = %id, error = %format!("{e:#}"), "job failed; SQS will redeliver it");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failures.push(failure);
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
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

async fn handle_record(body: &str, worker: &dyn Worker, records: &DynamoStore) -> anyhow::Result<()> {
    for envelope in jobs_in(body)? {
        handle_job(envelope, worker, records).await?;
    }
    Ok(())
}

async fn handle_job(envelope: Envelope, worker: &dyn Worker, records: &DynamoStore) -> anyhow::Result<()> {
    match records.claim_job(&envelope.id, OffsetDateTime::now_utc(), JOB_LEASE).await? {
        JobClaim::AlreadyDone => {
            tracing::info!(job = %envelope.id, "job already done; redelivery acknowledged");
            return Ok(());
        }
        JobClaim::Busy => anyhow::bail!("job {} is being processed by another delivery", envelope.id),
        JobClaim::Acquired => {}
    }
    match worker.handle(&envelope.job).await {
        Ok(()) => records.finish_job(&envelope.id).await,
        Err(e) => {
            records.release_job(&envelope.id).await?;
            Err(e)
        }
    }
}
