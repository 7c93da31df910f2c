//! `spawn_app()` starts the real app (SQLite file, local queue, outbox) on a random port in a
//! temporary data directory that is removed when the test ends.
//!
//! With `UMS_TEST_BASE_URL` set, `spawn_app()` is instead the AWS path that `scripts/aws-local`
//! runs (the Lambda functions behind its API Gateway and Lambda stand-in, DynamoDB, SQS and SES
//! in the emulator): the same stories and the same test binary, another base URL, its outbox
//! (`UMS_TEST_OUTBOX`), emptied before each story (`UMS_TEST_RESET_URL`). Stories that need the
//! in-process app (its clock, stores, settings or other source addresses) are named
//! `in_process_*`, with a comment saying why: the AWS-path run leaves them out by that name
//! (`.config/nextest.toml`, profile `aws-path`), and on it `app.local()` panics saying so.

use std::{
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, LazyLock, Mutex, Once},
    time::Duration,
};

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use shared::{
    Config, LocalApp,
    adapters::local::{events::run_event_delivery, queue},
    clock::Clock,
    domain::Role,
    identity::{NewAccount, Registrar, password},
};
use time::OffsetDateTime;

pub const PASSWORD: &str = "correct horse battery staple";

/// Everything every test app logs, so tests can look for secrets in it.
pub static LOGS: LazyLock<Arc<Mutex<Vec<u8>>>> = LazyLock::new(Default::default);
static TRACING: Once = Once::new();

#[derive(Clone)]
struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    TRACING.call_once(|| {
        // Everything the service logs, at debug; the test's own HTTP client is left out.
        let filter = tracing_subscriber::EnvFilter::new("debug,reqwest=off,hyper_util::client=off");
        tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_writer(|| LogWriter).init();
    });
}

pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// A clock that only moves when told to: tests use it to step past token lifetimes.
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn starting_now() -> Self {
        // Whole seconds: stored timestamps have second precision.
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        Self(Mutex::new(now))
    }

    pub fn advance(&self, by: time::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// Where the emails the service sends end up.
    outbox_dir: PathBuf,
    local: Option<Local>,
    /// The authenticator app of each staff account the helpers enrolled, by email.
    authenticators: Mutex<std::collections::HashMap<String, Authenticator>>,
}

/// What a person's phone and drawer hold for one account: the TOTP secret, the last time step
/// whose code was used (the service refuses it again), the recovery codes left.
#[derive(Clone, Debug)]
pub struct Authenticator {
    pub secret: String,
    pub last_step: i64,
    pub recovery_codes: Vec<String>,
}

/// The app in this process.
struct Local {
    clock: Arc<ManualClock>,
    app: Arc<LocalApp>,
    _temp: Option<tempfile::TempDir>,
    server: tokio::task::JoinHandle<()>,
    /// The account events' worker, which a story may crash and start again.
    events: Mutex<tokio::task::JoinHandle<()>>,
}

impl Drop for Local {
    fn drop(&mut self) {
        self.server.abort();
        self.events.lock().unwrap().abort();
    }
}

pub async fn spawn_app() -> TestApp {
    if on_aws_path() { aws_path().await } else { spawn_app_with(|_| {}).await }
}

/// Whether this run's stories go to the AWS path (`UMS_TEST_BASE_URL`, set by scripts/test).
pub fn on_aws_path() -> bool {
    std::env::var_os("UMS_TEST_BASE_URL").is_some()
}

/// The AWS path started by `scripts/aws-local`, emptied for this story.
async fn aws_path() -> TestApp {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: the AWS-path stories run against scripts/aws-local (scripts/test starts it)")
        })
    };
    // A request the path never answers fails its story in a minute, not at CI's time limit.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let reset = client.post(var("UMS_TEST_RESET_URL")).send().await.expect("the AWS path's control port answers");
    assert_eq!(reset.status(), StatusCode::NO_CONTENT, "emptying the AWS path");
    TestApp {
        address: var("UMS_TEST_BASE_URL"),
        client,
        outbox_dir: var("UMS_TEST_OUTBOX").into(),
        local: None,
        authenticators: Default::default(),
    }
}

/// An app in a temporary data directory, with some settings changed.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let temp = tempfile::tempdir().expect("a temporary data directory");
    let dir = temp.path().to_path_buf();
    let mut app = spawn_app_in(&dir, tweak).await;
    app.local.as_mut().expect("a local app")._temp = Some(temp);
    app
}

