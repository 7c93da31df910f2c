//! Lambda: the moderation route group.

use ums_aws::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let aws = lambda::Aws::from_env().await?;
    let state = aws.moderation_state().await?;
    lambda::serve_group(shared::moderation::router(state), &aws.config, &Default::default()).await
}
