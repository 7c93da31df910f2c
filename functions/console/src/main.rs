//! Lambda: the staff console route group (server-rendered pages for moderators and admins):
//! its own function, so its templates weigh on no other.

use ums_aws::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let aws = lambda::Aws::from_env().await?;
    let state = aws.console_state().await?;
    lambda::serve_group(shared::console::router(state), &aws.config, &Default::default()).await
}
