//! The operator rotates the signing keys twice while a reader is signed in, holds a page
//! cursor and has an unsubscribe link in their inbox: nothing they hold stops working before
//! it expires, and every new token is signed with the key published ahead.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app, totp_code, unsubscribe_link};

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.expect("a kid")
}

async fn published_kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn two_rotations_leave_a_session_a_cursor_and_an_unsubscribe_link_working() {
    let app = spawn_app().await;
    let author = app.signed_up("author", "bob@example.com").await;
    app.signed_up("author", "cy@example.com").await;
    let bob = app.id_of(&author.access).await;
    let ada = app.signed_up("reader", "ada@example.com").await;
    assert_eq!(app.subscribe(&ada.access, &bob).await.status(), StatusCode::NO_CONTENT);
    let body = json!({ "subject": "A new article", "message": "About gardens." });
    assert_eq!(
        app.post("/api/v1/author/notify_subscribers", &author.access, &body).await.status(),
        StatusCode::ACCEPTED
    );
    let link = unsubscribe_link(&app.emails_to_eventually("ada@example.com", "A new article").await);
    let page: Value = app.get("/api/v1/authors?limit=1", &ada.access).await.json().await.unwrap();
    let cursor = page["next_cursor"].as_str().expect("a second page").to_string();
    let first_key = kid_of(&ada.access);
    let before = published_kids(&app).await;
    assert_eq!(before.len(), 2, "the signing key and the next one: {before:?}");
    assert!(before.contains(&first_key));

    app.rotate_jwt_keys().await;
    app.rotate_jwt_keys().await;

    let after = published_kids(&app).await;
    assert_eq!(after.len(), 4, "next, signing, and the two retired while their tokens live: {after:?}");
    assert!(after.contains(&first_key), "the first key stays published while its tokens live");
    let upcoming = before.iter().find(|kid| **kid != first_key).unwrap();
    assert_eq!(after[2], *upcoming, "published at the start, signing after the first step, retired after the second");

    assert_eq!(app.get_me(&ada.access).await.status(), StatusCode::OK, "the token from before still verifies");
    let refreshed: Value = app.post_refresh(&ada.refresh).await.json().await.unwrap();
    let access = refreshed["access_token"].as_str().unwrap();
    assert_eq!(kid_of(access), after[1], "a refresh signs with the key that signs now");
    assert_eq!(app.get_me(access).await.status(), StatusCode::OK);
    let second: Value =
        app.get(&format!("/api/v1/authors?limit=1&cursor={cursor}"), access).await.json().await.unwrap();
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1), "the cursor from before opens: {second}");
    let one_click = app.client.post(&link).header("content-type", "application/x-www-form-urlencoded");
    assert_eq!(one_click.body("List-Unsubscribe=One-Click").send().await.unwrap().status(), StatusCode::OK);
    let subscribers: Value = app.get("/api/v1/author/subscribers", &author.access).await.json().await.unwrap();
    assert_eq!(subscribers["items"], json!([]), "the link sealed before the rotations unsubscribed Ada");

    if app.is_in_process() {
        // Past its 15 minutes the old token is refused like any expired one; the new one, issued
        // just now, too (the session's refresh token is what outlives them).
        app.advance_clock(time::Duration::minutes(16));
        assert_eq!(app.get_me(&ada.access).await.status(), StatusCode::UNAUTHORIZED);
    }
}

/// A signing key leaked: the operator revokes it. Tokens it signed are refused from the next
/// read of the set, a retired key's as the signing key's; tokens of the other keys work on, and
/// a refresh (the session goes on) signs with the key that took over.
#[tokio::test]
async fn a_revoked_keys_tokens_are_refused_while_the_others_work() {
    let app = spawn_app().await;
    let ada = app.signed_up("reader", "ada@example.com").await;
    app.rotate_jwt_keys().await;
    let grace = app.signed_up("reader", "grace@example.com").await;
    let (retired, signing) = (kid_of(&ada.access), kid_of(&grace.access));
    assert_ne!(retired, signing);

    app.revoke_jwt_key(&retired).await;

    assert_eq!(app.get_me(&ada.access).await.status(), StatusCode::UNAUTHORIZED, "signed by the revoked key");
    assert_eq!(app.get_me(&grace.access).await.status(), StatusCode::OK, "signed by another key");
    assert!(!published_kids(&app).await.contains(&retired), "no longer published");

    app.revoke_jwt_key(&signing).await;

    assert_eq!(app.get_me(&grace.access).await.status(), StatusCode::UNAUTHORIZED);
    let refreshed: Value = app.post_refresh(&grace.refresh).await.json().await.unwrap();
    let access = refreshed["access_token"].as_str().expect("the session goes on");
    assert_ne!(kid_of(access), signing);
    assert_eq!(app.get_me(access).await.status(), StatusCode::OK, "signed by the key that took over");
    let published = published_kids(&app).await;
    assert_eq!(published.len(), 2, "the new signing key and a new next one: {published:?}");
}

