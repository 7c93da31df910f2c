//! The whole sign-up and sign-in story with every port on AWS (DynamoDB, SQS, SES on the
//! emulator): the same routers as the laptop, the same answers.

use axum::body::Body;
use serde_json::{Value, json};
use shared::jobs::EmailWorker;
use tower::ServiceExt as _;

use crate::{
    emulator::{Queues, Table, sent_emails, ses_worker, unique},
    lambda_events::{aws_on_emulator, function, new_key},
};

pub const PASSWORD: &str = "correct horse battery staple";

/// The API on AWS adapters, called in-process the way Lambda calls it.
pub struct AwsApi {
    pub app: axum::Router,
    pub table: Table,
    pub queues: Queues,
    pub worker: EmailWorker,
    /// The photo bucket the users group signs upload forms for.
    pub bucket: String,
    /// The auth group's state, for accounts made as the operator command makes them.
    pub auth: shared::auth::AuthState,
}

impl AwsApi {
    pub async fn start() -> Self {
        let (table, queues) = (Table::create().await, Queues::create(3).await);
        let mut aws = aws_on_emulator(&table, Some(&queues), new_key()).await;
        // The front end an emailed sign-in link may end at (the stories' own).
        aws.config.front_end_urls = vec![crate::provider_support::FRONT_END.to_string()];
        let worker = ses_worker(&table, &aws.config.email_from).await;
        let bucket = aws.settings.photo_bucket.clone().unwrap();
        // The API functions' groups behind one router, as API Gateway puts them behind one URL.
        let auth = aws.auth_state().await.unwrap();
        let routes = shared::auth::router(auth.clone())
            .merge(shared::users::router(aws.users_state().await.unwrap()))
            .merge(shared::moderation::router(aws.moderation_state().await.unwrap()))
            .merge(shared::social::router(aws.social_state().await.unwrap()))
            .merge(shared::console::router(aws.console_state().await.unwrap()));
        Self { app: function(routes), table, queues, worker, bucket, auth }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>, bearer: Option<&str>) -> (u16, Value) {
        let mut request = axum::http::Request::builder().method(method).uri(path);
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request.header("content-type", "application/json").body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Runs the email worker over what is queued, and returns the token in the newest email
    /// to `to` with this subject.
    pub async fn email_token(&self, to: &str, subject: &str) -> String {
        let email = self.email(to, subject).await;
        let start = email.find("token=").unwrap() + "token=".len();
        email[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).collect()
    }

    /// Runs the email worker over what is queued, and returns the newest email to `to` with
    /// this subject, whole.
    pub async fn email(&self, to: &str, subject: &str) -> String {
        while self.queues.deliver_once(&self.worker, &self.table.store()).await.0 > 0 {}
        let sent = sent_emails().await;
        sent.into_iter()
            .rev()
            .find(|m| m.contains(&format!("To: {to}\r\n")) && m.contains(&format!("Subject: {subject}\r\n")))
            .unwrap_or_else(|| panic!("no {subject:?} email reached {to}"))
    }

    /// A form's POST (`application/x-www-form-urlencoded`), as a link's page sends it: the status
    /// and the page.
    pub async fn post_form(&self, path: &str, form: &str) -> (u16, String) {
        let request = axum::http::Request::builder()
            .method("POST")
            .uri(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form.to_string()))
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }
}

impl AwsApi {
    /// A console page: GET (no `form`) or a form's POST, with the console's cookies; the
    /// status, the cookies set, and the page.
    pub async fn console(&self, path: &str, cookies: &str, form: Option<&str>) -> (u16, Vec<String>, String) {
        let request = axum::http::Request::builder().uri(path).header("cookie", cookies);
        let request = match form {
            Some(form) => request
                .method("POST")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(form.to_string())),
            None => request.method("GET").body(Body::empty()),
        }
        .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let set: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
            .collect();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, set, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// An active account of this role, vouched for as the operator command does; its access
    /// token and id.
    pub async fn active(&self, role: shared::domain::Role, email: &str) -> (String, String) {
        use shared::identity::{NewAccount, Registrar, password};
        let new = NewAccount {
            email: email.into(),
            password: PASSWORD.into(),
            first_name: "Grace".into(),
            last_name: "Hopper".into(),
            ..Default::default()
        };
        let user = password::register(&self.auth, new, role, Registrar::Operator).await.unwrap();
        let login = json!({ "email": email, "password": PASSWORD });
        let (status, tokens) = self.call("POST", "/api/v1/auth/login", Some(login), None).await;
        assert_eq!(status, 200, "{tokens}");
        let access = tokens["access_token"].as_str().unwrap().to_string();
        if tokens["second_factor_enrolment_required"] != true {
            return (access, user.id.0);
        }
        // Staff enrol an authenticator app first; the session's next tokens are full ones.
        self.enrol_totp(&access).await;
        let refresh = json!({ "refresh_token": tokens["refresh_token"] });
        let (status, tokens) = self.call("POST", "/api/v1/auth/refresh", Some(refresh), None).await;
        assert_eq!(status, 200, "{tokens}");
        (tokens["access_token"].as_str().unwrap().to_string(), user.id.0)
    }

