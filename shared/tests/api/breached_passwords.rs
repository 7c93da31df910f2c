//! A password published from a breach is refused wherever a password is chosen: registration,
//! change, reset. The check asks a range of Have I Been Pwned's k-anonymity API (here a stand-in
//! that serves the range format from a corpus the story makes, padded as the real one is); when
//! the list cannot be reached the operator's choice holds: allowed by default, or refused.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{extract::Path, http::HeaderMap, routing::get};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::credentials::breached::{OnCheckError, prefix_of, range_of};

use crate::helpers::{
    PASSWORD, TestApp, assert_problem, on_aws_path, registration, spawn_app, spawn_app_with, token_in,
};

/// The stand-in's corpus, and what it was asked.
#[derive(Default)]
struct Corpus {
    passwords: Vec<(String, u64)>,
    asked: Vec<(String, Option<String>)>,
}

/// A range API in this process: `GET /range/{prefix}`, padded with 20 lines of count 0.
struct RangeStandIn {
    url: String,
    corpus: Arc<Mutex<Corpus>>,
    server: tokio::task::JoinHandle<()>,
}

impl RangeStandIn {
    async fn start() -> Self {
        let corpus = Arc::new(Mutex::new(Corpus::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let served = corpus.clone();
        let range = move |Path(prefix): Path<String>, headers: HeaderMap| async move {
            let mut corpus = served.lock().unwrap();
            let padding = headers.get("add-padding").map(|v| v.to_str().unwrap().to_string());
            corpus.asked.push((prefix.clone(), padding));
            let passwords: Vec<(&str, u64)> = corpus.passwords.iter().map(|(p, c)| (p.as_str(), *c)).collect();
            range_of(&passwords, &prefix, 20)
        };
        let router = axum::Router::new().route("/range/{prefix}", get(range));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { url: format!("http://{addr}"), corpus, server }
    }
}

/// The story's app, with the stand-in it checks against: in this process, an app configured
/// with `on_error`; on the AWS path, aws-local's stand-in (its functions are configured with it,
/// allowing on error), reached through the control port.
struct Breaches {
    app: TestApp,
    local: Option<RangeStandIn>,
}

impl Breaches {
    async fn spawn(on_error: OnCheckError) -> Self {
        if on_aws_path() {
            assert_eq!(on_error, OnCheckError::Allow, "the AWS path's functions allow when the list is down");
            return Self { app: spawn_app().await, local: None };
        }
        let stand_in = RangeStandIn::start().await;
        let url = stand_in.url.clone();
        let app = spawn_app_with(|config| {
            config.breached_passwords.url = Some(url);
            config.breached_passwords.on_error = on_error;
        })
        .await;
        Self { app, local: Some(stand_in) }
    }

    /// Publishes passwords as a breach would (each seen `count` times).
    async fn publish(&self, passwords: &[(&str, u64)]) {
        match &self.local {
            Some(stand_in) => {
                let mut corpus = stand_in.corpus.lock().unwrap();
                corpus.passwords.extend(passwords.iter().map(|(p, c)| (p.to_string(), *c)));
            }
            None => {
                let corpus: Vec<Value> = passwords.iter().map(|(p, c)| json!({ "password": p, "count": c })).collect();
                self.control("/breached-passwords", json!({ "passwords": corpus })).await;
            }
        }
    }

    /// Takes the list down (in this process: its server stops, so connections are refused; on
    /// the AWS path: it answers 503) or brings it back.
    async fn list_is_up(&mut self, up: bool) {
        match &mut self.local {
            Some(stand_in) if !up => stand_in.server.abort(),
            Some(_) => unreachable!("a story here does not bring the in-process list back"),
            None => self.control("/breached-passwords/up", json!({ "up": up })).await,
        }
    }

    async fn control(&self, path: &str, body: Value) {
        let url = std::env::var("UMS_TEST_RESET_URL").unwrap().replace("/reset", path);
        let response = self.app.client.post(url).json(&body).send().await.expect("the AWS path's control port answers");
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path}: {}", response.text().await.unwrap());
    }
}

/// What a refusal of the field `field` says.
async fn assert_breached(response: reqwest::Response, field: &str) {
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    assert_eq!(problem["errors"][0]["code"], "breached", "{problem}");
    let detail = problem["errors"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("data breaches") && detail.contains("3645804 times"), "{detail}");
}

#[tokio::test]
async fn a_password_from_a_breach_is_refused_wherever_one_is_chosen_and_allowed_while_the_list_is_down() {
    const BREACHED: &str = "Tr0ub4dor&3 of 2011";
    // Its range is not asked before the list is down (a range read is kept for an hour).
    const BREACHED_TOO: &str = "a breached passphrase of 2019";
    let mut breaches = Breaches::spawn(OnCheckError::Allow).await;
    breaches.publish(&[(BREACHED, 3_645_804), (BREACHED_TOO, 12)]).await;
    let app = &breaches.app;

    let mut body = registration("ada@example.com");
    body["password"] = json!(BREACHED);
    assert_breached(app.post_register("reader", &body, None).await, "password").await;
    assert_eq!(app.post_login("ada@example.com", BREACHED).await.status(), StatusCode::UNAUTHORIZED, "no account");

    let ada = app.signed_up("reader", "ada@example.com").await;
    assert_breached(app.post_change_password(&ada.access, PASSWORD, BREACHED).await, "new_password").await;

    assert_eq!(app.post_send_reset_password_email("ada@example.com").await.status(), StatusCode::ACCEPTED);
    let token = token_in(&app.emails_to_eventually("ada@example.com", "Reset your password").await);
    assert_breached(app.post_reset_password(&token, BREACHED).await, "password").await;
    let reset = app.post_reset_password(&token, "a garden of forking paths").await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT, "the refused password did not spend the link");

    breaches.list_is_up(false).await;
    let app = &breaches.app;
    let mut body = registration("grace@example.com");
    body["password"] = json!(BREACHED_TOO);
    let allowed = app.post_register("reader", &body, None).await;
    assert_eq!(allowed.status(), StatusCode::CREATED, "the operator's choice: a list that cannot be reached allows");
    if !app.is_in_process() {
        breaches.list_is_up(true).await;
    }
}

// In process only: it needs the app's settings.
#[tokio::test]
async fn in_process_with_refusal_chosen_a_list_that_cannot_be_reached_refuses_for_now_and_nothing_is_made() {
    let mut breaches = Breaches::spawn(OnCheckError::Refuse).await;
    breaches.list_is_up(false).await;
    let app = &breaches.app;

    let response = app.post_register("reader", &registration("ada@example.com"), None).await;
    assert_eq!(response.headers()["retry-after"], "30");
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "password_check_unavailable").await;
    app.settle_queue().await;
    assert!(app.emails_to("ada@example.com", "Confirm your email address").is_empty(), "no account was made");
}

// In process only: it reads what the stand-in was asked.
#[tokio::test]
async fn in_process_only_five_hex_digits_of_the_hash_leave_padded_and_a_range_is_asked_once() {
    let breaches = Breaches::spawn(OnCheckError::Allow).await;
    let app = &breaches.app;

    for email in ["ada@example.com", "grace@example.com"] {
        assert_eq!(app.post_register("reader", &registration(email), None).await.status(), StatusCode::CREATED);
    }

    let asked = breaches.local.as_ref().unwrap().corpus.lock().unwrap().asked.clone();
    let expected = (prefix_of(PASSWORD), Some("true".to_string()));
    assert_eq!(asked, [expected], "one range, by its prefix alone, padded; the second registration read it kept");
}
