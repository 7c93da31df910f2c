//! The floor a function's cold start is compared with: a `lambda_http` binary that answers
//! every request with "hello", built with the same profile in the same run.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_request: Request| async { Ok::<_, Error>(Response::new(Body::from("hello"))) })).await
}
