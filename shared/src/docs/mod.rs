//! The docs route group: health, the OpenAPI document (assembled from every group's routes)
//! and Swagger UI (served from vendored assets: no internet).

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::http::{ApiError, KnownRoutes, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Blog platform: user management",
        description = "Accounts, sessions and roles of the blog platform. Errors are RFC 9457 problem details with a stable `code`."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registration, email confirmation, sessions, passwords"),
        (name = "providers", description = "Signing in with Google, Apple, GitHub or any OpenID provider"),
        (name = "users", description = "Accounts"),
        (name = "moderation", description = "Reports, flags, suspensions and their audit trail"),
        (name = "social", description = "Subscriptions, follows, and notifications to subscribers"),
        (name = "docs", description = "Health and documentation"),
        (name = "pages", description = "What emailed links open when no front end is configured: a GET shows a form, its POST acts (HTML)"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// The whole API's OpenAPI document, made from the route groups' own declarations.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::auth::routes().split_for_parts().1);
    doc.merge(crate::users::routes().split_for_parts().1);
    doc.merge(crate::moderation::routes().split_for_parts().1);
    doc.merge(crate::social::routes().split_for_parts().1);
    doc.merge(<crate::providers::ProvidersApi as OpenApi>::openapi());
    doc.merge(routes().split_for_parts().1);
    describe_problems(&mut doc);
    mark_public_operations(&mut doc);
    doc.servers = Some(vec![utoipa::openapi::Server::new("/")]);
    drop_unused_schemas(&mut doc);
    publish_event_schemas(&mut doc);
    doc
}

/// The account events' JSON Schemas (`AccountEvent` and what it refers to), which no operation
/// answers but consumers of the bus and the webhooks validate against (docs/events.md).
fn publish_event_schemas(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::{PartialSchema, ToSchema};
    let components = doc.components.get_or_insert_with(Default::default);
    let mut schemas = vec![(crate::events::AccountEvent::name().into_owned(), crate::events::AccountEvent::schema())];
    crate::events::AccountEvent::schemas(&mut schemas);
    for (name, schema) in schemas {
        components.schemas.insert(name, schema);
    }
}

/// The document as JSON with the characters of the basic plane beyond printable ASCII escaped
/// (`\u007f`): the same JSON, which YAML-based tools also read. YAML refuses raw control
/// characters (the text patterns list some) and escaped surrogates, so characters beyond the
/// basic plane stay as they are (YAML takes them raw).
pub fn document_json() -> String {
    let json = document().to_json().expect("the OpenAPI document serializes");
    let mut escaped = String::with_capacity(json.len());
    for c in json.chars() {
        match c as u32 {
            0x7f..=0xffff => escaped.push_str(&format!("\\u{:04x}", c as u32)),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// An operation without a bearer requirement says so (`security: []`): public on purpose.
fn mark_public_operations(doc: &mut utoipa::openapi::OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            operation.security.get_or_insert_with(Vec::new);
        }
    }
}

/// Schemas no operation reaches (generic pages register their item types, inlined where used).
fn drop_unused_schemas(doc: &mut utoipa::openapi::OpenApi) {
    fn refs(value: &serde_json::Value, found: &mut std::collections::BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(target)) = map.get("$ref")
                    && let Some(name) = target.strip_prefix("#/components/schemas/")
                {
                    found.insert(name.to_string());
                }
                map.values().for_each(|v| refs(v, found));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    let Some(components) = doc.components.as_mut() else { return };
    let mut used = std::collections::BTreeSet::new();
    refs(&serde_json::to_value(&doc.paths).unwrap_or_default(), &mut used);
    // Schemas reach others: follow them until nothing new is found.
    loop {
        let before = used.len();
        for name in used.clone() {
            if let Some(schema) = components.schemas.get(&name) {
                refs(&serde_json::to_value(schema).unwrap_or_default(), &mut used);
            }
        }
        if used.len() == before {
            break;
        }
    }
    components.schemas.retain(|name, _| used.contains(name));
}

/// What the shared layers and extractors add to every route's own answers: errors are
/// `application/problem+json`; a route with a JSON body can answer 400 `malformed_json`, 413
/// `payload_too_large` and 415 `unsupported_media_type`; an authenticated one 401.
fn describe_problems(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    const PROBLEM: &str = "application/problem+json";
    let problem = |description: &str| {
        let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
        RefOr::T(ResponseBuilder::new().description(description).content(PROBLEM, content).build())
    };
    for item in doc.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            let has_body = operation.request_body.is_some();
            let authenticated = operation.security.iter().flatten().any(|s| {
                serde_json::to_value(s).is_ok_and(|v| v.as_object().is_some_and(|o| o.contains_key("bearer")))
            });
            let responses = &mut operation.responses.responses;
            for (status, response) in responses.iter_mut() {
                if let (true, RefOr::T(response)) = (status.starts_with('4') || status.starts_with('5'), response)
                    && let Some(json) = response.content.shift_remove("application/json")
                {
                    response.content.insert(PROBLEM.into(), json);
                }
            }
            if has_body {
                responses
                    .entry("400".into())
                    .or_insert_with(|| problem("The body is not valid JSON (`malformed_json`)"));
                responses.entry("413".into()).or_insert_with(|| problem("The body is too large (`payload_too_large`)"));
                responses
                    .entry("415".into())
                    .or_insert_with(|| problem("The body is not JSON (`unsupported_media_type`)"));
            }
            if authenticated {
                responses.entry("401".into()).or_insert_with(|| problem("No valid access token (`unauthorized`)"));
            }
        }
    }
}

