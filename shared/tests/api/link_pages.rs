//! What a person does with an emailed link, as a browser without script would: the link opens
//! a page (opening it, as mail scanners do, changes nothing), its button or form posts the
//! token, and the answer is a page. (scripts/browser does the same in Chromium.)

use reqwest::{Response, StatusCode, header};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, assert_problem, spawn_app, spawn_app_with};

/// The link in an email's text part that carries a token.
fn link_in(email: &str) -> String {
    let at = email.find("token=").expect("a link with a token");
    let start = email[..at].rfind(|c: char| c.is_whitespace() || c == '<' || c == '"').map_or(0, |i| i + 1);
    let token = crate::helpers::token_in(&email[start..]);
    format!("{}{token}", &email[start..at + "token=".len()])
}

/// The page a link opens, with the headers every page has.
async fn open(app: &TestApp, link: &str) -> String {
    let page = app.client.get(link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_page_headers(&page);
    page.text().await.unwrap()
}

fn assert_page_headers(page: &Response) {
    let header = |name: header::HeaderName| page.headers().get(name).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(header(header::CONTENT_TYPE).as_deref(), Some("text/html; charset=utf-8"));
    assert_eq!(header(header::CACHE_CONTROL).as_deref(), Some("no-store"));
    assert_eq!(header(header::REFERRER_POLICY).as_deref(), Some("no-referrer"));
    let policy = header(header::CONTENT_SECURITY_POLICY).expect("a content security policy");
    assert!(policy.starts_with("default-src 'none'; style-src 'sha256-"), "{policy}");
    assert!(policy.contains("form-action 'self'") && policy.contains("frame-ancestors 'none'"), "{policy}");
}

/// Posts a page's form, as a browser does, to the path the form names (relative to the page).
async fn submit(app: &TestApp, link: &str, fields: &[(&str, &str)]) -> Response {
    let action = link.split('?').next().unwrap();
    let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    let request = app.client.post(action).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    request.body(body).send().await.unwrap()
}

fn token_of(link: &str) -> String {
    link.split("token=").nth(1).unwrap().to_string()
}

#[tokio::test]
async fn the_confirmation_link_opens_a_page_whose_button_confirms_once() {
    let app = spawn_app().await;
    app.register("reader", "ada@example.com").await;
    let link = link_in(&app.emails_to_eventually("ada@example.com", "Confirm your email address").await);
    assert!(link.starts_with(&format!("{}/confirm-email?token=", app.address)), "{link}");

    // Opened, by the reader or by a mail scanner, twice: nothing happens.
    for _ in 0..2 {
        let page = open(&app, &link).await;
        assert!(page.contains(r#"<form method="post" action="confirm-email">"#), "{page}");
        assert_eq!(page.matches(&token_of(&link)).count(), 1, "the token is in the hidden field only: {page}");
    }
    assert_problem(app.post_login("ada@example.com", PASSWORD).await, StatusCode::FORBIDDEN, "email_not_confirmed")
        .await;

    let confirmed = submit(&app, &link, &[("token", &token_of(&link))]).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    assert_page_headers(&confirmed);
    assert!(confirmed.text().await.unwrap().contains("Your email address is confirmed"));
    assert_eq!(app.post_login("ada@example.com", PASSWORD).await.status(), StatusCode::OK);

    let again = submit(&app, &link, &[("token", &token_of(&link))]).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST, "single use");
    assert!(again.text().await.unwrap().contains("This link does not work"));
}

#[tokio::test]
async fn the_reset_link_opens_a_form_that_keeps_the_link_good_until_a_password_is_accepted() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;
    app.post_json("/api/v1/auth/send_reset_password_email", &json!({ "email": "ada@example.com" }), None).await;
    let link = link_in(&app.emails_to_eventually("ada@example.com", "Reset your password").await);
    assert!(link.starts_with(&format!("{}/reset-password?token=", app.address)), "{link}");
    let page = open(&app, &link).await;
    assert!(page.contains(r#"name="password" type="password" autocomplete="new-password""#), "{page}");

    let refused = submit(&app, &link, &[("token", &token_of(&link)), ("password", "password")]).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let again = refused.text().await.unwrap();
    assert!(again.contains("common"), "why, on the form again: {again}");
    assert!(again.contains(&format!(r#"value="{}""#, token_of(&link))), "the form still carries the link");

    let changed = submit(&app, &link, &[("token", &token_of(&link)), ("password", "a garden of forking paths")]).await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert!(changed.text().await.unwrap().contains("Your password is changed"));
    assert_eq!(app.post_login("ada@example.com", "a garden of forking paths").await.status(), StatusCode::OK);
    assert_problem(app.post_login("ada@example.com", PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials")
        .await;
    assert_eq!(app.get_me(&tokens.access).await.status(), StatusCode::UNAUTHORIZED, "every session ended");
    let replayed = submit(&app, &link, &[("token", &token_of(&link)), ("password", "another garden path")]).await;
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_email_change_link_opens_a_page_whose_button_moves_the_account() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;
    app.put_me(&tokens.access, &json!({ "email": "ada2@example.com", "current_password": PASSWORD })).await;
    let link = link_in(&app.emails_to_eventually("ada2@example.com", "Confirm your new email address").await);
    assert!(link.starts_with(&format!("{}/confirm-email-change?token=", app.address)), "{link}");
    open(&app, &link).await;
    assert_eq!(app.post_login("ada2@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED, "not yet");

    let moved = submit(&app, &link, &[("token", &token_of(&link))]).await;
    assert_eq!(moved.status(), StatusCode::OK);
    assert_eq!(app.post_login("ada2@example.com", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_page_echoes_nothing_it_did_not_make_and_a_foreign_token_fails_as_a_page() {
    let app = spawn_app().await;
    for path in ["/confirm-email", "/reset-password", "/confirm-email-change", "/end-session"] {
        let hostile = app.url(&format!("{path}?token=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E"));
        let page = app.client.get(&hostile).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_page_headers(&page);
        assert!(!page.text().await.unwrap().contains("<script"), "{path}");

        let link = app.url(&format!("{path}?token={}", "A".repeat(43)));
        let refused =
            submit(&app, &link, &[("token", &"A".repeat(43)), ("password", "a garden of forking paths")]).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_page_headers(&refused);
    }
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_with_a_front_end_configured_the_links_point_at_it() {
    let app = spawn_app_with(|config| {
        config.confirm_email_url = "https://blog.example/welcome?lang=fr".into();
        config.email_change_url = "https://blog.example/account/email".into();
    })
    .await;
    app.register("reader", "ada@example.com").await;
    let link = link_in(&app.emails_to_eventually("ada@example.com", "Confirm your email address").await);
    assert!(link.starts_with("https://blog.example/welcome?lang=fr&token="), "{link}");
    // The front end confirms through the API with the token.
    assert_eq!(app.get_confirm_email(&token_of(&link)).await.status(), StatusCode::OK);
}

const NEW_SIGN_IN: &str = "A new sign-in to your account";
const FIREFOX_ON_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SAFARI_ON_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 \
                                (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

/// Logs in with the password from a client that says it is `user_agent`.
async fn logged_in_on(app: &TestApp, email: &str, user_agent: &str) -> crate::helpers::Tokens {
    let body = json!({ "email": email, "password": PASSWORD });
    let request = app.client.post(app.url("/api/v1/auth/login")).header(header::USER_AGENT, user_agent);
    let response = request.json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    crate::helpers::Tokens::of(&response.json().await.unwrap())
}

/// Waits until `count` alerts reached the address, and returns them, oldest first.
async fn alerts(app: &TestApp, to: &str, count: usize) -> Vec<String> {
    for _ in 0..400 {
        let alerts = app.emails_to(to, NEW_SIGN_IN);
        if alerts.len() >= count {
            return alerts;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("fewer than {count} sign-in alerts reached {to}");
}

#[tokio::test]
async fn a_login_from_a_new_device_is_alerted_once_and_the_alerts_link_ends_that_session() {
    let app = spawn_app().await;
    // The account's first login has nothing to compare with: no alert.
    let first = app.signed_up("reader", "ada@example.com").await;
    let laptop = logged_in_on(&app, "ada@example.com", FIREFOX_ON_LINUX).await;
    let alert = alerts(&app, "ada@example.com", 1).await.remove(0);
    let sessions: serde_json::Value = app.get("/api/v1/user/sessions", &laptop.access).await.json().await.unwrap();
    let source = sessions["items"].as_array().unwrap().iter().find(|s| s["current"] == true).unwrap()["source"].clone();
    let (source, device) = (format!("From: {}", source.as_str().unwrap()), "Device: Firefox on Linux");
    assert!(alert.contains(&source) && alert.contains(device) && alert.contains("When: "), "{alert}");
    let link = link_in(&alert);
    assert!(link.starts_with(&format!("{}/end-session?token=", app.address)), "{link}");

    // The same device again: no second alert. Another device: its own, which comes after.
    let laptop_again = logged_in_on(&app, "ada@example.com", FIREFOX_ON_LINUX).await;
    let phone = logged_in_on(&app, "ada@example.com", SAFARI_ON_IPHONE).await;
    let sent = alerts(&app, "ada@example.com", 2).await;
    assert!(sent[1].contains("Safari on iPhone"), "{}", sent[1]);
    assert_eq!(app.emails_to("ada@example.com", NEW_SIGN_IN).len(), 2, "one per new device");

    // Opened, by Ada or by a mail scanner: a button, and nothing ended.
    for _ in 0..2 {
        let page = open(&app, &link).await;
        assert!(page.contains(r#"<form method="post" action="end-session">"#), "{page}");
    }
    assert_eq!(app.get_me(&laptop.access).await.status(), StatusCode::OK);

    // The button ends that session, and only that one; the link works once.
    let ended = submit(&app, &link, &[("token", &token_of(&link))]).await;
    assert_eq!(ended.status(), StatusCode::OK);
    assert_page_headers(&ended);
    assert_problem(app.get_me(&laptop.access).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(app.post_refresh(&laptop.refresh).await.status(), StatusCode::UNAUTHORIZED);
    for other in [&first, &laptop_again, &phone] {
        assert_eq!(app.get_me(&other.access).await.status(), StatusCode::OK, "the others stay signed in");
    }
    let again = submit(&app, &link, &[("token", &token_of(&link))]).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    // Each of these is on Ada's security activity, newest first.
    let page: serde_json::Value = app.get("/api/v1/user/activity", &first.access).await.json().await.unwrap();
    let kinds: Vec<&str> = page["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds[0], "session_ended", "{page}");
    assert_eq!(kinds.iter().filter(|k| **k == "sign_in_alert_sent").count(), 2, "{page}");
    assert_eq!(kinds.iter().filter(|k| **k == "signed_in").count(), 4, "{page}");
}

#[tokio::test]
async fn five_logins_at_once_from_a_new_device_send_one_alert() {
    let app = spawn_app().await;
    app.signed_up("reader", "ada@example.com").await;
    let logins = (0..5).map(|_| logged_in_on(&app, "ada@example.com", SAFARI_ON_IPHONE));
    futures_util::future::join_all(logins).await;
    // Another new device's alert, sent after the five were queued, marks that the queue moved on.
    logged_in_on(&app, "ada@example.com", FIREFOX_ON_LINUX).await;
    let sent = alerts(&app, "ada@example.com", 2).await;
    let phone = sent.iter().filter(|a| a.contains("Safari on iPhone")).count();
    assert_eq!(phone, 1, "one alert for the phone's five logins");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(app.emails_to("ada@example.com", NEW_SIGN_IN).len(), 2, "and none late");
}

/// Someone who has the password signs in from made-up devices, one after another, to bury a
/// real alert under their own: the account is alerted five times a day at most, the fifth alert
/// says it is the last, and every login is still on the security activity.
#[tokio::test]
async fn made_up_devices_get_five_alerts_a_day_and_the_last_one_says_so() {
    let app = spawn_app().await;
    app.signed_up("reader", "ada@example.com").await;
    let mut last = None;
    for i in 0..30 {
        last = Some(logged_in_on(&app, "ada@example.com", &format!("Tool{i}/1.0")).await);
    }
    let sent = alerts(&app, "ada@example.com", 5).await;
    assert!(sent[..4].iter().all(|alert| !alert.contains("the last alert")), "{}", sent[0]);
    assert!(sent[4].contains("This is the last alert of this kind today (5 a day at most)"), "{}", sent[4]);

    // The activity is written at the login (no worker in between): five alerts, 31 logins.
    let activity: serde_json::Value =
        app.get("/api/v1/user/activity?limit=100", &last.unwrap().access).await.json().await.unwrap();
    let count = |kind: &str| activity["items"].as_array().unwrap().iter().filter(|e| e["kind"] == kind).count();
    assert_eq!((count("sign_in_alert_sent"), count("signed_in")), (5, 31), "{activity}");
    if app.is_in_process() {
        app.settle_queue().await;
        assert_eq!(app.emails_to("ada@example.com", NEW_SIGN_IN).len(), 5, "no alert past the fifth");
    }
}
