//! Lambda: the social route group.

use ums_aws::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let aws = lambda::Aws::from_env().await?;
    let state = aws.social_state().await?;
    lambda::serve_group(shared::social::router(state), &aws.config, &Default::default()).await
}