/// An app over an existing data directory (which the caller cleans up).
pub async fn spawn_app_in(dir: &Path, tweak: impl FnOnce(&mut Config)) -> TestApp {
    capture_logs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let mut config = Config::local(dir.to_path_buf(), addr);
    // The tests register many accounts from one address within one (frozen) minute; the
    // registration limits have their own tests, which set them back.
    config.limits.registrations_per_source_per_minute = 10_000;
    config.limits.registrations_per_minute = 10_000;
    config.limits.email_sign_ins_per_source_per_minute = 10_000;
    // The front end the email sign-in stories end at (the providers' settings list it too).
    config.front_end_urls = vec![crate::provider_support::FRONT_END.to_string()];
    // No password leaves for Have I Been Pwned from a test; the breach stories start a stand-in.
    config.breached_passwords.url = None;
    // A rotation of the key set is seen by the next request (the default waits 5 minutes).
    config.jwt.keys_reload = Duration::ZERO;
    if let Some(settings) = crate::provider_support::test_sign_in_settings() {
        std::fs::write(&config.sign_in_providers_file, settings).unwrap();
    }
    tweak(&mut config);
    let clock = Arc::new(ManualClock::starting_now());
    let app = LocalApp::build_with_clock(config, clock.clone()).expect("the app builds");
    let router = app.router();
    let (db, workers) = (app.db.clone(), app.workers.clone());
    let server = tokio::spawn(async move {
        let worker = tokio::spawn(queue::run_local_worker(db, workers));
        let app = router.into_make_service_with_connect_info::<SocketAddr>();
        let _ = axum::serve(listener, app).await;
        worker.abort();
    });
    let events = Mutex::new(tokio::spawn(run_event_delivery(app.db.clone(), app.config.webhooks.clone())));
    TestApp {
        address: format!("http://{addr}"),
        client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        outbox_dir: dir.join("outbox"),
        local: Some(Local { clock, app: Arc::new(app), _temp: None, server, events }),
        authenticators: Default::default(),
    }
}

pub fn registration(email: &str) -> Value {
    json!({ "email": email, "password": PASSWORD, "first_name": "Ada", "last_name": "Lovelace" })
}

/// Tokens from a successful login or refresh.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

impl Tokens {
    pub async fn from(response: Response) -> Self {
        assert_eq!(response.status(), StatusCode::OK, "expected tokens");
        Self::of(&response.json().await.unwrap())
    }

    pub fn of(body: &Value) -> Self {
        Self {
            access: body["access_token"].as_str().expect("an access token").to_string(),
            refresh: body["refresh_token"].as_str().expect("a refresh token").to_string(),
        }
    }
}

impl TestApp {
    fn in_process(&self) -> &Local {
        self.local
            .as_ref()
            .expect("this story needs the in-process app: name it in_process_* (the AWS-path run leaves those out)")
    }

    /// Whether any file of the in-process app's data directory (the database and its
    /// write-ahead log) holds `needle`.
    pub fn data_files_contain(&self, needle: &str) -> bool {
        self.in_process();
        let dir = self.outbox_dir.parent().expect("the data directory");
        std::fs::read_dir(dir).unwrap().flatten().filter(|e| e.path().is_file()).any(|entry| {
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            bytes.windows(needle.len()).any(|window| window == needle.as_bytes())
        })
    }

    /// The app in this process (for stories ignored on the AWS path).
    pub fn local(&self) -> &LocalApp {
        &self.in_process().app
    }

