//! An attacker uses the service to send their words to someone else's inbox, or registers
//! accounts by the thousand.

use reqwest::StatusCode;

use crate::helpers::{assert_problem, registration, spawn_app, spawn_app_with};

#[tokio::test]
async fn emails_to_unconfirmed_addresses_carry_no_text_the_registrant_chose() {
    let app = spawn_app().await;
    let mut body = registration("victim@example.com");
    body["first_name"] = "Your account is locked, visit http://evil.example".into();
    assert_eq!(app.post_register("reader", &body, None).await.status(), StatusCode::CREATED);

    let email = app.emails_to_eventually("victim@example.com", "Confirm your email address").await;

    assert!(!email.contains("evil.example") && !email.contains("locked"), "{email}");
}

#[tokio::test]
async fn names_refuse_characters_that_hide_or_reorder_text() {
    let app = spawn_app().await;

    for name in ["Ada\u{202E}ecalevoL", "A\u{200B}da", "Ada\u{2028}Lovelace", "Ada\u{2066}"] {
        let mut body = registration("ada@example.com");
        body["first_name"] = name.into();
        let problem = assert_problem(
            app.post_register("reader", &body, None).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["code"], "invalid_characters", "{name:?}");
    }
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_registrations_are_limited_per_source_and_in_total() {
    let app = spawn_app_with(|config| {
        config.limits.registrations_per_source_per_minute = 3;
        config.limits.registrations_per_minute = 5;
    })
    .await;

    for i in 0..3 {
        app.register("reader", &format!("user{i}@example.com")).await;
    }
    let response = app.post_register("reader", &registration("user3@example.com"), None).await;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "too_many_registrations").await;

    // Another source may still register, until the service-wide limit.
    let elsewhere = app.client_from("127.0.0.3");
    let url = app.url("/api/v1/auth/register/reader");
    for i in 4..6 {
        let response = elsewhere.post(&url).json(&registration(&format!("user{i}@example.com"))).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let response = elsewhere.post(&url).json(&registration("user6@example.com")).send().await.unwrap();
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "too_many_registrations").await;

    // A minute later the window is new.
    app.advance_clock(time::Duration::minutes(1));
    app.register("reader", "user7@example.com").await;
}
