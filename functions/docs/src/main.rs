//! Lambda: the docs route group (health, the OpenAPI document, Swagger UI). No AWS client.

use shared::docs::{self, DocsState};
use ums_aws::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let config = shared::Config::from_env()?;
    let state = DocsState::new();
    let known = state.known_routes.clone();
    lambda::serve_group(docs::router(state), &config, &known).await
}