/// The seal secret leaked (or is simply old): the operator rotates it, and once the rotation has
/// reached every instance, retires the one before. In between, links sealed before still open;
/// after, they are refused while links sealed since work, and authenticator apps enrolled
/// before (and one whose enrolment was half done) go on, their secrets sealed again.
#[tokio::test]
async fn after_a_seal_secret_rotation_and_retire_old_links_are_refused_and_new_ones_and_apps_work() {
    let app = spawn_app().await;
    let author = app.signed_up("author", "bob@example.com").await;
    let bob = app.id_of(&author.access).await;
    app.signed_up("author", "cy@example.com").await;
    let ada = app.signed_up("reader", "ada@example.com").await;
    app.enrol_totp("ada@example.com", &ada.access).await;
    let dan = app.signed_up("reader", "dan@example.com").await;
    let half_enrolled = app.client.post(app.url("/api/v1/auth/factors/totp")).bearer_auth(&dan.access).send().await;
    let dans_secret = half_enrolled.unwrap().json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_string();
    assert_eq!(app.subscribe(&ada.access, &bob).await.status(), StatusCode::NO_CONTENT);
    let notify = async |subject: &str| {
        let body = json!({ "subject": subject, "message": "About gardens." });
        app.post("/api/v1/author/notify_subscribers", &author.access, &body).await
    };
    assert_eq!(notify("Before the rotation").await.status(), StatusCode::ACCEPTED);
    let sealed_before = unsubscribe_link(&app.emails_to_eventually("ada@example.com", "Before the rotation").await);
    let page: Value = app.get("/api/v1/authors?limit=1", &ada.access).await.json().await.unwrap();
    let cursor_before = page["next_cursor"].as_str().expect("a second page").to_string();

    app.rotate_seal_secret().await;

    assert_eq!(app.client.get(&sealed_before).send().await.unwrap().status(), StatusCode::OK, "it still opens");
    assert_eq!(notify("After the rotation").await.status(), StatusCode::ACCEPTED);
    let sealed_after = unsubscribe_link(&app.emails_to_eventually("ada@example.com", "After the rotation").await);
    assert_ne!(sealed_after, sealed_before);

    app.retire_seal_secrets().await;

    let one_click = |link: &str| {
        let request = app.client.post(link).header("content-type", "application/x-www-form-urlencoded");
        request.body("List-Unsubscribe=One-Click").send()
    };
    assert_eq!(one_click(&sealed_before).await.unwrap().status(), StatusCode::BAD_REQUEST, "retired");
    let old_page = app.get(&format!("/api/v1/authors?limit=1&cursor={cursor_before}"), &ada.access).await;
    assert_problem(old_page, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    let subscribers: Value = app.get("/api/v1/author/subscribers", &author.access).await.json().await.unwrap();
    assert_eq!(subscribers["items"].as_array().map(Vec::len), Some(1), "the old link unsubscribed nobody");
    assert_eq!(one_click(&sealed_after).await.unwrap().status(), StatusCode::OK, "sealed since the rotation");
    let subscribers: Value = app.get("/api/v1/author/subscribers", &author.access).await.json().await.unwrap();
    assert_eq!(subscribers["items"], json!([]), "the new link unsubscribed Ada");

    // Ada's app, enrolled before, still signs her in; Dan's enrolment, started before, completes.
    app.logged_in("ada@example.com").await;
    let code = totp_code(&dans_secret, app.totp_step_now());
    let confirmed = app.post("/api/v1/auth/factors/totp/confirm", &dan.access, &json!({ "code": code })).await;
    assert_eq!(confirmed.status(), StatusCode::OK, "the half-done enrolment's secret opens");
}
