//! A user keeps their profile up to date, and cannot slip anything else in with it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

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
async fn role_status_and_secrets_cannot_be_slipped_into_a_profile_update() {
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
    assert_eq!(refused, ["email_confirmed", "password_hash", "role", "status", "current_password"]);
    let me: Value = app.get_me(&tokens.access).await.json().await.unwrap();
    assert_eq!((me["role"].as_str(), me["bio"].clone()), (Some("reader"), Value::Null), "nothing changed");
    assert_eq!(me["pending_email"], Value::Null, "not even the email change it asked for");
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

#[tokio::test]
async fn the_export_holds_the_account_and_every_session_without_secrets() {
    let app = spawn_app().await;
    let phone = app.signed_up("reader", "ada@example.com").await;
    let laptop = app.signed_in("ada@example.com").await;

    let response = app.client.get(app.url("/api/v1/user/export")).bearer_auth(&laptop).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let export: Value = serde_json::from_str(&text).unwrap();

    assert_eq!(export["account"]["email"], "ada@example.com");
    let sessions = export["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(sessions.iter().all(|s| s["created_at"].is_string() && s["expires_at"].is_string()));
    for secret in [&phone.refresh, &laptop, &phone.access] {
        assert!(!text.contains(secret.split('.').next_back().unwrap()), "a secret is in the export");
    }
    assert!(!text.contains("argon2") && !text.contains("refresh_hash") && !text.contains("password"));
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_an_admin_reads_any_account_and_nobody_else_does() {
    let app = spawn_app().await;
    let admin = app.admin("grace@example.com").await;
    let ada = app.signed_up("reader", "ada@example.com").await;
    let ada_id = app.get_me(&ada.access).await.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let bob = app.signed_up("reader", "bob@example.com").await;

    let url = app.url(&format!("/api/v1/user?id={ada_id}"));
    let read: Value = app.client.get(&url).bearer_auth(&admin.access).send().await.unwrap().json().await.unwrap();
    assert_eq!(read["email"], "ada@example.com");
    let response = app.client.get(&url).bearer_auth(&bob.access).send().await.unwrap();
    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    let own: Value = app.client.get(&url).bearer_auth(&ada.access).send().await.unwrap().json().await.unwrap();
    assert_eq!(own["email"], "ada@example.com", "one's own id is one's own account");
}
