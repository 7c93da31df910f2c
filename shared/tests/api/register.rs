use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, assert_problem, registration, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_reader_and_an_author_register_as_pending_and_are_sent_a_confirmation() {
    let app = spawn_app().await;

    let reader = app.register("reader", "reader@example.com").await;
    let author = app.register("author", "author@example.com").await;

    assert_eq!(reader["role"], "reader");
    assert_eq!(author["role"], "author");
    for user in [&reader, &author] {
        assert_eq!(user["status"], "pending");
        assert_eq!(user["email_confirmed"], false);
        assert!(user.get("password").is_none() && user.get("password_hash").is_none());
    }
    let token = app.email_token("author@example.com", "Confirm your email address").await;
    assert_eq!(token.len(), 43);
}

#[tokio::test]
async fn the_same_email_in_another_case_is_taken() {
    let app = spawn_app().await;
    app.signed_up("reader", "ada@example.com").await;

    let response = app.post_register("author", &registration("ADA@Example.COM"), None).await;

    assert_problem(response, StatusCode::CONFLICT, "email_taken").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_registrations_of_one_email_make_one_account() {
    let app = spawn_app().await;
    app.signed_up("reader", "race@example.com").await;
    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let email = if i % 2 == 0 { "race@example.com" } else { "RACE@example.com" };
            let request = app.client.post(app.url("/api/v1/auth/register/reader")).json(&registration(email));
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();

    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }

    // Each is refused as taken, or (beyond the hashing bound) as busy: none gets through.
    let refused = [StatusCode::CONFLICT, StatusCode::SERVICE_UNAVAILABLE];
    assert!(statuses.iter().all(|s| refused.contains(s)), "{statuses:?}");
    assert!(statuses.contains(&StatusCode::CONFLICT), "{statuses:?}");
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_process_twenty_concurrent_pending_registrations_of_one_email_leave_one_account() {
    let app = spawn_app_with(|config| config.limits.hashing_queue = 64).await;
    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let email = if i % 2 == 0 { "race@example.com" } else { "RACE@example.com" };
            let request = app.client.post(app.url("/api/v1/auth/register/reader")).json(&registration(email));
            tokio::spawn(async move { request.send().await.unwrap() })
        })
        .collect();
    let mut created = Vec::new();
    for attempt in attempts {
        let response = attempt.await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "a registration never confirmed gives way to the next");
        created.push(response.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string());
    }

    let holder = app.local().auth.accounts.account_by_email("race@example.com").await.unwrap().unwrap();
    assert!(created.contains(&holder.id.0));
    let mut others = 0;
    for id in created.iter().filter(|id| **id != holder.id.0) {
        let gone = app.local().auth.accounts.account(&shared::domain::UserId(id.clone())).await.unwrap();
        others += usize::from(gone.is_none());
    }
    assert_eq!(others, 19, "one account holds the address; the other registrations are gone");
}

#[tokio::test]
async fn invalid_fields_are_listed_one_by_one() {
    let app = spawn_app().await;
    let body = json!({ "email": "not-an-email", "password": "short", "first_name": " ", "last_name": "L".repeat(101) });

    let problem = assert_problem(
        app.post_register("reader", &body, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;

    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["email", "password", "first_name", "last_name"]);
}

#[tokio::test]
async fn common_and_overlong_passwords_are_refused() {
    let app = spawn_app().await;
    for (password, code) in
        [("Password123", "too_common"), ("qwertyuiop", "too_common"), (&"x".repeat(129)[..], "too_long")]
    {
        let mut body = registration("ada@example.com");
        body["password"] = json!(password);
        let problem = assert_problem(
            app.post_register("reader", &body, None).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["code"], code);
    }
}

#[tokio::test]
async fn readers_and_authors_cannot_register_moderators_or_admins() {
    let app = spawn_app().await;
    let reader = app.signed_up("reader", "reader@example.com").await;
    let author = app.signed_up("author", "author@example.com").await;

    for role in ["moderator", "admin"] {
        let body = registration(&format!("new-{role}@example.com"));
        assert_problem(app.post_register(role, &body, None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
        assert_problem(app.post_register(role, &body, Some(&reader.access)).await, StatusCode::FORBIDDEN, "forbidden")
            .await;
        assert_problem(app.post_register(role, &body, Some(&author.access)).await, StatusCode::FORBIDDEN, "forbidden")
            .await;
        assert_problem(
            app.post_register(role, &body, Some("not-a-jwt")).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_an_admin_registers_a_moderator_and_another_admin() {
    let app = spawn_app().await;
    let admin = app.admin("root@example.com").await;

    for role in ["moderator", "admin"] {
        let response =
            app.post_register(role, &registration(&format!("{role}@example.com")), Some(&admin.access)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["role"], role);
        assert_eq!(body["status"], "pending");
    }
    // The moderator confirms and logs in like anyone else.
    let token = app.email_token("moderator@example.com", "Confirm your email address").await;
    assert_eq!(app.get_confirm_email(&token).await.status(), StatusCode::OK);
    assert_eq!(app.post_login("moderator@example.com", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_role_is_not_found() {
    let app = spawn_app().await;
    let response = app.post_register("superuser", &registration("x@example.com"), None).await;
    assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn bodies_that_are_too_large_malformed_or_not_json_are_refused_with_problems() {
    let app = spawn_app().await;
    let url = app.url("/api/v1/auth/register/reader");

    let mut huge = registration("big@example.com");
    huge["bio"] = json!("x".repeat(64 * 1024));
    let response = app.client.post(&url).json(&huge).send().await.unwrap();
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    let response =
        app.client.post(&url).header("content-type", "application/json").body("{\"email\": ").send().await.unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST, "malformed_json").await;

    let response =
        app.client.post(&url).header("content-type", "application/json").body("{\"email\": 5}").send().await.unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST, "malformed_json").await;

    let response = app.client.post(&url).body(registration("x@example.com").to_string()).send().await.unwrap();
    assert_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    assert!(app.outbox().is_empty());
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_with_problems() {
    let app = spawn_app().await;

    let response = app.client.get(app.url("/api/v1/nothing-here")).send().await.unwrap();
    assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;

    let response = app.client.get(app.url("/api/v1/auth/login")).send().await.unwrap();
    assert_problem(response, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
}
