//! A user keeps their profile up to date, and cannot slip anything else in with it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};

impl TestApp {
    async fn put_me(&self, access_token: &str, body: &Value) -> reqwest::Response {
        self.client.put(self.url("/api/v1/user")).bearer_auth(access_token).json(body).send().await.unwrap()
    }
}

#[tokio::test]
async fn a_partial_update_changes_only_what_it_names() {
    let app = spawn_app().await;
    let tokens = app.signed_up("author", "ada@example.com").await;

    let response = app.put_me(&tokens.access, &json!({ "nickname": "countess", "bio": "Notes on the engine." })).await;
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = app.get_me(&tokens.access).await.json().await.unwrap();
    assert_eq!((me["first_name"].as_str(), me["nickname"].as_str()), (Some("Ada"), Some("countess")));
    assert_eq!(me["bio"], "Notes on the engine.");

    let response = app.put_me(&tokens.access, &json!({ "nickname": null, "last_name": "  King  " })).await;
    let me: Value = response.json().await.unwrap();
    assert_eq!((me["nickname"].clone(), me["last_name"].as_str()), (Value::Null, Some("King")));
    assert_eq!(me["bio"], "Notes on the engine.", "what was not named stays");
}

#[tokio::test]
async fn role_status_email_and_secrets_cannot_be_slipped_into_a_profile_update() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;

    let body = json!({
        "bio": "harmless", "role": "admin", "status": "active", "email": "other@example.com",
        "password_hash": "$argon2id$...", "email_confirmed": true
    });
    let problem =
        assert_problem(app.put_me(&tokens.access, &body).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            .await;

    let refused: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(refused, ["email", "email_confirmed", "password_hash", "role", "status"]);
    let me: Value = app.get_me(&tokens.access).await.json().await.unwrap();
    assert_eq!((me["role"].as_str(), me["bio"].clone()), (Some("reader"), Value::Null), "nothing changed");
}

#[tokio::test]
async fn invalid_values_are_refused_field_by_field() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;

    let body = json!({ "first_name": " ", "last_name": "L".repeat(101), "nickname": 7, "bio": "Hi\u{202E}there" });
    let problem =
        assert_problem(app.put_me(&tokens.access, &body).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            .await;
    let codes: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(codes, [("nickname", "invalid_type")]);

    let body = json!({ "first_name": " ", "last_name": "L".repeat(101), "bio": "Hi\u{202E}there" });
    let problem =
        assert_problem(app.put_me(&tokens.access, &body).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            .await;
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["first_name", "last_name", "bio"]);
}

#[tokio::test]
async fn a_profile_update_needs_a_session() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;
    app.post_logout(&tokens.access, None).await;

    assert_problem(app.put_me(&tokens.access, &json!({ "bio": "x" })).await, StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
}