    /// Enrols an authenticator app for the account of `access`: its secret (base32) and the
    /// time step whose code confirmed it (spent).
    pub async fn enrol_totp(&self, access: &str) -> (String, i64) {
        let (status, enrolment) = self.call("POST", "/api/v1/auth/factors/totp", None, Some(access)).await;
        assert_eq!(status, 201, "{enrolment}");
        let secret = enrolment["secret"].as_str().unwrap().to_string();
        let step = shared::credentials::factors::step_of(time::OffsetDateTime::now_utc());
        let code = totp_code(&secret, step);
        let confirm = json!({ "code": code });
        let (status, codes) = self.call("POST", "/api/v1/auth/factors/totp/confirm", Some(confirm), Some(access)).await;
        assert_eq!(status, 200, "{codes}");
        (secret, step)
    }
}

/// An authenticator app's code for `secret` (base32) at a time step.
pub fn totp_code(secret: &str, step: i64) -> String {
    shared::credentials::factors::TotpSecret::from_base32(secret).unwrap().code_at_step(step)
}

pub fn registration(email: &str) -> Value {
    json!({ "email": email, "password": PASSWORD, "first_name": "Ada", "last_name": "Lovelace" })
}

#[tokio::test]
async fn sign_up_confirm_log_in_refresh_and_log_out_on_aws() {
    let api = AwsApi::start().await;
    let email = format!("{}@example.com", unique("ada"));

    let (status, user) = api.call("POST", "/api/v1/auth/register/author", Some(registration(&email)), None).await;
    assert_eq!((status, user["status"].as_str()), (201, Some("pending")));

    let token = api.email_token(&email, "Confirm your email address").await;
    let (status, user) = api.call("GET", &format!("/api/v1/auth/confirm_email?token={token}"), None, None).await;
    assert_eq!((status, user["status"].as_str()), (200, Some("active")));
    let (status, problem) =
        api.call("POST", "/api/v1/auth/register/reader", Some(registration(&email.to_uppercase())), None).await;
    assert_eq!((status, problem["code"].as_str()), (409, Some("email_taken")));
    let (status, _) = api.call("GET", &format!("/api/v1/auth/confirm_email?token={token}"), None, None).await;
    assert_eq!(status, 400, "a confirmation token works once");

    let login = json!({ "email": email, "password": PASSWORD });
    let (status, tokens) = api.call("POST", "/api/v1/auth/login", Some(login.clone()), None).await;
    assert_eq!(status, 200);
    let (access, refresh) = (tokens["access_token"].as_str().unwrap(), tokens["refresh_token"].as_str().unwrap());
    let (status, me) = api.call("GET", "/api/v1/user", None, Some(access)).await;
    assert_eq!((status, me["email"].as_str()), (200, Some(email.as_str())));

    let (status, renewed) =
        api.call("POST", "/api/v1/auth/refresh", Some(json!({ "refresh_token": refresh })), None).await;
    assert_eq!(status, 200);
    // Presented again at once: a client racing itself; the session stays.
    let (status, problem) =
        api.call("POST", "/api/v1/auth/refresh", Some(json!({ "refresh_token": refresh })), None).await;
    assert_eq!((status, problem["code"].as_str()), (409, Some("refresh_conflict")));
    let (status, renewed) = api
        .call("POST", "/api/v1/auth/refresh", Some(json!({ "refresh_token": renewed["refresh_token"] })), None)
        .await;
    assert_eq!(status, 200);
    // The first token, two rotations old: a copy; the session ends.
    let (status, problem) =
        api.call("POST", "/api/v1/auth/refresh", Some(json!({ "refresh_token": refresh })), None).await;
    assert_eq!((status, problem["code"].as_str()), (401, Some("refresh_token_reused")));
    let (status, _) = api.call("GET", "/api/v1/user", None, renewed["access_token"].as_str()).await;
    assert_eq!(status, 401, "the reuse ended the session");

    let (_, tokens) = api.call("POST", "/api/v1/auth/login", Some(login), None).await;
    let access = tokens["access_token"].as_str().unwrap();
    let (status, _) = api.call("POST", "/api/v1/auth/logout", None, Some(access)).await;
    assert_eq!(status, 204);
    let (status, _) = api.call("GET", "/api/v1/user", None, Some(access)).await;
    assert_eq!(status, 401, "logout ends the access token at once");
}

#[tokio::test]
async fn oversized_input_is_refused_before_it_reaches_dynamodb() {
    let api = AwsApi::start().await;
    let long_email = format!("{}@example.com", "a".repeat(3000));

    let (status, problem) =
        api.call("POST", "/api/v1/auth/login", Some(json!({ "email": long_email, "password": "x" })), None).await;
    assert_eq!((status, problem["code"].as_str()), (401, Some("invalid_credentials")));
    let (status, problem) =
        api.call("POST", "/api/v1/auth/send_reset_password_email", Some(json!({ "email": long_email })), None).await;
    assert_eq!((status, problem["code"].as_str()), (422, Some("validation_failed")));
    let (status, problem) =
        api.call("POST", "/api/v1/auth/register/reader", Some(registration(&long_email)), None).await;
    assert_eq!((status, problem["code"].as_str()), (422, Some("validation_failed")));
}

