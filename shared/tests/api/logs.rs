use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, Tokens, captured_logs, spawn_app};

/// Runs every flow, then searches everything the service logged for the secrets it handled.
// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_a_full_flow_logs_no_password_token_or_hash() {
    let app = spawn_app().await;
    let new_password = "logs must never see this";
    let reset_password = "nor this one either";

    let first = app.signed_up("author", "logs@example.com").await;
    let confirmation = app.email_token("logs@example.com", "Confirm your email address").await;
    let second = Tokens::from(app.post_refresh(&first.refresh).await).await;
    app.post_login("logs@example.com", "a wrong password here").await;
    assert_eq!(app.post_change_password(&second.access, PASSWORD, new_password).await.status(), StatusCode::NO_CONTENT);
    let third = Tokens::from(app.post_login("logs@example.com", new_password).await).await;
    app.post_logout(&third.access, Some(json!({ "refresh_token": third.refresh }))).await;
    app.post_send_reset_password_email("logs@example.com").await;
    let reset = app.email_token("logs@example.com", "Reset your password").await;
    assert_eq!(app.post_reset_password(&reset, reset_password).await.status(), StatusCode::NO_CONTENT);
    app.get_confirm_email(&confirmation).await;
    let hash =
        app.local().auth.accounts.account_by_email("logs@example.com").await.unwrap().unwrap().password_hash.unwrap().0;

    let logs = captured_logs();
    assert!(logs.contains("logs@example.com"), "the flow was logged at all");
    let secrets = [
        ("password", PASSWORD.to_string()),
        ("new password", new_password.to_string()),
        ("reset password", reset_password.to_string()),
        ("wrong password", "a wrong password here".to_string()),
        ("password hash", hash),
        ("access token", first.access.clone()),
        ("access token", second.access.clone()),
        ("access token", third.access.clone()),
        ("refresh token", first.refresh.clone()),
        ("refresh secret", first.refresh.split('.').nth(2).unwrap().to_string()),
        ("refresh token", second.refresh.clone()),
        ("refresh token", third.refresh.clone()),
    ];
    for (what, secret) in secrets {
        assert!(!logs.contains(&secret), "a {what} reached the log");
    }
    // Emailed tokens appear only in the local outbox's link line, the laptop's convenience.
    for token in [confirmation, reset] {
        for line in logs.lines().filter(|line| line.contains(&token)) {
            assert!(line.contains("outbox: email written to the outbox"), "a token leaked in: {line}");
        }
    }
}
