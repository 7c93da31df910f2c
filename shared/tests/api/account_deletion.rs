//! A user leaves for good; an admin removes an account; nobody removes the last admin.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Tokens, assert_problem, registration, spawn_app};

#[tokio::test]
async fn a_reader_deletes_their_account_with_their_password_and_nothing_of_it_is_left() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;

    let no_password = app.delete("/api/v1/user", &tokens.access, None).await;
    assert_problem(no_password, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let wrong = app.delete_me(&tokens.access, "not my password at all").await;
    assert_problem(wrong, StatusCode::FORBIDDEN, "wrong_current_password").await;
    assert_eq!(app.get_me(&tokens.access).await.status(), StatusCode::OK, "still there after the refusals");

    assert_eq!(app.delete_me(&tokens.access, PASSWORD).await.status(), StatusCode::NO_CONTENT);

    assert_problem(app.get_me(&tokens.access).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(app.post_refresh(&tokens.refresh).await.status(), StatusCode::UNAUTHORIZED);
    assert_problem(app.post_login("ada@example.com", PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials")
        .await;
    let goodbye = app.emails_to_eventually("ada@example.com", "Your account has been deleted").await;
    assert!(goodbye.contains("deleted"), "{goodbye}");
    // The address is free again: a new account, not the old one back.
    let again = app.register("reader", "ada@example.com").await;
    assert_eq!(again["email_confirmed"], false);
}

#[tokio::test]
async fn a_stolen_access_token_cannot_guess_its_way_to_deleting_the_account() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;

    let mut statuses = Vec::new();
    for guess in 0..7 {
        statuses.push(app.delete_me(&tokens.access, &format!("guess number {guess}")).await.status().as_u16());
    }

    assert_eq!(statuses[..5], [403; 5], "five wrong passwords are checked");
    assert_eq!(statuses[5..], [429; 2], "then the checks stop: {statuses:?}");
    assert_eq!(app.get_me(&tokens.access).await.status(), StatusCode::OK, "the account is still there");
}

#[tokio::test]
async fn a_deletion_body_that_is_not_json_is_refused_and_nothing_is_deleted() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;

    let response = app
        .client
        .delete(app.url("/api/v1/user"))
        .bearer_auth(&tokens.access)
        .header("content-type", "application/json")
        .body("{\"password\": ")
        .send()
        .await
        .unwrap();

    assert_problem(response, StatusCode::BAD_REQUEST, "malformed_json").await;
    assert_eq!(app.get_me(&tokens.access).await.status(), StatusCode::OK);
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_an_admin_deletes_any_account_without_its_password() {
    let app = spawn_app().await;
    let admin = app.admin("grace@example.com").await;
    let reader = app.signed_up("reader", "ada@example.com").await;
    let ada: Value = app.get_me(&reader.access).await.json().await.unwrap();
    let id = ada["id"].as_str().unwrap();

    // No body is asked for with ?id=; one sent must still be what the route takes.
    let path = format!("/api/v1/user?id={id}");
    let too_long = json!({ "password": "x".repeat(1025) });
    assert_problem(
        app.delete(&path, &admin.access, Some(too_long)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.delete(&path, &admin.access, Some(json!("not an object"))).await,
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    assert_eq!(app.get_me(&reader.access).await.status(), StatusCode::OK, "still there after the refusals");

    let response = app.delete(&path, &admin.access, None).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_me(&reader.access).await.status(), StatusCode::UNAUTHORIZED);
    let gone = app.get(&format!("/api/v1/user?id={id}"), &admin.access).await;
    assert_problem(gone, StatusCode::NOT_FOUND, "not_found").await;
    app.emails_to_eventually("ada@example.com", "Your account has been deleted").await;
    let again = app.delete(&format!("/api/v1/user?id={id}"), &admin.access, None).await;
    assert_problem(again, StatusCode::NOT_FOUND, "not_found").await;
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_the_last_admin_can_neither_leave_nor_be_demoted_nor_suspended() {
    let app = spawn_app().await;
    let grace = app.admin("grace@example.com").await;
    let me: Value = app.get_me(&grace.access).await.json().await.unwrap();
    let id = me["id"].as_str().unwrap();

    assert_problem(app.delete_me(&grace.access, PASSWORD).await, StatusCode::CONFLICT, "last_admin").await;
    let demote = app.put(&format!("/api/v1/admin?id={id}"), &grace.access, &json!({ "role": "reader" })).await;
    assert_problem(demote, StatusCode::CONFLICT, "last_admin").await;
    let suspend = app.put(&format!("/api/v1/admin?id={id}"), &grace.access, &json!({ "status": "suspended" })).await;
    assert_problem(suspend, StatusCode::CONFLICT, "last_admin").await;
    assert_eq!(app.get_me(&grace.access).await.status(), StatusCode::OK, "still an admin, still signed in");

    // With a second admin, she may go.
    app.admin("ops@example.com").await;
    assert_eq!(app.delete_me(&grace.access, PASSWORD).await.status(), StatusCode::NO_CONTENT);
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_two_admins_removing_each_other_at_once_leave_one_admin() {
    let app = spawn_app().await;
    for round in 0..5 {
        let (a, b) = (format!("a{round}@example.com"), format!("b{round}@example.com"));
        let (a_tokens, b_tokens) = (app.admin(&a).await, app.admin(&b).await);
        // Each round starts from exactly these two admins: the last round's survivor goes.
        let admins: Value = app.get("/api/v1/admins", &a_tokens.access).await.json().await.unwrap();
        for other in admins["items"].as_array().unwrap() {
            let email = other["email"].as_str().unwrap();
            if email != a && email != b {
                let path = format!("/api/v1/admin?id={}", other["id"].as_str().unwrap());
                assert_eq!(app.delete(&path, &a_tokens.access, None).await.status(), StatusCode::NO_CONTENT);
            }
        }
        let id_of = |tokens: &Tokens| {
            let (app, access) = (&app, tokens.access.clone());
            async move {
                let me: Value = app.get_me(&access).await.json().await.unwrap();
                me["id"].as_str().unwrap().to_string()
            }
        };
        let (a_id, b_id) = (id_of(&a_tokens).await, id_of(&b_tokens).await);

        // Half the rounds delete, half demote: either way one admin must stay.
        let (a_path, b_path) = (format!("/api/v1/admin?id={b_id}"), format!("/api/v1/admin?id={a_id}"));
        let (first, second) = if round % 2 == 0 {
            tokio::join!(app.delete(&a_path, &a_tokens.access, None), app.delete(&b_path, &b_tokens.access, None))
        } else {
            let demote = json!({ "role": "reader" });
            tokio::join!(app.put(&a_path, &a_tokens.access, &demote), app.put(&b_path, &b_tokens.access, &demote))
        };
        let statuses = [first.status().as_u16(), second.status().as_u16()];

        assert_eq!(statuses.iter().filter(|s| matches!(s, 200 | 204)).count(), 1, "round {round}: {statuses:?}");
        let survivor = app.signed_in(if matches!(statuses[0], 200 | 204) { &a } else { &b }).await;
        let admins: Value = app.get("/api/v1/admins?limit=100", &survivor).await.json().await.unwrap();
        let active = admins["items"].as_array().unwrap().iter().filter(|u| u["status"] == "active").count();
        assert_eq!(active, 1, "round {round}: one admin left");
    }
}

#[tokio::test]
async fn a_deleted_accounts_email_links_are_dead() {
    let app = spawn_app().await;
    app.register("reader", "ada@example.com").await;
    let confirm = app.email_token("ada@example.com", "Confirm your email address").await;
    assert_eq!(app.get_confirm_email(&confirm).await.status(), StatusCode::OK);
    let tokens = Tokens::from(app.post_login("ada@example.com", PASSWORD).await).await;
    assert_eq!(app.post_send_reset_password_email("ada@example.com").await.status(), StatusCode::ACCEPTED);
    let reset = app.email_token("ada@example.com", "Reset your password").await;

    assert_eq!(app.delete_me(&tokens.access, PASSWORD).await.status(), StatusCode::NO_CONTENT);
    // A new account with the same address: the old link must not reach it.
    app.post_register("reader", &registration("ada@example.com"), None).await;

    let response = app.post_reset_password(&reset, "a new passphrase for her").await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_token").await;
}
