//! Lambda: the auth route group (register, login, refresh, logout, confirmation, passwords, JWKS).

use ums_aws::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let aws = lambda::Aws::from_env().await?;
    let state = aws.auth_state().await?;
    lambda::serve_group(shared::auth::router(state), &aws.config, &Default::default()).await
}
