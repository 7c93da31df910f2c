//! A worker function on AWS: an SQS batch in, partial batch failures out.
//!
//! A job is done at most once even when SQS delivers it twice: an idempotency record in
//! DynamoDB is claimed before the work and marked done after it. A failed job is released and
//! reported, so SQS redelivers it; after the queue's `maxReceiveCount` it lands in the
//! dead-letter queue.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use shared::{jobs::Worker, ports::Envelope};
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

async fn handle_record(body: &str, worker: &dyn Worker, records: &DynamoStore) -> anyhow::Result<()> {
    let envelope: Envelope = serde_json::from_str(body)?;
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
