//! A function's process: its logs, and serving a route group to API Gateway.

use shared::Config;

/// One JSON object per line, no colours: what CloudWatch Logs wants. `RUST_LOG` takes levels
/// per target (`info`, `warn,ums_aws=debug`), without `EnvFilter`'s span and regex matching,
/// which a function does not need and would carry a regex engine for.
pub fn init_tracing() {
    use tracing_subscriber::{filter::Targets, layer::SubscriberExt as _, util::SubscriberInitExt as _};
    let filter: Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let logs = tracing_subscriber::fmt::layer().json().with_ansi(false).without_time().with_current_span(false);
    tracing_subscriber::registry().with(logs).with(filter).init();
}

/// Serves one route group to API Gateway (HTTP API, payload 2.0), with the layers every
/// deployment shares; `known` answers what none of its routes matched (see `KnownRoutes`).
pub async fn serve_group(
    routes: axum::Router,
    config: &Config,
    known: &shared::http::KnownRoutes,
) -> Result<(), lambda_http::Error> {
    let app = shared::http::finish(routes, config.limits.max_body_bytes, known);
    let service = tower::ServiceBuilder::new().map_request(from_api_gateway).service(app);
    lambda_http::run(service).await
}

/// An API Gateway request as the routers take it: the stage out of its path, and where it
/// came from (`requestContext.http.sourceIp`, the caller's address as API Gateway saw it) as
/// its `Source`, which every limit counts per and the security activity shows.
pub fn from_api_gateway(request: lambda_http::Request) -> lambda_http::Request {
    use lambda_http::RequestExt as _;
    let mut request = strip_stage(request);
    let source_ip = match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
        _ => None,
    };
    if let Some(ip) = source_ip.filter(|ip| !ip.is_empty()) {
        request.extensions_mut().insert(shared::http::Source(ip));
    }
    request
}

/// API Gateway puts a named stage in front of the path (`/prod/api/v1/...`), and lambda_http
/// keeps it; the routers know only `/api/v1/...`. The `$default` stage adds nothing.
pub fn strip_stage(mut request: lambda_http::Request) -> lambda_http::Request {
    use lambda_http::RequestExt as _;
    let stage = match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) => context.stage.clone(),
        _ => None,
    };
    let Some(stage) = stage.filter(|s| s != "$default") else {
        return request;
    };
    let prefix = format!("/{stage}");
    let uri = request.uri();
    if let Some(rest) = uri.path().strip_prefix(&prefix).filter(|rest| rest.is_empty() || rest.starts_with('/')) {
        let rest = if rest.is_empty() { "/" } else { rest };
        let path_and_query = match uri.query() {
            Some(query) => format!("{rest}?{query}"),
            None => rest.to_string(),
        };
        let mut parts = uri.clone().into_parts();
        if let Ok(pq) = path_and_query.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(new_uri) = axum::http::Uri::from_parts(parts) {
                *request.uri_mut() = new_uri;
            }
        }
    }
    request
}
