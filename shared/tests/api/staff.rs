//! Admins manage accounts: read, edit, promote, demote and suspend them, through the admin
//! routes only; each change of role or status ends that account's sessions.

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::domain::Role;

use crate::helpers::{PASSWORD, assert_problem, spawn_app};

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_an_admin_suspends_a_moderator_who_is_signed_out_at_once() {
    let app = spawn_app().await;
    let admin = app.admin("grace@example.com").await;
    let moderator = app.active_account("mo@example.com", Role::Moderator).await;
    let mo: Value = app.get_me(&moderator.access).await.json().await.unwrap();
    let path = format!("/api/v1/moderator?id={}", mo["id"].as_str().unwrap());

    let seen: Value = app.get(&path, &admin.access).await.json().await.unwrap();
    assert_eq!(seen["email"], "mo@example.com");
    let response = app.put(&path, &admin.access, &json!({ "status": "suspended" })).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_problem(app.get_me(&moderator.access).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_problem(app.post_login("mo@example.com", PASSWORD).await, StatusCode::FORBIDDEN, "account_suspended").await;
    // Reinstated, the moderator signs in again.
    assert_eq!(app.put(&path, &admin.access, &json!({ "status": "active" })).await.status(), StatusCode::OK);
    assert_eq!(app.post_login("mo@example.com", PASSWORD).await.status(), StatusCode::OK);
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_an_admin_promotes_a_reader_whose_old_token_stops_claiming_the_old_role() {
    let app = spawn_app().await;
    let admin = app.admin("grace@example.com").await;
    let reader = app.signed_up("reader", "ada@example.com").await;
    let ada: Value = app.get_me(&reader.access).await.json().await.unwrap();
    let path = format!("/api/v1/user?id={}", ada["id"].as_str().unwrap());

    let response = app.put(&path, &admin.access, &json!({ "role": "author", "bio": "Now writing." })).await;

    let updated: Value = response.json().await.unwrap();
    assert_eq!((updated["role"].as_str(), updated["bio"].as_str()), (Some("author"), Some("Now writing.")));
    assert_eq!(app.get_me(&reader.access).await.status(), StatusCode::UNAUTHORIZED);
    let author = app.signed_in("ada@example.com").await;
    let me: Value = app.get_me(&author).await.json().await.unwrap();
    assert_eq!(me["role"], "author");
    // The moderator routes do not reach an author.
    let path = format!("/api/v1/moderator?id={}", ada["id"].as_str().unwrap());
    assert_problem(app.get(&path, &admin.access).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_problem(app.delete(&path, &admin.access, None).await, StatusCode::NOT_FOUND, "not_found").await;
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_an_admin_edit_is_validated_field_by_field_and_changes_nothing_when_refused() {
    let app = spawn_app().await;
    let admin = app.admin("grace@example.com").await;
    let pending = app.register("reader", "ada@example.com").await;
    let path = format!("/api/v1/user?id={}", pending["id"].as_str().unwrap());

    let body = json!({ "role": "superuser", "status": "pending", "email": "x@example.com", "password_hash": "x" });
    let problem = assert_problem(
        app.put(&path, &admin.access, &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let fields: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [
            ("email", "unknown_field"),
            ("password_hash", "unknown_field"),
            ("role", "invalid_value"),
            ("status", "invalid_value")
        ]
    );
    // An account that never confirmed its email is not made active by an admin.
    let activate = app.put(&path, &admin.access, &json!({ "status": "active" })).await;
    let problem = assert_problem(activate, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem["errors"][0]["code"], "pending_account");
    let seen: Value = app.get(&path, &admin.access).await.json().await.unwrap();
    assert_eq!((seen["role"].as_str(), seen["status"].as_str()), (Some("reader"), Some("pending")));
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_a_suspension_with_an_end_date_lifts_by_itself_when_it_ends() {
    let app = spawn_app().await;
    let admin = app.admin("grace@example.com").await;
    let author = app.signed_up("author", "ada@example.com").await;
    let ada: Value = app.get_me(&author.access).await.json().await.unwrap();
    let path = format!("/api/v1/user?id={}", ada["id"].as_str().unwrap());
    let until = (time::OffsetDateTime::now_utc() + time::Duration::hours(1)).replace_nanosecond(0).unwrap();
    let until_text = until.format(&time::format_description::well_known::Rfc3339).unwrap();

    let body =
        json!({ "status": "suspended", "suspended_until": until_text, "suspension_reason": "Spam in comments." });
    let suspended: Value = app.put(&path, &admin.access, &body).await.json().await.unwrap();

    assert_eq!(
        (suspended["status"].as_str(), suspended["suspended_until"].as_str()),
        (Some("suspended"), Some(until_text.as_str()))
    );
    assert_eq!(suspended["suspension_reason"], "Spam in comments.");
    assert_problem(app.get_me(&author.access).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let refused = app.post_login("ada@example.com", PASSWORD).await;
    let problem = assert_problem(refused, StatusCode::FORBIDDEN, "account_suspended").await;
    assert_eq!(problem["suspended_until"], until_text.as_str(), "the end date, to the second");
    assert!(problem["detail"].as_str().unwrap().contains(&until_text));

    // An hour later nothing has run, and the date alone lets her in.
    app.advance_clock(time::Duration::minutes(61));
    let back = crate::helpers::Tokens::from(app.post_login("ada@example.com", PASSWORD).await).await;
    let me: Value = app.get_me(&back.access).await.json().await.unwrap();
    assert_eq!((me["status"].as_str(), me["suspended_until"].clone()), (Some("active"), Value::Null));
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_a_suspension_without_an_end_date_holds_and_odd_dates_and_reasons_are_refused() {
    let app = spawn_app().await;
    let admin = app.admin("grace@example.com").await;
    let author = app.signed_up("author", "ada@example.com").await;
    let ada: Value = app.get_me(&author.access).await.json().await.unwrap();
    let path = format!("/api/v1/user?id={}", ada["id"].as_str().unwrap());

    for (body, field, code) in [
        (json!({ "status": "suspended", "suspended_until": "2001-01-01T00:00:00Z" }), "suspended_until", "in_the_past"),
        (json!({ "status": "suspended", "suspended_until": "next tuesday" }), "suspended_until", "invalid_value"),
        (
            json!({ "status": "suspended", "suspension_reason": "bad\u{202E}actor" }),
            "suspension_reason",
            "invalid_characters",
        ),
        // Past year 9999 in UTC: once stored, it could not be read back.
        (
            json!({ "status": "suspended", "suspended_until": "9999-12-31T23:59:59-23:59" }),
            "suspended_until",
            "too_far",
        ),
        (json!({ "suspension_reason": "No status change with it." }), "status", "not_suspended"),
    ] {
        let problem = assert_problem(
            app.put(&path, &admin.access, &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(
            (problem["errors"][0]["field"].as_str(), problem["errors"][0]["code"].as_str()),
            (Some(field), Some(code)),
            "{body}"
        );
    }
    assert_eq!(app.get_me(&author.access).await.status(), StatusCode::OK, "nothing changed");

    app.put(&path, &admin.access, &json!({ "status": "suspended" })).await;
    app.advance_clock(time::Duration::days(400));
    let refused = app.post_login("ada@example.com", PASSWORD).await;
    let problem = assert_problem(refused, StatusCode::FORBIDDEN, "account_suspended").await;
    assert_eq!(problem["suspended_until"], Value::Null);
    // Reinstated by an admin.
    let admin = app.signed_in("grace@example.com").await;
    let reinstated: Value = app.put(&path, &admin, &json!({ "status": "active" })).await.json().await.unwrap();
    assert_eq!((reinstated["status"].as_str(), reinstated["suspension_reason"].clone()), (Some("active"), Value::Null));
    assert_eq!(app.post_login("ada@example.com", PASSWORD).await.status(), StatusCode::OK);
}
