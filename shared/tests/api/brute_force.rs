//! An attacker guesses passwords: in parallel bursts, slowly from one source to lock the owner
//! out, or in such numbers that hashing alone would exhaust the server.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, Tokens, assert_problem, spawn_app_with};

/// 41 wrong guesses at once: no more password checks than the backoff allows (5), the burst
/// gains nothing by being parallel, and the right password is refused after it as during any
/// backoff. (A right guess inside the burst would be a sign-in, which forgets the counts: the
/// guesser knew the password, so the bound is about the wrong ones.)
// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_process_a_parallel_burst_of_guesses_gets_no_more_checks_than_the_backoff_allows() {
    let app = spawn_app_with(|config| config.limits.hashing_queue = 100).await;
    app.signed_up("reader", "ada@example.com").await;

    let guesses: Vec<_> = (0..41)
        .map(|i| {
            let request = app.client.post(app.url("/api/v1/auth/login"));
            let request = request.json(&json!({ "email": "ada@example.com", "password": format!("wrong guess {i}") }));
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    let mut statuses = BTreeMap::<u16, usize>::new();
    for guess in guesses {
        *statuses.entry(guess.await.unwrap().as_u16()).or_default() += 1;
    }

    let checked = statuses.get(&401).unwrap_or(&0);
    assert!(*checked <= 5, "{checked} password checks: {statuses:?}");
    assert_eq!(statuses.get(&429), Some(&(41 - checked)), "{statuses:?}");
    let right = app.post_login("ada@example.com", PASSWORD).await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS, "the right password waits out the backoff too");
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_process_a_parallel_burst_of_current_password_guesses_is_counted_the_same_way() {
    let app = spawn_app_with(|config| config.limits.hashing_queue = 100).await;
    let tokens = app.signed_up("reader", "ada@example.com").await;

    let guesses: Vec<_> = (0..20)
        .map(|i| {
            let body =
                json!({ "current_password": format!("wrong guess {i}"), "new_password": "a brand new passphrase" });
            let request =
                app.client.post(app.url("/api/v1/auth/change_password")).bearer_auth(&tokens.access).json(&body);
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    let mut checked = 0;
    for guess in guesses {
        checked += usize::from(guess.await.unwrap() == StatusCode::FORBIDDEN);
    }

    assert!(checked <= 5, "{checked} password checks");
}

/// One wrong guess every few minutes, from one place, for hours: that place locks itself out;
/// the owner, elsewhere, still logs in.
// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_a_slow_guesser_locks_out_its_own_source_not_the_owner() {
    let app = spawn_app_with(|_| {}).await;
    app.signed_up("reader", "ada@example.com").await;
    let attacker = app.client_from("127.0.0.2");

    let mut refused = 0;
    for _ in 0..40 {
        let body = json!({ "email": "ada@example.com", "password": "one more guess" });
        let status = attacker.post(app.url("/api/v1/auth/login")).json(&body).send().await.unwrap().status();
        refused += usize::from(status == StatusCode::TOO_MANY_REQUESTS);
        app.advance_clock(time::Duration::minutes(3));
    }

    assert!(refused > 20, "the guessing source is mostly refused ({refused} of 40)");
    let owner = app.post_login("ada@example.com", PASSWORD).await;
    assert_eq!(owner.status(), StatusCode::OK, "the owner, from another source, is not locked out");
}

/// Many sources together can still lock an address (50 failures within an hour), and then
/// for everyone: that is the price of not letting a botnet guess without limit.
// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_many_sources_together_back_the_address_off() {
    let app = spawn_app_with(|config| config.limits.login_failures_before_account_backoff = 8).await;
    app.signed_up("reader", "ada@example.com").await;

    for i in 2..10 {
        let body = json!({ "email": "ada@example.com", "password": "one more guess" });
        let status =
            app.client_from(&format!("127.0.0.{i}")).post(app.url("/api/v1/auth/login")).json(&body).send().await;
        assert_eq!(status.unwrap().status(), StatusCode::UNAUTHORIZED);
    }

    assert_problem(
        app.post_login("ada@example.com", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    )
    .await;
}

/// 200 logins at once for addresses nobody has: each costs a hash, and hashes are bounded
/// (cores at once, a bounded queue); beyond that the answer is 503 `server_busy`, at once.
// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_process_a_flood_of_logins_is_answered_busy_beyond_the_hashing_bound() {
    let app = spawn_app_with(|config| {
        config.limits.hashing_concurrency = 2;
        config.limits.hashing_queue = 4;
    })
    .await;

    let logins: Vec<_> = (0..200)
        .map(|i| {
            let body = json!({ "email": format!("nobody{i}@example.com"), "password": "a guess" });
            let request = app.client.post(app.url("/api/v1/auth/login")).json(&body);
            tokio::spawn(async move { request.send().await.unwrap() })
        })
        .collect();
    let mut statuses = BTreeMap::<u16, usize>::new();
    for login in logins {
        let response = login.await.unwrap();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            assert!(response.headers().contains_key("retry-after"));
            assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "server_busy").await;
            *statuses.entry(503).or_default() += 1;
        } else {
            *statuses.entry(response.status().as_u16()).or_default() += 1;
        }
    }

    assert_eq!(statuses.keys().copied().collect::<Vec<_>>(), [401, 503], "{statuses:?}");
    assert!(statuses[&401] >= 6, "the bound's worth are checked: {statuses:?}");
}

