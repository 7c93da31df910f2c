use reqwest::StatusCode;
use time::Duration;

use crate::helpers::{PASSWORD, Tokens, assert_problem, spawn_app};

const RESET: &str = "Reset your password";
const NEW_PASSWORD: &str = "a brand new passphrase";

#[tokio::test]
async fn changing_the_password_ends_every_session() {
    let app = spawn_app().await;
    let phone = app.signed_up("reader", "ada@example.com").await;
    let laptop = Tokens::from(app.post_login("ada@example.com", PASSWORD).await).await;

    assert_eq!(app.post_change_password(&laptop.access, PASSWORD, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);

    for session in [&phone, &laptop] {
        assert_eq!(app.get_me(&session.access).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.post_refresh(&session.refresh).await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.post_login("ada@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.post_login("ada@example.com", NEW_PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_a_good_new_one() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;

    assert_problem(
        app.post_change_password(&tokens.access, "not my password", NEW_PASSWORD).await,
        StatusCode::FORBIDDEN,
        "wrong_current_password",
    )
    .await;
    assert_problem(
        app.post_change_password(&tokens.access, PASSWORD, "password1").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.post_change_password("stolen", PASSWORD, NEW_PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // Nothing changed.
    assert_eq!(app.get_me(&tokens.access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_stolen_access_token_cannot_brute_force_the_current_password() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;

    for _ in 0..5 {
        app.post_change_password(&tokens.access, "guess guess", NEW_PASSWORD).await;
    }

    assert_problem(
        app.post_change_password(&tokens.access, PASSWORD, NEW_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    )
    .await;
}

#[tokio::test]
async fn a_forgotten_password_is_reset_through_the_emailed_link() {
    let app = spawn_app().await;
    let old_session = app.signed_up("reader", "ada@example.com").await;

    assert_eq!(app.post_send_reset_password_email("Ada@Example.com").await.status(), StatusCode::ACCEPTED);
    let email = app.emails_to_eventually("ada@example.com", RESET).await;
    assert!(email.contains(&format!("{}/reset-password?token=", app.address)));
    let token = crate::helpers::token_in(&email);

    assert_eq!(app.post_reset_password(&token, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);

    assert_eq!(app.get_me(&old_session.access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.post_refresh(&old_session.refresh).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.post_login("ada@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.post_login("ada@example.com", NEW_PASSWORD).await.status(), StatusCode::OK);
    // Single use.
    assert_problem(
        app.post_reset_password(&token, "yet another passphrase").await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_asking_for_a_reset_never_reveals_whether_the_account_exists() {
    let app = spawn_app().await;

    let response = app.post_send_reset_password_email("nobody@example.com").await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    app.settle_queue().await;
    assert!(app.outbox().is_empty());
    assert_problem(
        app.post_send_reset_password_email("not an email").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_a_reset_link_expires_after_an_hour() {
    let app = spawn_app().await;
    app.signed_up("reader", "ada@example.com").await;
    app.post_send_reset_password_email("ada@example.com").await;
    let token = app.email_token("ada@example.com", RESET).await;

    app.advance_clock(Duration::hours(1) + Duration::seconds(1));

    assert_problem(app.post_reset_password(&token, NEW_PASSWORD).await, StatusCode::BAD_REQUEST, "token_expired").await;
    assert_eq!(app.post_login("ada@example.com", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_refused_new_password_does_not_burn_the_reset_token() {
    let app = spawn_app().await;
    app.signed_up("reader", "ada@example.com").await;
    app.post_send_reset_password_email("ada@example.com").await;
    let token = app.email_token("ada@example.com", RESET).await;

    assert_problem(
        app.post_reset_password(&token, "12345678").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;

    assert_eq!(app.post_reset_password(&token, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_reset_also_lifts_a_login_backoff() {
    let app = spawn_app().await;
    app.signed_up("reader", "ada@example.com").await;
    for _ in 0..6 {
        app.post_login("ada@example.com", "attacker guess").await;
    }
    app.post_send_reset_password_email("ada@example.com").await;
    let token = app.email_token("ada@example.com", RESET).await;

    app.post_reset_password(&token, NEW_PASSWORD).await;

    assert_eq!(app.post_login("ada@example.com", NEW_PASSWORD).await.status(), StatusCode::OK);
}
