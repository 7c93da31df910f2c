//! A user moves to a new address: it counts once the new address confirms; the old one hears
//! of it; no address ever belongs to two accounts.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Tokens, assert_problem, spawn_app, token_in};

const CONFIRM_CHANGE: &str = "Confirm your new email address";
const CHANGE_NOTICE: &str = "Your email address is about to change";

#[tokio::test]
async fn an_email_change_waits_for_the_new_address_to_confirm_it() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;

    let response =
        app.put_me(&tokens.access, &json!({ "email": "Ada.Lovelace@Example.com", "current_password": PASSWORD })).await;

    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(
        (me["email"].as_str(), me["pending_email"].as_str()),
        (Some("ada@example.com"), Some("ada.lovelace@example.com"))
    );
    let notice = app.emails_to_eventually("ada@example.com", CHANGE_NOTICE).await;
    assert!(notice.contains("a********@example.com"), "the old address is told, with a hint: {notice}");
    assert!(!notice.contains("token="), "and no link that would make the change");
    // Until the new address confirms, the old one is the account's.
    assert_eq!(app.post_login("ada@example.com", PASSWORD).await.status(), StatusCode::OK);

    let token = app.email_token("ada.lovelace@example.com", CONFIRM_CHANGE).await;
    let confirmed =
        app.client.get(app.url(&format!("/api/v1/user/confirm_email_change?token={token}"))).send().await.unwrap();

    assert_eq!(confirmed.status(), StatusCode::OK);
    let me: Value = app.get_me(&tokens.access).await.json().await.unwrap();
    assert_eq!((me["email"].as_str(), me["pending_email"].clone()), (Some("ada.lovelace@example.com"), Value::Null));
    assert_eq!(app.post_login("ada.lovelace@example.com", PASSWORD).await.status(), StatusCode::OK);
    assert_problem(app.post_login("ada@example.com", PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials")
        .await;
}

#[tokio::test]
async fn a_change_link_works_once_and_only_for_what_it_was_sent_for() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;
    app.put_me(&tokens.access, &json!({ "email": "ada2@example.com", "current_password": PASSWORD })).await;
    let token = app.email_token("ada2@example.com", CONFIRM_CHANGE).await;

    // Not a confirmation link of the auth flows, whatever the route it is tried on.
    let elsewhere = app.get_confirm_email(&token).await;
    assert_problem(elsewhere, StatusCode::BAD_REQUEST, "invalid_token").await;
    let confirm = |token: String| {
        let app = &app;
        async move {
            app.client.get(app.url(&format!("/api/v1/user/confirm_email_change?token={token}"))).send().await.unwrap()
        }
    };
    assert_eq!(confirm(token.clone()).await.status(), StatusCode::OK);
    assert_problem(confirm(token).await, StatusCode::BAD_REQUEST, "invalid_token").await;
}

#[tokio::test]
async fn a_password_change_voids_a_pending_email_change() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;
    app.put_me(&tokens.access, &json!({ "email": "thief@example.com", "current_password": PASSWORD })).await;
    let token = app.email_token("thief@example.com", CONFIRM_CHANGE).await;

    // The owner sees the notice and changes her password.
    app.emails_to_eventually("ada@example.com", CHANGE_NOTICE).await;
    let response = app.post_change_password(&tokens.access, PASSWORD, "a brand new passphrase").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let response =
        app.client.get(app.url(&format!("/api/v1/user/confirm_email_change?token={token}"))).send().await.unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_token").await;
    let access = Tokens::from(app.post_login("ada@example.com", "a brand new passphrase").await).await.access;
    let me: Value = app.get_me(&access).await.json().await.unwrap();
    assert_eq!((me["email"].as_str(), me["pending_email"].clone()), (Some("ada@example.com"), Value::Null));
}

#[tokio::test]
async fn an_address_in_use_is_refused_and_one_taken_meanwhile_is_not_shared() {
    let app = spawn_app().await;
    let ada = app.signed_up("reader", "ada@example.com").await;
    app.signed_up("reader", "bob@example.com").await;

    let taken = app.put_me(&ada.access, &json!({ "email": "BOB@example.com", "current_password": PASSWORD })).await;
    assert_problem(taken, StatusCode::CONFLICT, "email_taken").await;

    // Ada asks for carol@ before Carol registers; Carol registers and confirms first.
    app.put_me(&ada.access, &json!({ "email": "carol@example.com", "current_password": PASSWORD })).await;
    let ada_link = app.email_token("carol@example.com", CONFIRM_CHANGE).await;
    app.signed_up("reader", "carol@example.com").await;

    let response =
        app.client.get(app.url(&format!("/api/v1/user/confirm_email_change?token={ada_link}"))).send().await.unwrap();
    assert_problem(response, StatusCode::CONFLICT, "email_taken").await;
    let me: Value = app.get_me(&ada.access).await.json().await.unwrap();
    assert_eq!(me["email"], "ada@example.com");
}

#[tokio::test]
async fn two_accounts_confirming_the_same_new_address_at_once_cannot_both_have_it() {
    let app = spawn_app().await;
    let ada = app.signed_up("reader", "ada@example.com").await;
    let bob = app.signed_up("reader", "bob@example.com").await;
    app.put_me(&ada.access, &json!({ "email": "shared@example.com", "current_password": PASSWORD })).await;
    let first = app.email_token("shared@example.com", CONFIRM_CHANGE).await;
    app.put_me(&bob.access, &json!({ "email": "shared@example.com", "current_password": PASSWORD })).await;
    let second = app.email_token_after("shared@example.com", CONFIRM_CHANGE, &first).await;

    let url = |token: &str| app.url(&format!("/api/v1/user/confirm_email_change?token={token}"));
    let (a, b) = tokio::join!(app.client.get(url(&first)).send(), app.client.get(url(&second)).send());
    let mut statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
    statuses.sort();

    assert_eq!(statuses, [200, 409]);
    let mut emails = Vec::new();
    for access in [&ada.access, &bob.access] {
        let me: Value = app.get_me(access).await.json().await.unwrap();
        emails.push(me["email"].clone());
    }
    assert_eq!(emails.iter().filter(|e| *e == "shared@example.com").count(), 1, "{emails:?}");
}

#[tokio::test]
async fn an_email_change_refuses_lookalikes_and_garbage() {
    let app = spawn_app().await;
    let ada = app.signed_up("reader", "ada@example.com").await;

    for bad in ["not an address", "dup@exam\u{00AD}ple.com", "ada@[127.0.0.1]"] {
        let response = app.put_me(&ada.access, &json!({ "email": bad, "current_password": PASSWORD })).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "email", "{bad}");
    }
    let lookalike =
        app.put_me(&ada.access, &json!({ "email": "\u{212A}ate@example.com", "current_password": PASSWORD })).await;
    let me: Value = lookalike.json().await.unwrap();
    assert_eq!(me["pending_email"], "kate@example.com", "the canonical form, not the look-alike");
    assert!(token_in(&app.emails_to_eventually("kate@example.com", CONFIRM_CHANGE).await).len() == 43);
}
