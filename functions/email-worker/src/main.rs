//! Lambda: the email worker. Sends the jobs of the email queue (transactional) and of the
//! delivery queue (subscribers' copies of notifications) through SES v2, paced to the account's
//! rate; throttled ones are put back for later (partial batch failures).

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use ums_aws::{lambda, worker};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let aws = lambda::Aws::from_env().await?;
    let (email, records, redelivery) = aws.email_worker()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let (email, records, redelivery) = (&email, &records, &redelivery);
        async move {
            let response = worker::handle_batch_with(event.payload, email, records, Some(redelivery)).await;
            Ok::<_, lambda_runtime::Error>(response)
        }
    }))
    .await
}
