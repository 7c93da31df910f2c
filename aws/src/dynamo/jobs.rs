//! Idempotency records for the SQS workers: a job id is done at most once.

use anyhow::Context;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use time::OffsetDateTime;

use super::{DynamoStore, QUEUED_JOB_TTL, condition_failed, get_s, key, n, s};

/// The outcome of claiming a job for processing.
#[derive(Debug, PartialEq, Eq)]
pub enum JobClaim {
    /// Ours to do now.
    Acquired,
    /// Done before: a redelivery, to acknowledge without doing it again.
    AlreadyDone,
    /// Another worker holds it; let SQS deliver it again later.
    Busy,
}

impl DynamoStore {
    pub async fn claim_job(
        &self,
        job_id: &str,
        now: OffsetDateTime,
        lease: time::Duration,
    ) -> anyhow::Result<JobClaim> {
        let pk = format!("JOB#{job_id}");
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone(), "JOB")))
            .update_expression("SET #state = :running, lease_until = :lease, #ttl = :ttl")
            .condition_expression("attribute_not_exists(PK) OR (#state = :running AND lease_until < :now)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":running", s("running"))
            .expression_attribute_values(":lease", n((now + lease).unix_timestamp()))
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .expression_attribute_values(":ttl", n((now + QUEUED_JOB_TTL).unix_timestamp()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(JobClaim::Acquired),
            Err(e) if condition_failed::<UpdateItemError, _>(&e) => {
                let item = self.get(pk, "JOB").await?;
                let done = item.as_ref().and_then(|i| get_s(i, "state").ok()) == Some("done");
                Ok(if done { JobClaim::AlreadyDone } else { JobClaim::Busy })
            }
            Err(e) => Err(anyhow::Error::new(e).context("DynamoDB UpdateItem")),
        }
    }

    pub async fn finish_job(&self, job_id: &str) -> anyhow::Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("JOB#{job_id}"), "JOB")))
            .update_expression("SET #state = :done")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":done", s("done"))
            .send()
            .await
            .context("DynamoDB UpdateItem")?;
        Ok(())
    }

    /// Gives a failed job back, so its redelivery is tried afresh.
    pub async fn release_job(&self, job_id: &str) -> anyhow::Result<()> {
        self.delete(format!("JOB#{job_id}"), "JOB").await
    }
}
