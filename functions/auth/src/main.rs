//! Lambda: the auth route group (register, login, refresh, logout, confirmation, passwords, JWKS).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ums_aws::lambda::run_api(shared::routes::auth_app).await
}
