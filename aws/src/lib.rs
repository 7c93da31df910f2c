//! The AWS side of the ports: DynamoDB for the store, SQS for jobs, SES v2 for email, SSM
//! Parameter Store for the signing key; and the glue that turns Lambda events into calls of
//! the shared routers and workers. Nothing here decides behaviour: that lives in `shared`.

pub mod call_count;
pub mod dynamo;
pub mod events;
pub mod lambda;
pub mod lazy;
pub mod s3;
pub mod ses;
pub mod sqs;
pub mod webhooks;
pub mod worker;

pub use dynamo::{DynamoStore, JobClaim};
pub use lazy::Lazy;
pub use s3::{S3Photos, S3UploadForms};
pub use ses::SesMailer;
pub use sqs::SqsJobs;
