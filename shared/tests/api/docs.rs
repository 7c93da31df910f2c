use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PASSWORD, Tokens, spawn_app, spawn_app_in};

#[tokio::test]
async fn the_openapi_document_lists_every_auth_route() {
    let app = spawn_app().await;

    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();

    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for (path, method) in [
        ("/api/v1/auth/register/{role}", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/auth/send_confirm_email", "post"),
        ("/api/v1/auth/confirm_email", "get"),
        ("/api/v1/auth/send_reset_password_email", "post"),
        ("/api/v1/auth/reset_password", "post"),
        ("/api/v1/auth/change_password", "post"),
        ("/.well-known/openid-configuration", "get"),
        ("/.well-known/jwks.json", "get"),
        ("/api/v1/user", "get"),
        ("/api/v1/health", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is not documented");
    }
}

#[tokio::test]
async fn swagger_ui_is_served_without_the_internet() {
    let app = spawn_app().await;

    let entry = app.client.get(app.url("/apidocs")).send().await.unwrap();
    assert_eq!(entry.status(), StatusCode::SEE_OTHER);
    assert_eq!(entry.headers()["location"], "apidocs/index.html", "relative, so a stage prefix is kept");
    let page = app.client.get(app.url("/apidocs/index.html")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("swagger-ui"));
    let bundle = app.client.get(app.url("/apidocs/swagger-ui-bundle.js")).send().await.unwrap();
    assert_eq!(bundle.status(), StatusCode::OK);
    assert!(bundle.bytes().await.unwrap().len() > 100_000);
    let initializer = app.client.get(app.url("/apidocs/swagger-initializer.js")).send().await.unwrap();
    assert!(initializer.text().await.unwrap().contains("../openapi.json"), "the page loads this service's document");
    let health: Value = app.client.get(app.url("/api/v1/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_accounts_sessions_and_keys_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // Each app gets a new port; the issuer, like a deployment's public URL, stays the same.
    let same_issuer = |config: &mut shared::Config| config.jwt.issuer = "https://users.blog.example".into();
    let before = spawn_app_in(dir.path(), same_issuer).await;
    let tokens = before.signed_up("author", "ada@example.com").await;
    drop(before);

    let after = spawn_app_in(dir.path(), same_issuer).await;

    // The token was signed by the key generated on first run; it still verifies.
    assert_eq!(after.get_me(&tokens.access).await.status(), StatusCode::OK);
    let renewed = Tokens::from(after.post_refresh(&tokens.refresh).await).await;
    assert_eq!(after.get_me(&renewed.access).await.status(), StatusCode::OK);
    assert_eq!(after.post_login("ada@example.com", PASSWORD).await.status(), StatusCode::OK);
}
