//! Health, the OpenAPI document and Swagger UI (served from vendored assets: no internet).

use axum::{Json, Router, routing::get};
use serde_json::json;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_swagger_ui::SwaggerUi;

use super::{auth, users};
use crate::app::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Blog platform: user management",
        description = "Accounts, sessions and roles of the blog platform. Errors are RFC 9457 problem details with a stable `code`."
    ),
    paths(
        auth::register, auth::login, auth::refresh, auth::logout, auth::send_confirm_email,
        auth::confirm_email, auth::send_reset_password_email, auth::reset_password,
        auth::change_password, auth::jwks, users::me, health,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registration, email confirmation, sessions, passwords"),
        (name = "users", description = "Accounts"),
        (name = "docs", description = "Health and documentation"),
    )
)]
pub struct ApiDoc;

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

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/health", get(health))
        .merge(SwaggerUi::new("/apidocs").url("/openapi.json", ApiDoc::openapi()))
}

/// Liveness.
#[utoipa::path(get, path = "/api/v1/health", tag = "docs", responses((status = 200, description = "Up", body = Object)))]
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}
