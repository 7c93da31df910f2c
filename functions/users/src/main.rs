//! Lambda: the users route group.

use ums_aws::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let aws = lambda::Aws::from_env().await?;
    let state = aws.users_state().await?;
    lambda::serve_group(shared::users::router(state), &aws.config, &Default::default()).await
}
