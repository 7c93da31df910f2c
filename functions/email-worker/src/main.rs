//! Lambda: the email worker. Sends the jobs of the email queue through SES v2 (partial batch
//! failures).

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use ums_aws::{lambda, worker};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let aws = lambda::Aws::from_env().await?;
    let (email, records) = aws.email_worker();
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let (email, records) = (&email, &records);
        async move { Ok::<_, lambda_runtime::Error>(worker::handle_batch(event.payload, email, records).await) }
    }))
    .await
}
