//! HTTP: the problem+json error type, extractors, the caller, and the layers every
//! deployment shares. Route groups build on this; it knows nothing of any group.

mod bearer;
mod device;
pub(crate) mod route_group;
pub(crate) use route_group::route_group;
mod error;
mod page;
pub mod pages;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request},
    http::{HeaderValue, Method, Uri, header},
    response::{IntoResponse, Response},
};
use tower_http::{catch_panic::CatchPanicLayer, set_header::SetResponseHeaderLayer, trace::TraceLayer};

pub use bearer::{EnrollingUser, MaybeCaller};
pub use device::Device;
pub use error::{ApiError, FieldError, Problem};
pub use page::{Page, PageQuery, Paging, page_limit};

pub use crate::identity::{Access, AuthUser, Source};

/// A JSON request body whose rejections are problem+json.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct JsonBody<T>(pub T);

/// A query string whose rejections are problem+json.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct QueryParams<T>(pub T);

/// A path parameter whose rejections are problem+json.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct PathParam<T>(pub T);

/// A raw request body (for optional JSON bodies) whose rejections, the size limit's 413
/// included, are problem+json.
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(axum::body::Bytes::from_request(request, state).await?))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(source) = parts.extensions.get::<Source>() {
            return Ok(source.clone());
        }
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
        Ok(Source(peer.map_or_else(|| "unknown".to_string(), |info| info.0.ip().to_string())))
    }
}

/// Every route of the service (method, path template), from its OpenAPI document. On AWS the
/// docs function takes every request no route matched (the HTTP API's `$default` route) and
/// answers 405 for a known path under another method, 404 otherwise, as the local server
/// (where axum's own routing tells the two apart) does. The other functions, and the local
/// server, pass none: a request reaches them only on a path they serve.
#[derive(Clone, Debug, Default)]
pub struct KnownRoutes {
    routes: Arc<std::sync::OnceLock<Vec<Route>>>,
    document: Option<fn() -> utoipa::openapi::OpenApi>,
}

impl KnownRoutes {
    /// The routes of the document `document` makes, read from it at the first request no
    /// route matched, not at a cold start.
    pub fn of(document: fn() -> utoipa::openapi::OpenApi) -> Self {
        Self { routes: Default::default(), document: Some(document) }
    }

    fn routes(&self) -> &[Route] {
        self.routes.get_or_init(|| self.document.map(|document| routes_of(&document())).unwrap_or_default())
    }

    /// The methods the path is served under (a `{parameter}` segment matches any one segment).
    fn methods_of(&self, path: &str) -> Vec<&Method> {
        let segments: Vec<&str> = path.split('/').collect();
        let matches = |template: &Vec<String>| {
            template.len() == segments.len()
                && template.iter().zip(&segments).all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
        };
        self.routes().iter().filter(|(_, template)| matches(template)).map(|(method, _)| method).collect()
    }

    fn unmatched(&self, method: &Method, uri: &Uri) -> Response {
        let allowed = self.methods_of(uri.path());
        if allowed.is_empty() || allowed.contains(&method) {
            return ApiError::NotFound.into_response();
        }
        let allow = allowed.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
        let mut response = ApiError::MethodNotAllowed.into_response();
        if let Ok(value) = HeaderValue::from_str(&allow) {
            response.headers_mut().insert(header::ALLOW, value);
        }
        response
    }
}

/// A method and the segments of a path template.
type Route = (Method, Vec<String>);

fn routes_of(document: &utoipa::openapi::OpenApi) -> Vec<Route> {
    let mut routes = Vec::new();
    for (path, item) in &document.paths.paths {
        let segments: Vec<String> = path.split('/').map(str::to_string).collect();
        let methods = [
            (Method::GET, item.get.is_some()),
            (Method::PUT, item.put.is_some()),
            (Method::POST, item.post.is_some()),
            (Method::DELETE, item.delete.is_some()),
            (Method::PATCH, item.patch.is_some()),
        ];
        for (method, present) in methods {
            if present {
                routes.push((method, segments.clone()));
            }
        }
    }
    routes
}

/// The layers every deployment shares, around one group's routes (a Lambda function) or all
/// of them (the local server): problem+json for unknown routes, wrong methods, oversized
/// bodies and panics; a request log without query strings (they can carry tokens).
pub fn finish(routes: Router, max_body_bytes: usize, known: &KnownRoutes) -> Router {
    let known = known.clone();
    routes
        .fallback(move |method: Method, uri: Uri| {
            let known = known.clone();
            async move { known.unmatched(&method, &uri) }
        })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(max_body_bytes))
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
                })
                // Every response is logged above, and internal errors log their cause; a flood
                // of 503 `server_busy` must not become a flood of error lines.
                .on_failure(()),
        )
        // No answer of the service is ever to be sniffed into another type than it says (a
        // JSON error rendered as HTML, a photo as a script).
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}
