//! The operator rotates the signing keys twice while a reader is signed in, holds a page
//! cursor and has an unsubscribe link in their inbox: nothing they hold stops working before
//! it expires, and every new token is signed with the key published ahead.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, unsubscribe_link};

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