/// The document, rendered at its first request (not at a cold start), and Swagger UI's settings.
#[derive(Clone)]
pub struct DocsState {
    openapi_json: Arc<std::sync::OnceLock<String>>,
    /// Every route of the service: the docs function answers what no route matched with it.
    pub known_routes: KnownRoutes,
}

impl DocsState {
    pub fn new() -> Self {
        Self { openapi_json: Default::default(), known_routes: KnownRoutes::of(document) }
    }
}

impl Default for DocsState {
    fn default() -> Self {
        Self::new()
    }
}

crate::http::route_group! {
    DocsState;
    [health],
    [openapi_json],
    [apidocs],
    [apidocs_file],
}

/// Liveness.
#[utoipa::path(get, path = "/api/v1/health", tag = "docs", responses((status = 200, description = "Up", body = Object)))]
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// This document: the OpenAPI 3.1 description of the whole API.
#[utoipa::path(get, path = "/openapi.json", tag = "docs", responses((status = 200, description = "The OpenAPI document", body = Object)))]
pub async fn openapi_json(State(state): State<DocsState>) -> Response {
    let json = state.openapi_json.get_or_init(document_json);
    ([(header::CONTENT_TYPE, "application/json")], json.clone()).into_response()
}

/// Swagger UI: redirects to its page.
#[utoipa::path(
    get, path = "/apidocs", tag = "docs",
    responses((status = 303, description = "See `apidocs/index.html`", headers(("location" = String, description = "apidocs/index.html"))))
)]
pub async fn apidocs() -> Response {
    // Relative, so a stage prefix in front of the path is kept.
    (StatusCode::SEE_OTHER, [(header::LOCATION, HeaderValue::from_static("apidocs/index.html"))]).into_response()
}

/// Swagger UI's page and assets.
#[utoipa::path(
    get, path = "/apidocs/{file}", tag = "docs",
    params(("file" = String, Path, description = "index.html, or one of its assets",
        example = "index.html",
        pattern = "^(index\\.html|index\\.css|swagger-ui\\.css|swagger-ui-(bundle|standalone-preset)\\.js|swagger-initializer\\.js|oauth2-redirect\\.html|favicon-(16x16|32x32)\\.png)$")),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/html"), (String = "text/css"), (String = "text/javascript"), (String = "image/png")
        )),
        (status = 404, description = "No such file", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn apidocs_file(Path(file): Path<String>) -> Result<Response, ApiError> {
    let (content_type, bytes) = swagger_ui_file(&file).ok_or(ApiError::NotFound)?;
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}

/// Swagger UI's settings: this service's document, relative to /apidocs/index.html so that the
/// page works behind an API Gateway stage too.
const SWAGGER_INITIALIZER: &str = r##"window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "../openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
  });
};
"##;

/// One of Swagger UI's files (shared/build.rs takes them from its vendored distribution).
fn swagger_ui_file(name: &str) -> Option<(&'static str, &'static [u8])> {
    macro_rules! dist {
        ($file:literal) => {
            include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui/", $file)).as_slice()
        };
    }
    Some(match name {
        "index.html" => ("text/html; charset=utf-8", dist!("index.html")),
        "oauth2-redirect.html" => ("text/html; charset=utf-8", dist!("oauth2-redirect.html")),
        "index.css" => ("text/css", dist!("index.css")),
        "swagger-ui.css" => ("text/css", dist!("swagger-ui.css")),
        "swagger-ui-bundle.js" => ("text/javascript", dist!("swagger-ui-bundle.js")),
        "swagger-ui-standalone-preset.js" => ("text/javascript", dist!("swagger-ui-standalone-preset.js")),
        "swagger-initializer.js" => ("text/javascript", SWAGGER_INITIALIZER.as_bytes()),
        "favicon-16x16.png" => ("image/png", dist!("favicon-16x16.png")),
        "favicon-32x32.png" => ("image/png", dist!("favicon-32x32.png")),
        _ => return None,
    })
}
