//! Lambda: the notify worker. Fans each notification on the notify queue out to the author's
//! subscribers, a page per job, one email job each (partial batch failures).

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use ums_aws::{lambda, worker};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let aws = lambda::Aws::from_env().await?;
    let (notify, records) = aws.notify_worker().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let (notify, records) = (&notify, &records);
        async move { Ok::<_, lambda_runtime::Error>(worker::handle_batch(event.payload, notify, records).await) }
    }))
    .await
}
