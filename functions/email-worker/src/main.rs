//! Lambda: sends the queued emails through SES v2, fed by SQS (partial batch failures).

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use ums_aws::{lambda, worker};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let sdk = lambda::sdk_config().await;
    let settings = lambda::AwsSettings::from_env()?;
    let (deps, store) = lambda::worker(&sdk, &settings, &shared::Config::from_env()?);
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let (deps, store) = (&deps, &store);
        async move { Ok::<_, lambda_runtime::Error>(worker::handle_batch(event.payload, deps, store).await) }
    }))
    .await
}
