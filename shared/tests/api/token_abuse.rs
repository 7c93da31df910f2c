//! An attacker plays with refresh tokens and emailed links: forging, racing, replaying.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, Tokens, assert_problem, registration, spawn_app, spawn_app_with};

/// `sub` and `sid` are in every access token; with any secret they are not a refresh token,
/// and presenting one changes nothing.
#[tokio::test]
async fn knowing_a_sessions_ids_is_not_enough_to_end_it() {
    let app = spawn_app().await;
    let victim = app.signed_up("reader", "ada@example.com").await;
    let (user_id, session_id) = {
        let mut parts = victim.refresh.split('.');
        (parts.next().unwrap().to_string(), parts.next().unwrap().to_string())
    };

    let forged = format!("{user_id}.{session_id}.{}", "A".repeat(43));
    assert_problem(app.post_refresh(&forged).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;

    assert_eq!(app.get_me(&victim.access).await.status(), StatusCode::OK, "the victim's session lives");
    assert_eq!(app.post_refresh(&victim.refresh).await.status(), StatusCode::OK);
}

/// 20 parallel refreshes with one token: one wins, the others are told so without harm, and
/// the winner's new pair works.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_racing_itself_keeps_its_session() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;

    let refreshes: Vec<_> = (0..20)
        .map(|_| {
            let request =
                app.client.post(app.url("/api/v1/auth/refresh")).json(&json!({ "refresh_token": tokens.refresh }));
            tokio::spawn(async move { request.send().await.unwrap() })
        })
        .collect();
    let mut winners = Vec::new();
    for refresh in refreshes {
        let response = refresh.await.unwrap();
        match response.status() {
            StatusCode::OK => winners.push(Tokens::from(response).await),
            _ => {
                assert_problem(response, StatusCode::CONFLICT, "refresh_conflict").await;
            }
        }
    }

    assert_eq!(winners.len(), 1);
    assert_eq!(app.get_me(&winners[0].access).await.status(), StatusCode::OK);
    assert_eq!(app.post_refresh(&winners[0].refresh).await.status(), StatusCode::OK, "the winner's pair works");
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_a_token_replayed_after_the_grace_window_ends_the_session() {
    let app = spawn_app_with(|config| config.limits.refresh_reuse_grace = time::Duration::seconds(10)).await;
    let stolen = app.signed_up("reader", "ada@example.com").await;
    let renewed = Tokens::from(app.post_refresh(&stolen.refresh).await).await;

    app.advance_clock(time::Duration::seconds(5));
    assert_problem(app.post_refresh(&stolen.refresh).await, StatusCode::CONFLICT, "refresh_conflict").await;
    assert_eq!(app.get_me(&renewed.access).await.status(), StatusCode::OK, "within the window: kept");

    app.advance_clock(time::Duration::seconds(6));
    assert_problem(app.post_refresh(&stolen.refresh).await, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    assert_eq!(app.get_me(&renewed.access).await.status(), StatusCode::UNAUTHORIZED, "after it: ended");
}

#[tokio::test]
async fn tokens_are_never_cached() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;

    let login = app.post_login("ada@example.com", PASSWORD).await;
    assert_eq!(login.headers()["cache-control"], "no-store");
    let refresh = app.post_refresh(&tokens.refresh).await;
    assert_eq!(refresh.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn only_the_newest_reset_link_works() {
    let app = spawn_app().await;
    app.signed_up("reader", "ada@example.com").await;
    app.post_send_reset_password_email("ada@example.com").await;
    let first = app.email_token("ada@example.com", "Reset your password").await;
    app.post_send_reset_password_email("ada@example.com").await;
    let second = app.email_token_after("ada@example.com", "Reset your password", &first).await;

    assert_problem(
        app.post_reset_password(&first, "the first new passphrase").await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    assert_eq!(app.post_reset_password(&second, "the second new passphrase").await.status(), StatusCode::NO_CONTENT);
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_a_completed_reset_voids_every_earlier_link() {
    let app = spawn_app_with(|config| config.limits.emails_per_address_per_hour = 10).await;
    app.signed_up("reader", "ada@example.com").await;
    app.post_send_reset_password_email("ada@example.com").await;
    let first = app.email_token("ada@example.com", "Reset your password").await;
    app.post_send_reset_password_email("ada@example.com").await;
    let second = app.email_token_after("ada@example.com", "Reset your password", &first).await;

    assert_eq!(app.post_reset_password(&second, "the second new passphrase").await.status(), StatusCode::NO_CONTENT);

    assert_problem(
        app.post_reset_password(&first, "the first new passphrase").await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    assert_eq!(app.post_login("ada@example.com", "the second new passphrase").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_password_change_voids_a_reset_link_issued_before_it() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;
    app.post_send_reset_password_email("ada@example.com").await;
    let link = app.email_token("ada@example.com", "Reset your password").await;

    let change = app.post_change_password(&tokens.access, PASSWORD, "a changed passphrase").await;
    assert_eq!(change.status(), StatusCode::NO_CONTENT);

    assert_problem(
        app.post_reset_password(&link, "the attacker's passphrase").await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    assert_eq!(app.post_login("ada@example.com", "a changed passphrase").await.status(), StatusCode::OK);
}

/// An attacker registers the owner's address with a password of their own. The owner, who
/// never got to confirm that, registers for real: the attacker's registration and its link
/// are gone, and the attacker's password opens nothing.
#[tokio::test]
async fn a_pre_registration_gives_way_to_the_owners_registration() {
    let app = spawn_app().await;
    let mut squat = registration("ada@example.com");
    squat["password"] = json!("the attacker's own passphrase");
    assert_eq!(app.post_register("reader", &squat, None).await.status(), StatusCode::CREATED);
    let attackers_link = app.email_token("ada@example.com", "Confirm your email address").await;

    app.register("reader", "ada@example.com").await;
    let owners_link = app.email_token_after("ada@example.com", "Confirm your email address", &attackers_link).await;

    assert_problem(app.get_confirm_email(&attackers_link).await, StatusCode::BAD_REQUEST, "invalid_token").await;
    assert_eq!(app.get_confirm_email(&owners_link).await.status(), StatusCode::OK);
    assert_problem(
        app.post_login("ada@example.com", "the attacker's own passphrase").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(app.post_login("ada@example.com", PASSWORD).await.status(), StatusCode::OK);
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_a_registration_never_confirmed_expires() {
    let app = spawn_app().await;
    app.register("reader", "ada@example.com").await;
    app.email_token("ada@example.com", "Confirm your email address").await;

    app.advance_clock(time::Duration::days(7));

    // Gone to every flow: no login, no link.
    assert_problem(app.post_login("ada@example.com", PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials")
        .await;
    app.post_send_confirm_email("ada@example.com").await;
    app.settle_queue().await;
    assert_eq!(app.emails_to("ada@example.com", "Confirm your email address").len(), 1, "no new link");
}

#[tokio::test]
async fn an_oversized_logout_body_gets_a_problem() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;

    let response = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&tokens.access)
        .header("content-type", "application/json")
        .body(vec![b' '; 20_000])
        .send()
        .await
        .unwrap();

    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}
