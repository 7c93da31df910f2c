//! The contract as reviewed text (insta, as crates.io keeps its own): the OpenAPI document,
//! every email, every page an emailed link opens, every account event. Any change to one shows
//! as a diff of `shared/tests/api/snapshots/` to review and commit (`cargo insta review`, or
//! `INSTA_UPDATE=always` and `git diff`), never silently. They are of the code, not of a path:
//! the AWS-path run leaves this module out.

use reqwest::StatusCode;
use serde_json::Value;
use shared::{
    events::{AccountEvent, SCHEMA_VERSION, examples},
    ports::{EmailJob, EmailMessage, NotificationEmail, OutgoingEmail},
};

use crate::helpers::spawn_app;

const FROM: &str = "Blog Platform <no-reply@blog.example>";
const LINK: &str = "https://blog.example/confirm-email?token=TOKEN";

#[test]
fn the_openapi_document() {
    let document: Value = serde_json::from_str(&shared::docs::document_json()).unwrap();
    insta::assert_json_snapshot!("openapi", document);
}

/// An email as its reader gets it: the subject, then the text part, then the HTML part.
fn shown(email: OutgoingEmail) -> String {
    format!("Subject: {}\n\n{}\n----- HTML -----\n{}", email.subject, email.text, email.html)
}

#[test]
fn every_email() {
    let when = || "Monday 7 December 2026 at 09:30 UTC".to_string();
    let messages = [
        ("confirm_email", EmailMessage::ConfirmEmail { link: LINK.into() }),
        ("reset_password", EmailMessage::ResetPassword { link: LINK.replace("confirm-email", "reset-password") }),
        ("confirm_email_change", EmailMessage::ConfirmEmailChange { link: LINK.into() }),
        ("email_change_requested", EmailMessage::EmailChangeRequested { new_email_hint: "a***@e***.com".into() }),
        ("account_deleted", EmailMessage::AccountDeleted),
        (
            "sign_in_alert",
            EmailMessage::SignInAlert {
                link: "https://blog.example/end-session?token=TOKEN".into(),
                at: when(),
                source: "203.0.113.7".into(),
                device: "Firefox on Linux".into(),
                last_today: false,
            },
        ),
        (
            "sign_in_alert_last_today",
            EmailMessage::SignInAlert {
                link: "https://blog.example/end-session?token=TOKEN".into(),
                at: when(),
                source: "203.0.113.7".into(),
                device: "Firefox on Linux".into(),
                last_today: true,
            },
        ),
        (
            "link_provider",
            EmailMessage::LinkProvider {
                link: "https://blog.example/link-provider?token=TOKEN".into(),
                provider: "Google".into(),
            },
        ),
        (
            "factor_added",
            EmailMessage::FactorAdded {
                factor: "an authenticator app".into(),
                at: when(),
                source: "203.0.113.7".into(),
                device: "Safari on iPhone".into(),
            },
        ),
    ];
    for (name, message) in messages {
        let email = EmailJob { to: "ada@example.com".into(), message }.render(FROM).unwrap();
        insta::assert_snapshot!(format!("email_{name}"), shown(email));
    }
    let notification = NotificationEmail {
        to: "ada@example.com".into(),
        notification_id: "01936f4e-0000-7000-8000-0000000000d4".into(),
        subscriber_id: shared::domain::UserId("01936f4e-0000-7000-8000-0000000000c3".into()),
        author_name: "Bob <b>Writer</b>".into(),
        subject: "A new essay".into(),
        message: Some("On engines.\n<script>alert(1)</script>".into()),
        article_url: Some("https://blog.example/essays/engines".into()),
        unsubscribe_url: "https://blog.example/api/v1/unsubscribe?token=TOKEN".into(),
    };
    insta::assert_snapshot!("email_author_notification", shown(notification.render(FROM).unwrap()));
}

#[test]
fn every_account_event() {
    let events: Vec<AccountEvent> = examples()
        .into_iter()
        .map(|change| AccountEvent {
            id: "01936f4e-0000-7000-8000-0000000000e1".into(),
            change,
            time: time::macros::datetime!(2026-12-02 12:00 UTC),
            account_id: "01936f4e-0000-7000-8000-0000000000c3".into(),
            schema_version: SCHEMA_VERSION,
        })
        .collect();
    insta::assert_json_snapshot!("account_events", events);
}

/// Each page an emailed link opens, in each state a person can meet it in.
#[tokio::test]
async fn every_page() {
    let app = spawn_app().await;
    let token = "A".repeat(43);
    let get = |path: String| {
        let app = &app;
        async move { app.client.get(app.url(&path)).send().await.unwrap() }
    };
    let pages = [
        ("confirm_email", get(format!("/confirm-email?token={token}")).await),
        ("reset_password", get(format!("/reset-password?token={token}")).await),
        ("end_session", get(format!("/end-session?token={token}")).await),
        ("confirm_email_change", get(format!("/confirm-email-change?token={token}")).await),
        ("unusable_link", get("/confirm-email".into()).await),
        ("unsubscribe_unusable_link", get(format!("/api/v1/unsubscribe?token={token}")).await),
        (
            "reset_password_refused",
            app.client
                .post(app.url("/reset-password"))
                .form(&[("token", token.as_str()), ("password", "short")])
                .send()
                .await
                .unwrap(),
        ),
    ];
    for (name, response) in pages {
        let status = response.status();
        assert!(status == StatusCode::OK || status.is_client_error(), "{name}: {status}");
        let policy = response.headers()["content-security-policy"].to_str().unwrap().to_string();
        let html = response.text().await.unwrap();
        insta::assert_snapshot!(
            format!("page_{name}"),
            format!("{status}\nContent-Security-Policy: {policy}\n\n{html}")
        );
    }
}
