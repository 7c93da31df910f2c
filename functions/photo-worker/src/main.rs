//! Lambda: the photo worker. Processes the uploads S3 announces on the photo queue (partial
//! batch failures).

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use ums_aws::{lambda, worker};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let aws = lambda::Aws::from_env().await?;
    let (photo, records) = aws.photo_worker()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let (photo, records) = (&photo, &records);
        async move { Ok::<_, lambda_runtime::Error>(worker::handle_batch(event.payload, photo, records).await) }
    }))
    .await
}
