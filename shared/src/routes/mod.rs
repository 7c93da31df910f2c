//! HTTP: one router per route group, the common layers, and the OpenAPI document.

pub mod auth;
pub mod docs;
pub mod users;

use std::time::Duration;

use axum::{
    Router,
    extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request},
    response::{IntoResponse, Response},
};
use tower_http::{catch_panic::CatchPanicLayer, trace::TraceLayer};

use crate::{app::AppState, error::ApiError};

/// A JSON request body whose rejections are problem+json.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct JsonBody<T>(pub T);

/// A query string whose rejections are problem+json.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct QueryParams<T>(pub T);

/// Every group's routes in one app, as the local server runs them.
pub fn local_router(state: AppState) -> Router {
    let routes = Router::new().merge(auth::router()).merge(users::router()).merge(docs::router());
    finish(routes, state)
}

/// The auth route group alone, as its Lambda function serves it.
pub fn auth_app(state: AppState) -> Router {
    finish(auth::router(), state)
}

/// The users route group alone, as its Lambda function serves it.
pub fn users_app(state: AppState) -> Router {
    finish(users::router(), state)
}

/// The layers every deployment shares: problem+json for unknown routes, wrong methods,
/// oversized bodies and panics; a request log without query strings (they can carry tokens).
pub fn finish(routes: Router<AppState>, state: AppState) -> Router {
    let max_body = state.config.limits.max_body_bytes;
    routes
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CatchPanicLayer::custom(|_panic: Box<dyn std::any::Any + Send>| {
            ApiError::Internal(anyhow::anyhow!("a handler panicked")).into_response()
        }))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
                })
                .on_response(|response: &Response, latency: Duration, _span: &tracing::Span| {
                    tracing::info!(status = response.status().as_u16(), latency_ms = latency.as_millis() as u64, "response");
                }),
        )
        .with_state(state)
}
