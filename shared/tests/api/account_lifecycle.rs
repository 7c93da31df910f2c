//! The holes several write paths left open (issue 17), each tried as an attacker would: a
//! login racing a suspension, an email change with a stolen token, a flood of email changes,
//! an address squatted by a registration never confirmed, a suspension no audit saw, a date
//! no listing could read back, answers a browser could sniff, an author too followed to delete.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, assert_problem, spawn_app};

const CONFIRM_CHANGE: &str = "Confirm your new email address";

#[tokio::test]
async fn logins_racing_a_suspension_leave_no_token_that_works() {
    let app = spawn_app().await;
    let admin = app.admin("grace@example.com").await;
    let author = app.signed_up("author", "arthur@example.com").await;
    let id = app.id_of(&author.access).await;

    // The author (or a thief with the password) logs in over and over while the admin
    // suspends the account.
    let logins: Vec<_> = (0..12)
        .map(|_| {
            let (client, url) = (app.client.clone(), app.url("/api/v1/auth/login"));
            tokio::spawn(async move {
                let body = json!({ "email": "arthur@example.com", "password": PASSWORD });
                let response = client.post(url).json(&body).send().await.unwrap();
                let body: Value = response.json().await.unwrap();
                body["access_token"].as_str().map(str::to_string)
            })
        })
        .collect();
    let suspended =
        app.post(&format!("/api/v1/suspend/author?id={id}"), &admin.access, &json!({ "reason": "Spam." })).await;
    assert_eq!(suspended.status(), StatusCode::OK);
    let mut tokens = vec![author.access.clone()];
    for login in logins {
        tokens.extend(login.await.unwrap());
    }

    for token in &tokens {
        assert_problem(app.get_me(token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let notify = json!({ "subject": "Still here", "message": "Ha." });
        let sent = app.post("/api/v1/author/notify_subscribers", token, &notify).await;
        assert_eq!(sent.status(), StatusCode::UNAUTHORIZED, "a token of a suspended author sent a notification");
    }
}

#[tokio::test]
async fn a_stolen_access_token_alone_cannot_change_the_email() {
    let app = spawn_app().await;
    let ada = app.signed_up("reader", "ada@example.com").await;

    let without = app.put_me(&ada.access, &json!({ "email": "thief@example.com" })).await;
    let problem = assert_problem(without, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "current_password");
    let guessed =
        app.put_me(&ada.access, &json!({ "email": "thief@example.com", "current_password": "guess 1" })).await;
    assert_problem(guessed, StatusCode::FORBIDDEN, "wrong_current_password").await;

    let me: Value = app.get_me(&ada.access).await.json().await.unwrap();
    assert_eq!((me["email"].as_str(), me["pending_email"].clone()), (Some("ada@example.com"), Value::Null));
    assert!(app.emails_to("thief@example.com", CONFIRM_CHANGE).is_empty(), "no link reached the thief");
    // With the password, the owner changes it.
    let owner = app.put_me(&ada.access, &json!({ "email": "ada2@example.com", "current_password": PASSWORD })).await;
    assert_eq!(owner.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_burst_of_email_changes_is_refused_before_any_address_is_looked_up_or_emailed() {
    let app = spawn_app().await;
    let ada = app.signed_up("reader", "ada@example.com").await;
    let bob = app.signed_up("reader", "bob@example.com").await;

    // Thirty strangers' addresses at once, one of them an account's.
    let attempts: Vec<_> = (0..30)
        .map(|i| {
            let (client, url, token) = (app.client.clone(), app.url("/api/v1/user"), ada.access.clone());
            let email = if i == 29 { "bob@example.com".to_string() } else { format!("stranger{i}@example.com") };
            tokio::spawn(async move {
                let body = json!({ "email": email, "current_password": PASSWORD });
                let response = client.put(url).bearer_auth(token).json(&body).send().await.unwrap();
                let retry_after = response.headers().get("retry-after").is_some();
                (response.status(), retry_after)
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        let (status, retry_after) = attempt.await.unwrap();
        assert!(status != StatusCode::TOO_MANY_REQUESTS || retry_after, "429 without Retry-After");
        statuses.push(status.as_u16());
    }

    let allowed = statuses.iter().filter(|s| **s != 429).count();
    assert_eq!(allowed, 3, "three changes an hour per account: {statuses:?}");
    assert!(statuses.iter().filter(|s| **s == 409).count() <= 1, "{statuses:?}");
    let problem = assert_problem(
        app.put_me(&ada.access, &json!({ "email": "late@example.com", "current_password": PASSWORD })).await,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_email_changes",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("seconds"));
    let _ = bob;
}

#[tokio::test]
async fn a_registration_never_confirmed_does_not_keep_an_address_from_an_email_change() {
    let app = spawn_app().await;
    // Someone registers the address first, and never confirms it.
    app.register("reader", "wanted@example.com").await;
    let owner = app.signed_up("reader", "owner@example.com").await;

    let asked =
        app.put_me(&owner.access, &json!({ "email": "wanted@example.com", "current_password": PASSWORD })).await;
    assert_eq!(asked.status(), StatusCode::OK, "a pending registration holds no address");
    let token = app.email_token("wanted@example.com", CONFIRM_CHANGE).await;
    let confirmed =
        app.client.get(app.url(&format!("/api/v1/user/confirm_email_change?token={token}"))).send().await.unwrap();
    assert_eq!(confirmed.status(), StatusCode::OK);

    let me: Value = app.get_me(&owner.access).await.json().await.unwrap();
    assert_eq!(me["email"], "wanted@example.com");
    // The squatter's confirmation link died with their registration.
    let squat = app.email_token("wanted@example.com", "Confirm your email address").await;
    assert_problem(app.get_confirm_email(&squat).await, StatusCode::BAD_REQUEST, "invalid_token").await;
    assert_eq!(app.post_login("wanted@example.com", PASSWORD).await.status(), StatusCode::OK, "the owner's now");
}

#[tokio::test]
async fn a_suspension_by_an_admin_update_is_audited_under_the_same_rules_as_suspend_author() {
    let app = spawn_app().await;
    let admin = app.admin("grace@example.com").await;
    let author = app.signed_up("author", "arthur@example.com").await;
    let id = app.id_of(&author.access).await;
    let path = format!("/api/v1/user?id={id}");

    // Clearing a suspension's end on an account that has none changes nothing, and is no error.
    let clear = json!({ "suspended_until": null, "suspension_reason": null });
    assert_eq!(app.put(&path, &admin.access, &clear).await.status(), StatusCode::OK);
    // One reason rule for both routes: up to 1000 characters, lines allowed.
    let too_long = json!({ "status": "suspended", "suspension_reason": "x".repeat(1001) });
    let problem = assert_problem(
        app.put(&path, &admin.access, &too_long).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["code"], "too_long");
    let reason = format!("Plagiarism.\n{}", "x".repeat(900));
    let body =
        json!({ "status": "suspended", "suspension_reason": reason, "suspended_until": "2035-01-01T09:00:00+09:00" });
    let suspended: Value = app.put(&path, &admin.access, &body).await.json().await.unwrap();
    assert_eq!(suspended["status"], "suspended");
    assert_eq!(suspended["suspended_until"], "2035-01-01T00:00:00Z", "stored and answered in UTC");
    assert_eq!(app.put(&path, &admin.access, &json!({ "status": "active" })).await.status(), StatusCode::OK);

    let audit: Value =
        app.get(&format!("/api/v1/moderation/audit?author_id={id}"), &admin.access).await.json().await.unwrap();
    let actions: Vec<(&str, &str)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["action"].as_str().unwrap(), r["until"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(actions, [("unsuspend", ""), ("suspend", "2035-01-01T00:00:00Z")]);
    assert_eq!(audit["items"][1]["reason"], reason);
    assert_eq!(audit["items"][1]["actor_id"], app.id_of(&admin.access).await);
}

#[tokio::test]
async fn a_suspension_past_any_sane_date_is_refused_and_the_audit_trail_stays_readable() {
    let app = spawn_app().await;
    let admin = app.admin("grace@example.com").await;
    let author = app.signed_up("author", "arthur@example.com").await;
    let id = app.id_of(&author.access).await;

    for until in ["9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59Z", "2100-01-01T00:00:00Z"] {
        let body = json!({ "reason": "Forever.", "until": until });
        let response = app.post(&format!("/api/v1/suspend/author?id={id}"), &admin.access, &body).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(problem["errors"][0]["code"], "too_far", "{until}");
        let put = json!({ "status": "suspended", "suspended_until": until });
        let response = app.put(&format!("/api/v1/user?id={id}"), &admin.access, &put).await;
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let body = json!({ "reason": "A while.", "until": "2030-06-01T12:00:00-05:00" });
    let suspended: Value =
        app.post(&format!("/api/v1/suspend/author?id={id}"), &admin.access, &body).await.json().await.unwrap();
    assert_eq!(suspended["suspended_until"], "2030-06-01T17:00:00Z");
    let audit = app.get("/api/v1/moderation/audit", &admin.access).await;
    assert_eq!(audit.status(), StatusCode::OK);
}

#[tokio::test]
async fn no_answer_of_the_service_may_be_sniffed_as_another_type() {
    let app = spawn_app().await;
    let ada = app.signed_up("reader", "ada@example.com").await;

    let answers = [
        app.get_me(&ada.access).await,
        app.client.get(app.url("/api/v1/user")).send().await.unwrap(),
        app.client.get(app.url("/no/such/route")).send().await.unwrap(),
        app.client.get(app.url("/openapi.json")).send().await.unwrap(),
        app.post_login("ada@example.com", "wrong password").await,
    ];
    for answer in answers {
        let url = answer.url().to_string();
        assert_eq!(
            answer.headers().get("x-content-type-options").and_then(|v| v.to_str().ok()),
            Some("nosniff"),
            "{url}"
        );
    }
}

#[tokio::test]
async fn deleting_an_author_with_subscribers_and_follows_leaves_no_edge_no_count_and_one_goodbye() {
    let app = spawn_app().await;
    let author = app.signed_up("author", "arthur@example.com").await;
    let other = app.signed_up("author", "olive@example.com").await;
    let reader = app.signed_up("reader", "rita@example.com").await;
    let (author_id, other_id) = (app.id_of(&author.access).await, app.id_of(&other.access).await);
    assert_eq!(app.subscribe(&reader.access, &author_id).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.subscribe(&other.access, &author_id).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.follow(&other.access, &author_id).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.follow(&author.access, &other_id).await.status(), StatusCode::NO_CONTENT);
    let counts = app.public(&format!("/api/v1/author?id={other_id}")).await["counts"].clone();
    assert_eq!(counts, json!({ "subscribers": 0, "followers": 1, "follows": 1 }));

    assert_eq!(app.delete_me(&author.access, PASSWORD).await.status(), StatusCode::NO_CONTENT);

    // The erasure job runs after the answer: the counts go to zero within moments.
    let mut counts = Value::Null;
    for _ in 0..200 {
        counts = app.public(&format!("/api/v1/author?id={other_id}")).await["counts"].clone();
        if counts == json!({ "subscribers": 0, "followers": 0, "follows": 0 }) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(counts, json!({ "subscribers": 0, "followers": 0, "follows": 0 }));
    let subscriptions: Value = app.get("/api/v1/user/subscriptions", &reader.access).await.json().await.unwrap();
    assert_eq!(subscriptions["items"], json!([]));
    app.emails_to_eventually("arthur@example.com", "Your account has been deleted").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(app.emails_to("arthur@example.com", "Your account has been deleted").len(), 1, "one goodbye");
}
