use reqwest::StatusCode;
use serde_json::Value;
use time::Duration;

use crate::helpers::{PASSWORD, assert_problem, spawn_app};

#[tokio::test]
async fn login_answers_tokens_and_the_account() {
    let app = spawn_app().await;
    app.signed_up("reader", "ada@example.com").await;

    let response = app.post_login("ADA@example.com", PASSWORD).await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert!(body["access_token"].as_str().unwrap().split('.').count() == 3);
    assert!(!body["refresh_token"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_answer_alike() {
    let app = spawn_app().await;
    app.signed_up("reader", "ada@example.com").await;

    let wrong_password = assert_problem(
        app.post_login("ada@example.com", "not the password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let unknown_email = assert_problem(
        app.post_login("nobody@example.com", "not the password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let not_an_email = assert_problem(
        app.post_login("nobody", "not the password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;

    assert_eq!(wrong_password, unknown_email);
    assert_eq!(wrong_password, not_an_email);
}

#[tokio::test]
async fn absurd_credentials_answer_like_any_wrong_ones() {
    let app = spawn_app().await;
    let long_email = format!("{}@example.com", "a".repeat(5000));
    let long_password = "p".repeat(10_000);

    for (email, password) in [(long_email.as_str(), PASSWORD), ("ada@example.com", long_password.as_str()), ("", "")] {
        assert_problem(app.post_login(email, password).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_repeated_failures_back_off_with_retry_after_even_for_the_right_password() {
    let app = spawn_app().await;
    app.signed_up("reader", "ada@example.com").await;

    for _ in 0..5 {
        assert_eq!(app.post_login("ada@example.com", "guess guess guess").await.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app.post_login("Ada@Example.com", PASSWORD).await;
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;

    app.advance_clock(Duration::seconds(31));
    assert_eq!(app.post_login("ada@example.com", PASSWORD).await.status(), StatusCode::OK);
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_the_backoff_doubles_and_an_unknown_email_backs_off_the_same_way() {
    let app = spawn_app().await;
    app.signed_up("reader", "ada@example.com").await;

    for email in ["ada@example.com", "nobody@example.com"] {
        for _ in 0..5 {
            app.post_login(email, "guess guess guess").await;
        }
        assert_problem(app.post_login(email, "guess").await, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
        app.advance_clock(Duration::seconds(31));
        assert_problem(app.post_login(email, "guess again").await, StatusCode::UNAUTHORIZED, "invalid_credentials")
            .await;
        let response = app.post_login(email, PASSWORD).await;
        assert_eq!(response.headers()["retry-after"], "60");
        app.advance_clock(Duration::seconds(61));
    }
}
