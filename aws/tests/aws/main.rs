//! The AWS adapters against the AWS emulator (moto) over HTTP. `scripts/test` starts it;
//! without `AWS_ENDPOINT_URL` these tests fail, they never skip.

mod api_on_aws;
mod aws_local;
mod deletion_on_aws;
mod deployment;
mod dynamodb_calls;
mod emulator;
mod events_on_aws;
mod fan_out_on_aws;
mod job_pipeline;
mod lambda_events;
mod notifications_under_throttling;
mod photos_on_aws;
#[path = "../../../shared/tests/support/provider.rs"]
mod provider_support;
mod queue_and_mail;
mod scale_model;
mod sdk_retries;
mod ses_stand_in;
mod store_conformance;
mod write_units;
