//! Lambda: the auth route group (register, login, refresh, logout, confirmation, passwords, JWKS).

use ums_aws::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let sdk = lambda::sdk_config().await;
    let settings = lambda::AwsSettings::from_env()?;
    let dynamo = lambda::dynamo_client(&sdk, None);
    let state = lambda::app_state(&sdk, &settings, shared::Config::from_env()?, dynamo).await?;
    lambda::serve_http(shared::routes::auth_app(state)).await
}
