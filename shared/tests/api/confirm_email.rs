use reqwest::StatusCode;
use serde_json::Value;
use time::Duration;

use crate::helpers::{PASSWORD, assert_problem, spawn_app};

const CONFIRM: &str = "Confirm your email address";
const RESET: &str = "Reset your password";

#[tokio::test]
async fn the_emailed_link_confirms_the_account_once() {
    let app = spawn_app().await;
    app.register("reader", "ada@example.com").await;
    let email = app.emails_to_eventually("ada@example.com", CONFIRM).await;
    // The link is built from the configured public URL, and opens the service's page.
    assert!(email.contains(&format!("{}/confirm-email?token=", app.address)));
    let token = crate::helpers::token_in(&email);

    let response = app.get_confirm_email(&token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["status"], "active");
    assert_eq!(user["email_confirmed"], true);

    assert_problem(app.get_confirm_email(&token).await, StatusCode::BAD_REQUEST, "invalid_token").await;
}

#[tokio::test]
async fn a_pending_account_cannot_log_in_until_confirmed() {
    let app = spawn_app().await;
    app.register("author", "ada@example.com").await;

    assert_problem(app.post_login("ada@example.com", PASSWORD).await, StatusCode::FORBIDDEN, "email_not_confirmed")
        .await;
    // ...but a wrong password still answers like any wrong password.
    assert_problem(
        app.post_login("ada@example.com", "wrong password!").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;

    let token = app.email_token("ada@example.com", CONFIRM).await;
    app.get_confirm_email(&token).await;
    assert_eq!(app.post_login("ada@example.com", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_confirmation_token_is_not_a_reset_token_and_the_reverse() {
    let app = spawn_app().await;
    app.register("reader", "ada@example.com").await;
    let confirmation = app.email_token("ada@example.com", CONFIRM).await;
    assert_eq!(app.post_send_reset_password_email("ada@example.com").await.status(), StatusCode::ACCEPTED);
    let reset = app.email_token("ada@example.com", RESET).await;

    assert_problem(
        app.post_reset_password(&confirmation, "a brand new passphrase").await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    assert_problem(app.get_confirm_email(&reset).await, StatusCode::BAD_REQUEST, "invalid_token").await;

    // Neither misuse burned the token for its real purpose.
    assert_eq!(app.get_confirm_email(&confirmation).await.status(), StatusCode::OK);
    assert_eq!(app.post_reset_password(&reset, "a brand new passphrase").await.status(), StatusCode::NO_CONTENT);
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_a_confirmation_link_expires_after_a_day() {
    let app = spawn_app().await;
    app.register("reader", "ada@example.com").await;
    let token = app.email_token("ada@example.com", CONFIRM).await;

    app.advance_clock(Duration::hours(24) + Duration::seconds(1));

    assert_problem(app.get_confirm_email(&token).await, StatusCode::BAD_REQUEST, "token_expired").await;
}

#[tokio::test]
async fn forged_or_missing_tokens_are_refused() {
    let app = spawn_app().await;
    for forged in ["", "abc", &"A".repeat(43), &"A".repeat(5000)] {
        assert_problem(app.get_confirm_email(forged).await, StatusCode::BAD_REQUEST, "invalid_token").await;
    }
    let response = app.client.get(app.url("/api/v1/auth/confirm_email")).send().await.unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_query").await;
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_a_new_link_can_be_requested_and_the_answer_never_reveals_whether_an_account_exists() {
    let app = spawn_app().await;
    app.register("reader", "ada@example.com").await;
    let first = app.email_token("ada@example.com", CONFIRM).await;

    assert_eq!(app.post_send_confirm_email("ada@example.com").await.status(), StatusCode::ACCEPTED);
    assert_eq!(app.post_send_confirm_email("nobody@example.com").await.status(), StatusCode::ACCEPTED);

    let second = app.email_token_after("ada@example.com", CONFIRM, &first).await;
    assert_eq!(app.get_confirm_email(&second).await.status(), StatusCode::OK);
    app.settle_queue().await;
    assert!(app.emails_to("nobody@example.com", CONFIRM).is_empty());
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_emails_to_one_address_are_rate_limited() {
    let app = spawn_app().await;
    app.register("reader", "ada@example.com").await;

    for _ in 0..5 {
        assert_eq!(app.post_send_confirm_email("ada@example.com").await.status(), StatusCode::ACCEPTED);
    }
    let response = app.post_send_confirm_email("ADA@example.com").await;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "too_many_emails").await;
    // Unknown addresses are limited alike, so the limit reveals nothing either.
    for _ in 0..5 {
        app.post_send_reset_password_email("nobody@example.com").await;
    }
    assert_problem(
        app.post_send_reset_password_email("nobody@example.com").await,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_emails",
    )
    .await;

    app.advance_clock(Duration::hours(1));
    assert_eq!(app.post_send_confirm_email("ada@example.com").await.status(), StatusCode::ACCEPTED);
}
