//! Readers and authors report authors, moderators flag them with the reports that led there,
//! admins suspend and reinstate them; every step is on the audit trail.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, Tokens, assert_problem, registration, spawn_app};

impl TestApp {
    /// A moderator registered by an admin, confirmed from the emailed link, logged in.
    pub async fn moderator(&self, email: &str, admin: &Tokens) -> Tokens {
        let response = self.post_register("moderator", &registration(email), Some(&admin.access)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let token = self.email_token(email, "Confirm your email address").await;
        assert_eq!(self.get_confirm_email(&token).await.status(), StatusCode::OK);
        self.logged_in(email).await
    }

    pub async fn report(&self, reporter: &str, author_id: &str, reason: &str) -> reqwest::Response {
        self.post(&format!("/api/v1/report/author?id={author_id}"), reporter, &json!({ "reason": reason })).await
    }
}

#[tokio::test]
async fn a_reader_reports_an_author_once_and_a_moderator_flags_them_with_the_report() {
    let app = spawn_app().await;
    let admin = app.admin("grace@example.com").await;
    let moderator = app.moderator("mo@example.com", &admin).await;
    let author = app.signed_up("author", "bob@example.com").await;
    let bob = app.id_of(&author.access).await;
    let reader = app.signed_up("reader", "ada@example.com").await;
    let ada = app.id_of(&reader.access).await;

    let response = app.report(&reader.access, &bob, "Copies other people's articles.").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let report: Value = response.json().await.unwrap();
    assert_eq!((report["status"].as_str(), report["reporter_id"].as_str()), (Some("open"), Some(ada.as_str())));
    // One open report per reporter and author.
    let again = app.report(&reader.access, &bob, "And again.").await;
    assert_problem(again, StatusCode::CONFLICT, "already_reported").await;

    let listed: Value =
        app.get(&format!("/api/v1/report/authors?author_id={bob}"), &moderator.access).await.json().await.unwrap();
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["reason"], "Copies other people's articles.");

    let flag = json!({ "reason": "Plagiarism, checked.", "report_ids": [report["id"]] });
    let response = app.post(&format!("/api/v1/flag/author?id={bob}"), &moderator.access, &flag).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let flagged: Value = response.json().await.unwrap();
    assert_eq!(flagged["report_ids"], json!([report["id"]]));
    // The report is taken up: no open report left, and the same one cannot be linked twice.
    let open: Value = app.get("/api/v1/report/authors", &moderator.access).await.json().await.unwrap();
    assert_eq!(open["total"], 0);
    let all: Value = app.get("/api/v1/report/authors?status=all", &admin.access).await.json().await.unwrap();
    assert_eq!((all["total"].as_u64(), all["items"][0]["status"].as_str()), (Some(1), Some("flagged")));
    let relinked = app.post(&format!("/api/v1/flag/author?id={bob}"), &moderator.access, &flag).await;
    assert_problem(relinked, StatusCode::CONFLICT, "report_not_open").await;
    // With the first report taken up, the reader may report again.
    assert_eq!(app.report(&reader.access, &bob, "Still copying.").await.status(), StatusCode::CREATED);

    let flags: Value =
        app.get(&format!("/api/v1/flag/authors?author_id={bob}"), &admin.access).await.json().await.unwrap();
    assert_eq!(flags["total"], 1);
    // The audit trail: who did what, when and why, newest first.
    let audit: Value =
        app.get(&format!("/api/v1/moderation/audit?author_id={bob}"), &admin.access).await.json().await.unwrap();
    let actions: Vec<(&str, &str)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["action"].as_str().unwrap(), a["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [("report", "Still copying."), ("flag", "Plagiarism, checked."), ("report", "Copies other people's articles.")]
    );
    let moderator_id = app.id_of(&moderator.access).await;
    assert_eq!(audit["items"][1]["actor_id"], moderator_id.as_str());
    // Moderators list reports and flags but do not read the audit trail.
    assert_problem(app.get("/api/v1/moderation/audit", &moderator.access).await, StatusCode::FORBIDDEN, "forbidden")
        .await;
}