    /// A client whose requests come from another loopback address: another source.
    pub fn client_from(&self, ip: &str) -> reqwest::Client {
        reqwest::Client::builder().local_address(ip.parse::<std::net::IpAddr>().unwrap()).build().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_json(&self, path: &str, body: &Value, bearer: Option<&str>) -> Response {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    pub async fn post_register(&self, role: &str, body: &Value, bearer: Option<&str>) -> Response {
        self.post_json(&format!("/api/v1/auth/register/{role}"), body, bearer).await
    }

    pub async fn post_login(&self, email: &str, password: &str) -> Response {
        self.post_json("/api/v1/auth/login", &json!({ "email": email, "password": password }), None).await
    }

    pub async fn post_refresh(&self, refresh_token: &str) -> Response {
        self.post_json("/api/v1/auth/refresh", &json!({ "refresh_token": refresh_token }), None).await
    }

    pub async fn post_logout(&self, access_token: &str, body: Option<Value>) -> Response {
        let mut request = self.client.post(self.url("/api/v1/auth/logout")).bearer_auth(access_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub async fn put_me(&self, access_token: &str, body: &Value) -> Response {
        self.client.put(self.url("/api/v1/user")).bearer_auth(access_token).json(body).send().await.unwrap()
    }

    /// `DELETE path` with a bearer token and, if given, a JSON body.
    pub async fn delete(&self, path: &str, access_token: &str, body: Option<Value>) -> Response {
        let mut request = self.client.delete(self.url(path)).bearer_auth(access_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub async fn delete_me(&self, access_token: &str, password: &str) -> Response {
        self.delete("/api/v1/user", access_token, Some(json!({ "password": password }))).await
    }

    /// `PUT path` with a bearer token and a JSON body.
    pub async fn put(&self, path: &str, access_token: &str, body: &Value) -> Response {
        self.client.put(self.url(path)).bearer_auth(access_token).json(body).send().await.unwrap()
    }

    /// `GET path` with a bearer token.
    pub async fn get(&self, path: &str, access_token: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(access_token).send().await.unwrap()
    }

    pub async fn get_me(&self, access_token: &str) -> Response {
        self.client.get(self.url("/api/v1/user")).bearer_auth(access_token).send().await.unwrap()
    }

    pub async fn get_confirm_email(&self, token: &str) -> Response {
        self.client.get(self.url("/api/v1/auth/confirm_email")).query(&[("token", token)]).send().await.unwrap()
    }

    pub async fn post_send_confirm_email(&self, email: &str) -> Response {
        self.post_json("/api/v1/auth/send_confirm_email", &json!({ "email": email }), None).await
    }

    pub async fn post_send_reset_password_email(&self, email: &str) -> Response {
        self.post_json("/api/v1/auth/send_reset_password_email", &json!({ "email": email }), None).await
    }

    pub async fn post_reset_password(&self, token: &str, password: &str) -> Response {
        self.post_json("/api/v1/auth/reset_password", &json!({ "token": token, "password": password }), None).await
    }

    pub async fn post_change_password(&self, access_token: &str, current: &str, new: &str) -> Response {
        let body = json!({ "current_password": current, "new_password": new });
        self.post_json("/api/v1/auth/change_password", &body, Some(access_token)).await
    }

    /// Registers a reader (or author) and returns the body.
    pub async fn register(&self, role: &str, email: &str) -> Value {
        let response = self.post_register(role, &registration(email), None).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// A new access token for an account with the usual password.
    pub async fn signed_in(&self, email: &str) -> String {
        self.logged_in(email).await.access
    }

    /// Logs in with the usual password as a person would: with the authenticator app when the
    /// service asks for a second factor (a recovery code when the app's codes of now were all
    /// used), and enrolling one first when a staff account has none.
    pub async fn logged_in(&self, email: &str) -> Tokens {
        let response = self.post_login(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "logging in {email}");
        let body: Value = response.json().await.unwrap();
        if let Some(challenge) = body["challenge"].as_str() {
            let answer = self.second_factor_of(email);
            let response = self.post_second_factor(challenge, &answer).await;
            return Tokens::from(response).await;
        }
        let tokens = Tokens::of(&body);
        if body["second_factor_enrolment_required"] == json!(true) {
            self.enrol_totp(email, &tokens.access).await;
            // The session's next tokens are full ones.
            return Tokens::from(self.post_refresh(&tokens.refresh).await).await;
        }
        tokens
    }

    /// Enrols an authenticator app for the account (as its owner, with `access`) and keeps
    /// it; the recovery codes the service answers.
    pub async fn enrol_totp(&self, email: &str, access: &str) -> Vec<String> {
        let response =
            self.client.post(self.url("/api/v1/auth/factors/totp")).bearer_auth(access).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "starting a TOTP enrolment");
        let enrolment: Value = response.json().await.unwrap();
        let secret = enrolment["secret"].as_str().unwrap().to_string();
        let step = self.totp_step_now();
        let code = totp_code(&secret, step);
        let response = self.post("/api/v1/auth/factors/totp/confirm", access, &json!({ "code": code })).await;
        assert_eq!(response.status(), StatusCode::OK, "confirming a TOTP enrolment");
        let codes: Vec<String> =
            serde_json::from_value(response.json::<Value>().await.unwrap()["recovery_codes"].clone()).unwrap();
        let authenticator = Authenticator { secret, last_step: step, recovery_codes: codes.clone() };
        self.authenticators.lock().unwrap().insert(email.to_string(), authenticator);
        codes
    }

    /// The authenticator app the helpers enrolled for this account.
    pub fn authenticator(&self, email: &str) -> Authenticator {
        self.authenticators.lock().unwrap().get(email).cloned().expect("an enrolled authenticator")
    }

    /// A second factor for the account: the app's code of now (or of the next step, accepted
    /// too) if neither was used, otherwise a recovery code.
    pub fn second_factor_of(&self, email: &str) -> Value {
        let now = self.totp_step_now();
        let mut authenticators = self.authenticators.lock().unwrap();
        let app = authenticators.get_mut(email).expect("an enrolled authenticator");
        match (now..=now + 1).find(|step| *step > app.last_step) {
            Some(step) => {
                app.last_step = step;
                json!({ "code": totp_code(&app.secret, step) })
            }
            None => json!({ "recovery_code": app.recovery_codes.pop().expect("a recovery code left") }),
        }
    }

    /// The TOTP time step of the service's clock now.
    pub fn totp_step_now(&self) -> i64 {
        let now = match &self.local {
            Some(local) => local.clock.now(),
            None => OffsetDateTime::now_utc(),
        };
        shared::credentials::factors::step_of(now)
    }

    /// The login's second step (the body is made at the call, so calls can run at once).
    pub fn post_second_factor<'a>(
        &'a self,
        challenge: &str,
        answer: &Value,
    ) -> impl Future<Output = Response> + use<'a> {
        let mut body = answer.clone();
        body["challenge"] = json!(challenge);
        async move { self.post_json("/api/v1/auth/login/second_factor", &body, None).await }
    }

    /// A fresh access token for the session of `access`: a step-up.
    pub async fn stepped_up(&self, access: &str) -> String {
        // A code of the authenticator app for an account that has one (the password alone is
        // refused then), the password otherwise.
        let me: Value = self.get_me(access).await.json().await.unwrap();
        let email = me["email"].as_str().expect("the account's email").to_string();
        let has_app = self.authenticators.lock().unwrap().contains_key(&email);
        let proof = if has_app { self.second_factor_of(&email) } else { json!({ "password": PASSWORD }) };
        let response = self.post("/api/v1/auth/step_up", access, &proof).await;
        assert_eq!(response.status(), StatusCode::OK, "stepping up");
        response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string()
    }

    /// Registers, confirms from the emailed link, and logs in.
    pub async fn signed_up(&self, role: &str, email: &str) -> Tokens {
        self.register(role, email).await;
        let token = self.email_token(email, "Confirm your email address").await;
        assert_eq!(self.get_confirm_email(&token).await.status(), StatusCode::OK);
        self.logged_in(email).await
    }

    /// An admin made by the operator command (on the AWS path, through its control port),
    /// logged in.
    pub async fn admin(&self, email: &str) -> Tokens {
        if self.local.is_some() {
            return self.active_account(email, Role::Admin).await;
        }
        let url = std::env::var("UMS_TEST_RESET_URL").unwrap().replace("/reset", "/admin");
        let response = self.client.post(url).json(&json!({ "email": email, "password": PASSWORD })).send().await;
        let response = response.expect("the AWS path's control port answers");
        assert_eq!(response.status(), StatusCode::CREATED, "creating an admin: {}", response.text().await.unwrap());
        self.logged_in(email).await
    }

    /// The id of the account a token belongs to.
    pub async fn id_of(&self, access_token: &str) -> String {
        let me: Value = self.get_me(access_token).await.json().await.unwrap();
        me["id"].as_str().expect("an account id").to_string()
    }

    /// A POST with a JSON body and a bearer token.
    pub async fn post(&self, path: &str, access_token: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).bearer_auth(access_token).json(body).send().await.unwrap()
    }

    /// An active account of any role, vouched for as the operator command does, logged in.
    pub async fn active_account(&self, email: &str, role: Role) -> Tokens {
        password::register(&self.local().auth, operators_account(email), role, Registrar::Operator).await.unwrap();
        self.logged_in(email).await
    }

    pub fn outbox(&self) -> Vec<String> {
        let mut files: Vec<_> =
            std::fs::read_dir(&self.outbox_dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        files.sort();
        files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect()
    }

    /// Emails to `to` (mail goes to its canonical form) with this subject, oldest first.
    pub fn emails_to(&self, to: &str, subject: &str) -> Vec<String> {
        let to = shared::domain::EmailAddress::parse(to).map_or_else(|_| to.to_string(), |e| e.key());
        self.outbox()
            .into_iter()
            .filter(|m| m.contains(&format!("\r\nTo: {to}\r\n")) && m.contains(&format!("\r\nSubject: {subject}\r\n")))
            .collect()
    }

    /// Waits for the worker to deliver an email, and returns the token in its newest link.
    pub async fn email_token(&self, to: &str, subject: &str) -> String {
        for _ in 0..EMAIL_WAIT {
            if let Some(email) = self.emails_to(to, subject).last() {
                return token_in(email);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no email {subject:?} reached {to}");
    }

    /// Lets the worker drain the queue, so "no email was sent" means something.
    pub async fn settle_queue(&self) {
        queue::drain_once(&self.local().db, self.local().workers.as_ref()).await.unwrap();
    }

    /// Moves the signing key set one step, as the operator command does (`ums jwt-key rotate`,
    /// on the AWS path `ums-aws jwt-key rotate` through the control port), with no wait for
    /// caches: the test has none.
    pub async fn rotate_jwt_keys(&self) {
        if let Some(local) = &self.local {
            let config = &local.app.config;
            let now = OffsetDateTime::now_utc();
            shared::operator::jwt_key::rotate_in_dir(&config.data_dir, now, 0, config.jwt.access_token_ttl).unwrap();
            return;
        }
        let url = std::env::var("UMS_TEST_RESET_URL").unwrap().replace("/reset", "/rotate-jwt-keys");
        let response = self.client.post(url).send().await.expect("the AWS path's control port answers");
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "rotating: {}", response.text().await.unwrap());
        // The functions read the set again every second there (UMS_JWT_KEYS_RELOAD_SECS).
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }

    /// Revokes a signing key at once, as the operator command does (`ums jwt-key revoke KID`; on
    /// the AWS path `ums-aws jwt-key revoke KID` through the control port).
    pub async fn revoke_jwt_key(&self, kid: &str) {
        if let Some(local) = &self.local {
            let now = OffsetDateTime::now_utc();
            shared::operator::jwt_key::revoke_in_dir(&local.app.config.data_dir, kid, now).unwrap();
            return;
        }
        let url = std::env::var("UMS_TEST_RESET_URL").unwrap().replace("/reset", &format!("/revoke-jwt-key/{kid}"));
        let response = self.client.post(url).send().await.expect("the AWS path's control port answers");
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "revoking: {}", response.text().await.unwrap());
        // The functions read the set again every second there (UMS_JWT_KEYS_RELOAD_SECS).
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }

    /// Rotates the seal secret, as the operator command does (`ums jwt-key rotate-seal-secret`;
    /// on the AWS path `ums-aws jwt-key rotate-seal-secret` through the control port).
    pub async fn rotate_seal_secret(&self) {
        if let Some(local) = &self.local {
            let now = OffsetDateTime::now_utc();
            shared::operator::jwt_key::rotate_seal_secret_in_dir(&local.app.config.data_dir, now).unwrap();
            return;
        }
        self.key_set_command("/rotate-seal-secret").await;
    }

    /// Seals every app secret with the newest seal secret and retires the older ones, as the
    /// operator command does (`ums jwt-key retire-seal-secrets`), with no wait for caches.
    pub async fn retire_seal_secrets(&self) {
        if let Some(local) = &self.local {
            let (now, dir) = (OffsetDateTime::now_utc(), &local.app.config.data_dir);
            let accounts = local.app.auth.accounts.as_ref();
            shared::operator::jwt_key::retire_seal_secrets_in_dir(dir, accounts, now, 0).await.unwrap();
            return;
        }
        self.key_set_command("/retire-seal-secrets").await;
    }

    /// A key-set command through the AWS path's control port.
    async fn key_set_command(&self, path: &str) {
        let url = std::env::var("UMS_TEST_RESET_URL").unwrap().replace("/reset", path);
        let response = self.client.post(url).send().await.expect("the AWS path's control port answers");
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path}: {}", response.text().await.unwrap());
        // The functions read the set again every second there (UMS_JWT_KEYS_RELOAD_SECS).
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }

    /// Adds a webhook endpoint for account events, as the operator command does (`ums webhook
    /// add`; on the AWS path `ums-aws webhook add`, through the control port).
    pub async fn add_webhook(&self, url: &str, types: &[&str]) -> shared::events::webhooks::Endpoint {
        let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
        if self.local.is_some() {
            let endpoint = shared::events::webhooks::Endpoint::new(url, types).unwrap();
            self.local().db.add_endpoint(&endpoint, OffsetDateTime::now_utc()).await.unwrap();
            return endpoint;
        }
        let control = std::env::var("UMS_TEST_RESET_URL").unwrap().replace("/reset", "/webhooks");
        let response = self.client.post(control).json(&json!({ "url": url, "types": types })).send().await;
        let response = response.expect("the AWS path's control port answers");
        assert_eq!(response.status(), StatusCode::CREATED, "adding an endpoint: {}", response.text().await.unwrap());
        let added: Value = response.json().await.unwrap();
        let (id, secret) = (added["id"].as_str().unwrap().to_string(), added["secret"].as_str().unwrap().to_string());
        shared::events::webhooks::Endpoint { id, url: url.to_string(), types, secret }
    }

    /// Kills the account events' worker wherever it is (mid-delivery included), as a crash
    /// would, and starts a new one.
    pub async fn crash_and_restart_event_worker(&self) {
        let local = self.in_process();
        let mut worker = local.events.lock().unwrap();
        worker.abort();
        *worker = tokio::spawn(run_event_delivery(local.app.db.clone(), local.app.config.webhooks.clone()));
    }

    pub fn is_in_process(&self) -> bool {
        self.local.is_some()
    }

    pub fn advance_clock(&self, by: time::Duration) {
        self.in_process().clock.advance(by);
    }

    /// The per-minute limits count in the wall clock's minutes (from second 0). On the AWS
    /// path, whose clock a test cannot hold, a burst that must fall in one window starts with
    /// `room` left in the current minute, waiting for the next one if need be (a burst that
    /// straddled two minutes was counted half in each, and its last request let through). In
    /// process the clock stands still.
    pub async fn within_one_minute_window(&self, room: std::time::Duration) {
        if self.is_in_process() {
            return;
        }
        let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        let left = std::time::Duration::from_millis(60_000 - (since_epoch.as_millis() % 60_000) as u64);
        if left < room {
            tokio::time::sleep(left + std::time::Duration::from_millis(100)).await;
        }
    }
}

/// How many times (50 ms apart) to look for an email: the AWS path's queue bridge and mail
/// copier take a second or two.
const EMAIL_WAIT: usize = 400;

pub fn token_in(email: &str) -> String {
    let start = email.find("token=").expect("a link with a token") + "token=".len();
    email[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

/// The TOTP code of `secret` (base32) at time step `step`, as an authenticator app makes it.
pub fn totp_code(secret: &str, step: i64) -> String {
    shared::credentials::factors::TotpSecret::from_base32(secret).unwrap().code_at_step(step)
}

/// Asserts an RFC 9457 problem with this status and code, and returns it.
pub async fn assert_problem(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "code in {body}");
    assert_eq!(body["status"], status.as_u16());
    assert!(body["type"].is_string() && body["title"].is_string() && body["detail"].is_string(), "{body}");
    body
}

impl TestApp {
    /// Waits for an email and returns it whole.
    pub async fn emails_to_eventually(&self, to: &str, subject: &str) -> String {
        for _ in 0..EMAIL_WAIT {
            if let Some(email) = self.emails_to(to, subject).pop() {
                return email;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no email {subject:?} reached {to}");
    }

    /// Waits for a newer email than the one carrying `previous`, and returns its token.
    pub async fn email_token_after(&self, to: &str, subject: &str, previous: &str) -> String {
        for _ in 0..EMAIL_WAIT {
            if let Some(token) = self.emails_to(to, subject).last().map(|e| token_in(e))
                && token != previous
            {
                return token;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no new email {subject:?} reached {to}");
    }
}

/// The one-click link and its RFC 8058 headers in an email.
pub fn unsubscribe_link(email: &str) -> String {
    let header = email.lines().find(|l| l.starts_with("List-Unsubscribe: <")).expect("a List-Unsubscribe header");
    assert!(email.contains("\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"), "{email}");
    header.trim_start_matches("List-Unsubscribe: <").trim_end_matches('>').to_string()
}

/// A passkey device in software (`webauthn-authenticator-rs`): it keeps its keys, checks the
/// origin and the relying party as a browser does, and answers as a real one would (user
/// verified, a signature counter that goes up by one each answer).
pub struct PasskeyDevice(webauthn_authenticator_rs::softtoken::SoftToken);

impl PasskeyDevice {
    pub fn new() -> Self {
        Self(webauthn_authenticator_rs::softtoken::SoftToken::new(true).expect("a software authenticator").0)
    }

    /// What an attacker who copied the device's keys holds: the same keys, the same counter
    /// from now on, answering apart from it.
    pub fn cloned(&self) -> Self {
        use webauthn_authenticator_rs::softtoken::SoftToken;
        Self(SoftToken::from_cbor(&self.0.to_cbor().expect("the device's state")).expect("a copy of it"))
    }
}

impl TestApp {
    /// Where a browser would run the service's passkey ceremonies: its public URL, a loopback
    /// address named `localhost` (as the service's own default does).
    pub fn passkey_origin(&self) -> url::Url {
        url::Url::parse(&self.address.replace("127.0.0.1", "localhost")).unwrap()
    }

    /// The device's answer to creation options (`{"publicKey": ...}`), as JSON.
    pub fn create_credential(&self, device: &mut PasskeyDevice, options: &Value) -> Value {
        use webauthn_authenticator_rs::WebauthnAuthenticator as _;
        let options = serde_json::from_value(options.clone()).expect("creation options");
        let answer = device.0.do_registration(self.passkey_origin(), options).expect("the device registers");
        serde_json::to_value(answer).unwrap()
    }

    /// The device's answer to request options (`{"publicKey": ...}`), as JSON.
    pub fn get_assertion(&self, device: &mut PasskeyDevice, options: &Value) -> Value {
        self.try_get_assertion(device, options).expect("the device answers")
    }

    /// The device's answer, if it holds one of the credentials the options name.
    pub fn try_get_assertion(&self, device: &mut PasskeyDevice, options: &Value) -> Option<Value> {
        use webauthn_authenticator_rs::WebauthnAuthenticator as _;
        let options = serde_json::from_value(options.clone()).expect("request options");
        let answer = device.0.do_authentication(self.passkey_origin(), options).ok()?;
        Some(serde_json::to_value(answer).unwrap())
    }

    /// Registers the device as a passkey of the account signed in with `access`; the service's
    /// answer (`passkey`, and `recovery_codes` for a first factor).
    pub async fn register_passkey(&self, access: &str, device: &mut PasskeyDevice, name: &str) -> Value {
        let response = self.client.post(self.url("/api/v1/auth/factors/passkeys")).bearer_auth(access).send().await;
        let response = response.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "starting a passkey registration");
        let started: Value = response.json().await.unwrap();
        let credential = self.create_credential(device, &started["options"]);
        let body = json!({ "ceremony": started["ceremony"], "credential": credential, "name": name });
        let response = self.post("/api/v1/auth/factors/passkeys/confirm", access, &body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "finishing a passkey registration");
        response.json().await.unwrap()
    }

    /// Starts a passkey sign-in for `email`: the service's `{ceremony, options}`.
    pub async fn passkey_options(&self, email: &str) -> Value {
        let response = self.post_json("/api/v1/auth/passkey/options", &json!({ "email": email }), None).await;
        assert_eq!(response.status(), StatusCode::OK, "starting a passkey sign-in");
        response.json().await.unwrap()
    }

    pub async fn post_passkey_sign_in(&self, ceremony: &Value, credential: &Value) -> Response {
        self.post_json("/api/v1/auth/passkey", &json!({ "ceremony": ceremony, "credential": credential }), None).await
    }
}

/// An account as the operator's command asks for it: Grace Hopper at `email`.
pub fn operators_account(email: &str) -> NewAccount {
    NewAccount {
        email: email.into(),
        password: PASSWORD.into(),
        first_name: "Grace".into(),
        last_name: "Hopper".into(),
        ..Default::default()
    }
}
