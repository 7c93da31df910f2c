//! An attacker registers an address that looks like someone else's, hoping to take its key or
//! to hold a second account for the same mailbox.

use reqwest::StatusCode;

use crate::helpers::{assert_problem, registration, spawn_app};

#[tokio::test]
async fn a_kelvin_sign_cannot_take_the_address_of_its_plain_look_alike() {
    let app = spawn_app().await;
    app.signed_up("reader", "kate@example.com").await;

    let response = app.post_register("reader", &registration("\u{212A}ate@example.com"), None).await;

    assert_problem(response, StatusCode::CONFLICT, "email_taken").await;
}

#[tokio::test]
async fn the_kelvin_sign_registration_first_still_leaves_one_account_mailed_at_the_plain_address() {
    let app = spawn_app().await;
    let body = app.register("reader", "\u{212A}ate@Example.COM").await;

    assert_eq!(body["email"], "kate@example.com", "the account holds the canonical address");
    let token = app.email_token("kate@example.com", "Confirm your email address").await;
    assert_eq!(app.get_confirm_email(&token).await.status(), StatusCode::OK);
    let response = app.post_register("reader", &registration("kate@example.com"), None).await;
    assert_problem(response, StatusCode::CONFLICT, "email_taken").await;
}

#[tokio::test]
async fn one_mailbox_one_account_whatever_its_unicode_spelling() {
    let app = spawn_app().await;
    app.signed_up("reader", "dup@example.com").await;
    app.signed_up("reader", "dup@exämple.com").await;

    for same in ["dup@xn--exmple-cua.com", "DUP@EXÄMPLE.COM", "Dup@Example.com"] {
        let response = app.post_register("reader", &registration(same), None).await;
        assert_problem(response, StatusCode::CONFLICT, "email_taken").await;
    }
}

#[tokio::test]
async fn invisible_characters_and_ip_literals_are_refused() {
    let app = spawn_app().await;

    for bad in ["dup@exam\u{00AD}ple.com", "d\u{200B}up@example.com", "dup\u{202E}@example.com", "dup@[127.0.0.1]"] {
        let response = app.post_register("reader", &registration(bad), None).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "email", "{bad:?}");
    }
}
