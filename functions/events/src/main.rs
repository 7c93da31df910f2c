//! Lambda: the events function. Each batch of the table's stream, in order, made into account
//! events and put on the EventBridge bus; the first record that fails is reported, and the
//! stream retries from it.

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{LambdaEvent, service_fn};
use ums_aws::{events, lambda};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let aws = lambda::Aws::from_env().await?;
    let (publisher, accounts) = aws.event_publisher()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Event>| {
        let (publisher, accounts) = (&publisher, &accounts);
        async move { Ok::<_, lambda_runtime::Error>(events::handle_stream(event.payload, publisher, accounts).await) }
    }))
    .await
}
