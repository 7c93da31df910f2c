//! Lambda: the providers route group (signing in with Google, Apple, GitHub or any OpenID
//! provider): its own function, so the protocol libraries weigh on no other.

use ums_aws::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let aws = lambda::Aws::from_env().await?;
    let state = aws.providers_state().await?;
    lambda::serve_group(shared::providers::router(state), &aws.config, &Default::default()).await
}