/// Logins that checked the old password while it changed get no session that outlives the
/// change.
// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_process_no_session_started_with_the_old_password_survives_its_change() {
    let app = spawn_app_with(|config| {
        config.limits.hashing_queue = 100;
        config.limits.login_failures_before_backoff = 1000;
        config.limits.login_failures_before_account_backoff = 1000;
    })
    .await;
    let owner = app.signed_up("reader", "ada@example.com").await;

    let logins = logins_with_the_old_password(&app);
    let change = app.post_change_password(&owner.access, PASSWORD, "a brand new passphrase").await;
    assert_eq!(change.status(), StatusCode::NO_CONTENT);

    assert_eq!(surviving_sessions(&app, logins).await, 0, "sessions of the old password outlived its change");
}

/// 44 logins with the current password, under way.
fn logins_with_the_old_password(app: &TestApp) -> Vec<tokio::task::JoinHandle<reqwest::Response>> {
    (0..44)
        .map(|_| {
            let request = app.client.post(app.url("/api/v1/auth/login"));
            let request = request.json(&json!({ "email": "ada@example.com", "password": PASSWORD }));
            tokio::spawn(async move { request.send().await.unwrap() })
        })
        .collect()
}

/// How many of the sessions those logins got still work (by access token or by refresh).
async fn surviving_sessions(app: &TestApp, logins: Vec<tokio::task::JoinHandle<reqwest::Response>>) -> usize {
    let mut survivors = 0;
    for login in logins {
        let response = login.await.unwrap();
        if response.status() == StatusCode::OK {
            let tokens = Tokens::from(response).await;
            let alive = app.get_me(&tokens.access).await.status() == StatusCode::OK
                || app.post_refresh(&tokens.refresh).await.status() == StatusCode::OK;
            survivors += usize::from(alive);
        }
    }
    survivors
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_process_no_session_started_with_the_old_password_survives_a_reset() {
    let app = spawn_app_with(|config| {
        config.limits.hashing_queue = 100;
        config.limits.login_failures_before_backoff = 1000;
        config.limits.login_failures_before_account_backoff = 1000;
    })
    .await;
    app.signed_up("reader", "ada@example.com").await;
    app.post_send_reset_password_email("ada@example.com").await;
    let token = app.email_token("ada@example.com", "Reset your password").await;

    let logins = logins_with_the_old_password(&app);
    assert_eq!(app.post_reset_password(&token, "the reset passphrase").await.status(), StatusCode::NO_CONTENT);

    assert_eq!(surviving_sessions(&app, logins).await, 0, "sessions of the old password outlived the reset");
}
