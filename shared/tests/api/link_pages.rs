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
    for path in ["/confirm-email", "/reset-password", "/confirm-email-change"] {
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

#[cfg_attr(feature = "aws-path", ignore = "needs the in-process app: its clock, stores, settings or other sources")]
#[tokio::test]
async fn with_a_front_end_configured_the_links_point_at_it() {
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
