//! Lambda: the webhook worker. Account events from the bus, in order (a FIFO queue), delivered
//! to the operator's endpoints as Standard Webhooks (partial batch failures).

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use ums_aws::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let aws = lambda::Aws::from_env().await?;
    let worker = aws.webhook_worker()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let worker = &worker;
        async move { Ok::<_, lambda_runtime::Error>(worker.handle(event.payload).await) }
    }))
    .await
}