#[tokio::test]
async fn reset_a_forgotten_password_and_back_off_brute_force_on_aws() {
    let api = AwsApi::start().await;
    let email = format!("{}@example.com", unique("grace"));
    api.call("POST", "/api/v1/auth/register/reader", Some(registration(&email)), None).await;
    for _ in 0..5 {
        let (status, _) = api
            .call("POST", "/api/v1/auth/login", Some(json!({ "email": email, "password": "guess guess" })), None)
            .await;
        assert!(status == 401);
    }
    let (status, problem) =
        api.call("POST", "/api/v1/auth/login", Some(json!({ "email": email, "password": PASSWORD })), None).await;
    assert_eq!((status, problem["code"].as_str()), (429, Some("too_many_attempts")));

    let (status, _) =
        api.call("POST", "/api/v1/auth/send_reset_password_email", Some(json!({ "email": email })), None).await;
    assert_eq!(status, 202);
    let token = api.email_token(&email, "Reset your password").await;
    let reset = json!({ "token": token, "password": "a brand new passphrase" });
    let (status, _) = api.call("POST", "/api/v1/auth/reset_password", Some(reset.clone()), None).await;
    assert_eq!(status, 204);
    let (status, _) = api.call("POST", "/api/v1/auth/reset_password", Some(reset), None).await;
    assert_eq!(status, 400, "a reset token works once");

    // The reset confirmed the address and lifted the backoff.
    let login = json!({ "email": email, "password": "a brand new passphrase" });
    let (status, _) = api.call("POST", "/api/v1/auth/login", Some(login), None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn asking_for_a_link_costs_the_same_whether_or_not_the_address_has_an_account() {
    let api = AwsApi::start().await;
    let known = format!("{}@example.com", unique("known"));
    api.call("POST", "/api/v1/auth/register/reader", Some(registration(&known)), None).await;
    api.email_token(&known, "Confirm your email address").await;
    let unknown = format!("{}@example.com", unique("nobody"));

    for route in ["/api/v1/auth/send_confirm_email", "/api/v1/auth/send_reset_password_email"] {
        let mut costs = Vec::new();
        for email in [&known, &unknown] {
            api.table.calls.take();
            let queued_before = api.queues.count(&api.queues.url).await;
            let (status, _) = api.call("POST", route, Some(json!({ "email": email })), None).await;
            assert_eq!(status, 202);
            let queued = api.queues.count(&api.queues.url).await - queued_before;
            costs.push((api.table.calls.take(), queued));
        }
        assert_eq!(costs[0], costs[1], "{route}: the known and the unknown address cost alike");
        assert_eq!(costs[0].1, 1, "{route}: one job each, which the worker resolves");
    }
    // The worker sends only what the account can receive: the known (pending) address gets
    // a confirmation and a reset link, the unknown one nothing.
    api.email_token(&known, "Reset your password").await;
    assert!(!sent_emails().await.iter().any(|m| m.contains(&format!("To: {unknown}"))));
}

#[tokio::test]
async fn only_the_newest_reset_link_works_and_a_forged_refresh_changes_nothing_on_aws() {
    let api = AwsApi::start().await;
    let email = format!("{}@example.com", unique("ada"));
    api.call("POST", "/api/v1/auth/register/reader", Some(registration(&email)), None).await;
    let token = api.email_token(&email, "Confirm your email address").await;
    api.call("GET", &format!("/api/v1/auth/confirm_email?token={token}"), None, None).await;

    api.call("POST", "/api/v1/auth/send_reset_password_email", Some(json!({ "email": email })), None).await;
    let first = api.email_token(&email, "Reset your password").await;
    api.call("POST", "/api/v1/auth/send_reset_password_email", Some(json!({ "email": email })), None).await;
    let second = api.email_token(&email, "Reset your password").await;
    assert_ne!(first, second);

    let reset = |token: &str| json!({ "token": token, "password": "a brand new passphrase" });
    let (status, problem) = api.call("POST", "/api/v1/auth/reset_password", Some(reset(&first)), None).await;
    assert_eq!((status, problem["code"].as_str()), (400, Some("invalid_token")));
    let (status, _) = api.call("POST", "/api/v1/auth/reset_password", Some(reset(&second)), None).await;
    assert_eq!(status, 204);

    let login = json!({ "email": email, "password": "a brand new passphrase" });
    let (_, tokens) = api.call("POST", "/api/v1/auth/login", Some(login), None).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let forged = format!("{}.{}", refresh.rsplit_once('.').unwrap().0, "A".repeat(43));
    let (status, problem) =
        api.call("POST", "/api/v1/auth/refresh", Some(json!({ "refresh_token": forged })), None).await;
    assert_eq!((status, problem["code"].as_str()), (401, Some("invalid_refresh_token")));
    let (status, _) = api.call("GET", "/api/v1/user", None, tokens["access_token"].as_str()).await;
    assert_eq!(status, 200, "the forged refresh ended nothing");
}
