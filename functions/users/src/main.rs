//! Lambda: the users route group.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ums_aws::lambda::run_api(shared::routes::users_app).await
}