#[tokio::test]
async fn reports_are_refused_for_oneself_for_non_authors_and_without_a_good_reason() {
    let app = spawn_app().await;
    let author = app.signed_up("author", "bob@example.com").await;
    let bob = app.id_of(&author.access).await;
    let reader = app.signed_up("reader", "ada@example.com").await;
    let ada = app.id_of(&reader.access).await;

    assert_problem(
        app.report(&author.access, &bob, "Me.").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_problem(app.report(&author.access, &ada, "A reader.").await, StatusCode::NOT_FOUND, "not_found").await;
    let nobody = "01936f4e-0000-7000-8000-000000000001";
    assert_problem(app.report(&reader.access, nobody, "Nobody.").await, StatusCode::NOT_FOUND, "not_found").await;
    for reason in ["", "   ", &"x".repeat(1001), "Hidden\u{202E}text", "Bell\u{7}"] {
        let response = app.report(&reader.access, &bob, reason).await;
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let extra = app
        .post(
            &format!("/api/v1/report/author?id={bob}"),
            &reader.access,
            &json!({ "reason": "Spam.", "status": "closed" }),
        )
        .await;
    assert_problem(extra, StatusCode::BAD_REQUEST, "malformed_json").await;
}

#[tokio::test]
async fn a_suspended_authors_live_token_is_refused_on_the_next_request_and_login_says_until_when() {
    let app = spawn_app().await;
    let admin = app.admin("grace@example.com").await;
    let author = app.signed_up("author", "bob@example.com").await;
    let bob = app.id_of(&author.access).await;

    let until = (time::OffsetDateTime::now_utc() + time::Duration::days(7)).replace_nanosecond(0).unwrap();
    let until = until.format(&time::format_description::well_known::Rfc3339).unwrap();
    let body = json!({ "reason": "Plagiarism.", "until": until });
    let response = app.post(&format!("/api/v1/suspend/author?id={bob}"), &admin.access, &body).await;
    assert_eq!(response.status(), StatusCode::OK);

    // The token was minted before: its session is gone, so it is refused now, not at expiry.
    assert_problem(app.get_me(&author.access).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_problem(app.post_refresh(&author.refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    let refused =
        assert_problem(app.post_login("bob@example.com", PASSWORD).await, StatusCode::FORBIDDEN, "account_suspended")
            .await;
    assert_eq!(refused["suspended_until"], until.as_str());
    // Gone from the public author list, on the suspended list.
    assert_eq!(
        app.client.get(app.url(&format!("/api/v1/author?id={bob}"))).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let suspended: Value = app.get("/api/v1/suspend/authors", &admin.access).await.json().await.unwrap();
    assert_eq!((suspended["total"].as_u64(), suspended["items"][0]["id"].as_str()), (Some(1), Some(bob.as_str())));

    let response = app
        .post(&format!("/api/v1/unsuspend/author?id={bob}"), &admin.access, &json!({ "reason": "Apologised." }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.post_login("bob@example.com", PASSWORD).await.status(), StatusCode::OK);
    let again = app.post(&format!("/api/v1/unsuspend/author?id={bob}"), &admin.access, &json!({})).await;
    assert_problem(again, StatusCode::CONFLICT, "not_suspended").await;
    let audit: Value = app.get("/api/v1/moderation/audit", &admin.access).await.json().await.unwrap();
    assert_eq!(audit["items"][0]["action"], "unsuspend");
    assert_eq!(
        (audit["items"][1]["action"].as_str(), audit["items"][1]["until"].as_str()),
        (Some("suspend"), Some(until.as_str()))
    );
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_a_suspension_lifts_by_itself_at_its_end_date() {
    let app = spawn_app().await;
    let admin = app.admin("grace@example.com").await;
    let author = app.signed_up("author", "bob@example.com").await;
    let bob = app.id_of(&author.access).await;
    let until = (shared::clock::Clock::now(app.local().auth.clock.as_ref()) + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let body = json!({ "reason": "Cooling off.", "until": until });
    assert_eq!(
        app.post(&format!("/api/v1/suspend/author?id={bob}"), &admin.access, &body).await.status(),
        StatusCode::OK
    );
    assert_problem(app.post_login("bob@example.com", PASSWORD).await, StatusCode::FORBIDDEN, "account_suspended").await;

    app.advance_clock(time::Duration::hours(1) + time::Duration::seconds(1));
    let admin = app.logged_in("grace@example.com").await; // the old token expired

    // No job ran: the date alone ends it, for the lists as for the login.
    let suspended: Value = app.get("/api/v1/suspend/authors", &admin.access).await.json().await.unwrap();
    assert_eq!(suspended["total"], 0);
    assert_eq!(
        app.client.get(app.url(&format!("/api/v1/author?id={bob}"))).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(app.post_login("bob@example.com", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn only_authors_are_suspended_and_dates_and_reasons_are_checked() {
    let app = spawn_app().await;
    let admin = app.admin("grace@example.com").await;
    let reader = app.signed_up("reader", "ada@example.com").await;
    let ada = app.id_of(&reader.access).await;
    let author = app.signed_up("author", "bob@example.com").await;
    let bob = app.id_of(&author.access).await;
    let admin_id = app.id_of(&admin.access).await;

    for id in [&ada, &admin_id] {
        let response =
            app.post(&format!("/api/v1/suspend/author?id={id}"), &admin.access, &json!({ "reason": "No." })).await;
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    for body in [
        json!({ "reason": "" }),
        json!({ "reason": "Past.", "until": "2001-01-01T00:00:00Z" }),
        json!({ "reason": "Odd.", "until": "next tuesday" }),
    ] {
        let response = app.post(&format!("/api/v1/suspend/author?id={bob}"), &admin.access, &body).await;
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    // Nothing happened to the author.
    assert_eq!(app.get_me(&author.access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn parallel_reports_by_one_reader_file_one() {
    let app = spawn_app().await;
    let author = app.signed_up("author", "bob@example.com").await;
    let bob = app.id_of(&author.access).await;
    let reader = app.signed_up("reader", "ada@example.com").await;

    let url = app.url(&format!("/api/v1/report/author?id={bob}"));
    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let request =
                app.client.post(&url).bearer_auth(&reader.access).json(&json!({ "reason": format!("Spam {i}.") }));
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }

    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT), "{statuses:?}");
}

#[tokio::test]
async fn a_deleted_reporters_reports_stay_with_their_id_only() {
    let app = spawn_app().await;
    let admin = app.admin("grace@example.com").await;
    let author = app.signed_up("author", "bob@example.com").await;
    let bob = app.id_of(&author.access).await;
    let reader = app.signed_up("reader", "ada@example.com").await;
    let ada = app.id_of(&reader.access).await;
    assert_eq!(app.report(&reader.access, &bob, "Spam.").await.status(), StatusCode::CREATED);
    // The reader's export lists it.
    let export: Value = app.get("/api/v1/user/export", &reader.access).await.json().await.unwrap();
    assert_eq!(
        (export["reports"][0]["author_id"].as_str(), export["reports"][0]["status"].as_str()),
        (Some(bob.as_str()), Some("open"))
    );

    assert_eq!(app.delete_me(&reader.access, PASSWORD).await.status(), StatusCode::NO_CONTENT);

    let reports: Value = app.get("/api/v1/report/authors", &admin.access).await.json().await.unwrap();
    assert_eq!(reports["items"][0]["reporter_id"], ada.as_str());
    assert!(!reports.to_string().contains("ada@example.com"), "{reports}");
}
