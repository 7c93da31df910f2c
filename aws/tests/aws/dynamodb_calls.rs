//! DynamoDB calls are what a route costs on AWS. This test makes each call of the auth and
//! users routes against the emulator, counts the DynamoDB operations it sends, and checks the
//! table in `docs/dynamodb.md` says the same.

use serde_json::json;

use crate::{
    api_on_aws::{AwsApi, PASSWORD, registration, totp_code},
    emulator::unique,
    lambda_events::{aws_on_emulator, function, new_key},
    provider_support::{Browser, FRONT_END, front_end_query, location, person_at_provider, test_sign_in_settings},
};

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/dynamodb.md");
const START: &str = "<!-- calls:start -->";
const END: &str = "<!-- calls:end -->";

#[tokio::test]
async fn the_documented_dynamodb_calls_per_route_are_the_real_ones() {
    let api = AwsApi::start().await;
    let email = format!("{}@example.com", unique("cost"));
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut measure = |route: &str, calls: std::collections::BTreeMap<String, u32>| {
        let total: u32 = calls.values().sum();
        let detail: Vec<String> = calls.iter().map(|(op, n)| format!("{op} {n}")).collect();
        let detail = if detail.is_empty() { "none".to_string() } else { detail.join(", ") };
        rows.push((route.to_string(), format!("{total} | {detail}")));
    };
    let calls = &api.table.calls;
    calls.take();

    api.call("POST", "/api/v1/auth/register/reader", Some(registration(&email)), None).await;
    measure("POST auth/register/{role}", calls.take());
    let token = api.email_token(&email, "Confirm your email address").await;
    calls.take();
    api.call("POST", "/api/v1/auth/send_confirm_email", Some(json!({ "email": email })), None).await;
    measure("POST auth/send_confirm_email (pending account)", calls.take());
    api.call("GET", &format!("/api/v1/auth/confirm_email?token={token}"), None, None).await;
    measure("GET auth/confirm_email", calls.take());

    let login = json!({ "email": email, "password": PASSWORD });
    api.call("POST", "/api/v1/auth/login", Some(login.clone()), None).await;
    measure("POST auth/login (the account's first: its device remembered)", calls.take());
    let (_, tokens) = api.call("POST", "/api/v1/auth/login", Some(login.clone()), None).await;
    measure("POST auth/login (success)", calls.take());
    api.call("POST", "/api/v1/auth/login", Some(json!({ "email": email, "password": "wrong password" })), None).await;
    measure("POST auth/login (wrong password)", calls.take());
    api.call("POST", "/api/v1/auth/login", Some(json!({ "email": "nobody@example.com", "password": "x" })), None).await;
    measure("POST auth/login (unknown email)", calls.take());
    let (_, tokens_after_failure) = api.call("POST", "/api/v1/auth/login", Some(login.clone()), None).await;
    measure("POST auth/login (success after a failure)", calls.take());
    let access = tokens["access_token"].as_str().unwrap();

    api.call("GET", "/api/v1/user", None, Some(access)).await;
    measure("GET user", calls.take());
    api.call("PUT", "/api/v1/user", Some(json!({ "bio": "I write." })), Some(access)).await;
    measure("PUT user", calls.take());
    api.call("GET", "/api/v1/user/export", None, Some(access)).await;
    measure("GET user/export", calls.take());
    let (_, renewed) =
        api.call("POST", "/api/v1/auth/refresh", Some(json!({ "refresh_token": tokens["refresh_token"] })), None).await;
    measure("POST auth/refresh", calls.take());
    api.call("POST", "/api/v1/auth/refresh", Some(json!({ "refresh_token": tokens["refresh_token"] })), None).await;
    measure("POST auth/refresh (the token it replaced, within the grace window: 409)", calls.take());
    api.call("POST", "/api/v1/auth/logout", None, tokens_after_failure["access_token"].as_str()).await;
    measure("POST auth/logout", calls.take());
    assert!(renewed["access_token"].is_string());

    let (_, phone) = api.call("POST", "/api/v1/auth/login", Some(login.clone()), None).await;
    let (_, laptop) = api.call("POST", "/api/v1/auth/login", Some(login.clone()), None).await;
    calls.take();
    api.call("POST", "/api/v1/auth/logout", Some(json!({ "all": true })), laptop["access_token"].as_str()).await;
    measure("POST auth/logout {all: true} (2 sessions)", calls.take());
    assert!(phone["access_token"].is_string());

    let (_, tokens) = api.call("POST", "/api/v1/auth/login", Some(login), None).await;
    calls.take();
    let change = json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase" });
    api.call("POST", "/api/v1/auth/change_password", Some(change), tokens["access_token"].as_str()).await;
    measure("POST auth/change_password (1 session)", calls.take());

    api.call("POST", "/api/v1/auth/send_reset_password_email", Some(json!({ "email": email })), None).await;
    measure("POST auth/send_reset_password_email (account exists)", calls.take());
    api.call("POST", "/api/v1/auth/send_reset_password_email", Some(json!({ "email": "nobody@example.com" })), None)
        .await;
    measure("POST auth/send_reset_password_email (no account)", calls.take());
    let token = api.email_token(&email, "Reset your password").await;
    calls.take();
    let reset = json!({ "token": token, "password": "the reset passphrase" });
    api.call("POST", "/api/v1/auth/reset_password", Some(reset), None).await;
    measure("POST auth/reset_password (no sessions)", calls.take());
    api.call("GET", "/.well-known/jwks.json", None, None).await;
    measure("GET /.well-known/jwks.json", calls.take());
    api.call("GET", "/api/v1/authors?limit=20", None, None).await;
    measure("GET authors (one page)", calls.take());

    // An email change, then leaving.
    let login = json!({ "email": email, "password": "the reset passphrase" });
    let (_, tokens) = api.call("POST", "/api/v1/auth/login", Some(login), None).await;
    let access = tokens["access_token"].as_str();
    let new_email = format!("{}@example.com", unique("moved"));
    calls.take();
    let change = json!({ "email": new_email, "current_password": "the reset passphrase" });
    api.call("PUT", "/api/v1/user", Some(change), access).await;
    measure("PUT user (an email change asked for)", calls.take());
    let token = api.email_token(&new_email, "Confirm your new email address").await;
    calls.take();
    let (status, _) = api.call("GET", &format!("/api/v1/user/confirm_email_change?token={token}"), None, None).await;
    assert_eq!(status, 200);
    measure("GET user/confirm_email_change", calls.take());
    api.call("PUT", "/api/v1/user/photo", None, access).await;
    measure("PUT user/photo", calls.take());
    api.call("DELETE", "/api/v1/user/photo", None, access).await;
    measure("DELETE user/photo", calls.take());
    let (status, _) =
        api.call("DELETE", "/api/v1/user", Some(json!({ "password": "the reset passphrase" })), access).await;
    assert_eq!(status, 204);
    measure("DELETE user (1 session)", calls.take());

    // The social graph and moderation.
    use shared::domain::Role;
    let mail = |name: &str| format!("{}@example.com", unique(name));
    let (author, author_id) = api.active(Role::Author, &mail("author")).await;
    let (reader, _) = api.active(Role::Reader, &mail("reader")).await;
    let (moderator, _) = api.active(Role::Moderator, &mail("moderator")).await;
    let (admin, _) = api.active(Role::Admin, &mail("admin")).await;
    let (reader, author, moderator, admin) =
        (Some(reader.as_str()), Some(author.as_str()), Some(moderator.as_str()), Some(admin.as_str()));
    calls.take();
    api.call("POST", &format!("/api/v1/subscribe/author?id={author_id}"), None, reader).await;
    measure("POST subscribe/author", calls.take());
    api.call("POST", &format!("/api/v1/subscribe/author?id={author_id}"), None, reader).await;
    measure("POST subscribe/author (already)", calls.take());
    api.call("GET", &format!("/api/v1/author?id={author_id}"), None, None).await;
    measure("GET author (with its counts)", calls.take());
    api.call("GET", "/api/v1/author/subscribers", None, author).await;
    measure("GET author/subscribers (one page, 1 subscriber)", calls.take());
    api.call("GET", "/api/v1/user/subscriptions", None, reader).await;
    measure("GET user/subscriptions (one page, 1 author)", calls.take());
    let (status, report) = api
        .call("POST", &format!("/api/v1/report/author?id={author_id}"), Some(json!({ "reason": "Spam." })), reader)
        .await;
    assert_eq!(status, 201);
    measure("POST report/author", calls.take());
    api.call("GET", "/api/v1/report/authors", None, moderator).await;
    measure("GET report/authors (the first read ever: its totals counted once)", calls.take());
    api.call("GET", "/api/v1/report/authors", None, moderator).await;
    measure("GET report/authors (one page, with its total)", calls.take());
    let flag = json!({ "reason": "Spam, checked.", "report_ids": [report["id"]] });
    let (status, _) = api.call("POST", &format!("/api/v1/flag/author?id={author_id}"), Some(flag), moderator).await;
    assert_eq!(status, 201);
    measure("POST flag/author (1 report)", calls.take());
    let (status, _) = api
        .call("POST", "/api/v1/author/notify_subscribers", Some(json!({ "subject": "News", "message": "Hi." })), author)
        .await;
    assert_eq!(status, 202);
    measure("POST author/notify_subscribers", calls.take());
    let suspend = json!({ "reason": "Spam." });
    let (status, _) = api.call("POST", &format!("/api/v1/suspend/author?id={author_id}"), Some(suspend), admin).await;
    assert_eq!(status, 200);
    measure("POST suspend/author (1 session)", calls.take());
    api.call("POST", &format!("/api/v1/unsuspend/author?id={author_id}"), Some(json!({})), admin).await;
    measure("POST unsuspend/author", calls.take());
    api.call("GET", "/api/v1/moderation/audit", None, admin).await;
    measure("GET moderation/audit (one page)", calls.take());
    api.call("DELETE", &format!("/api/v1/subscribe/author?id={author_id}"), None, reader).await;
    measure("DELETE subscribe/author", calls.take());

    // Second factors: an account enrols an authenticator app, then signs in with it.
    let email = mail("totp");
    let (access, _) = api.active(Role::Reader, &email).await;
    calls.take();
    let (status, enrolment) = api.call("POST", "/api/v1/auth/factors/totp", None, Some(&access)).await;
    assert_eq!(status, 201);
    measure("POST auth/factors/totp", calls.take());
    let secret = enrolment["secret"].as_str().unwrap();
    let step = shared::credentials::factors::step_of(time::OffsetDateTime::now_utc());
    let confirm = json!({ "code": totp_code(secret, step) });
    let (status, confirmed) = api.call("POST", "/api/v1/auth/factors/totp/confirm", Some(confirm), Some(&access)).await;
    assert_eq!(status, 200);
    measure("POST auth/factors/totp/confirm", calls.take());
    let login = json!({ "email": email, "password": PASSWORD });
    let (_, challenge) = api.call("POST", "/api/v1/auth/login", Some(login), None).await;
    measure("POST auth/login (a second factor asked for)", calls.take());
    let answer = json!({ "challenge": challenge["challenge"], "code": totp_code(secret, step + 1) });
    let (status, tokens) = api.call("POST", "/api/v1/auth/login/second_factor", Some(answer), None).await;
    assert_eq!(status, 200, "{tokens}");
    measure("POST auth/login/second_factor (a code)", calls.take());
    // An account with a second factor steps up with it (the password alone is refused).
    let step_up = json!({ "recovery_code": confirmed["recovery_codes"][0] });
    let access = tokens["access_token"].as_str().unwrap();
    let (status, _) = api.call("POST", "/api/v1/auth/step_up", Some(step_up), Some(access)).await;
    assert_eq!(status, 200);
    measure("POST auth/step_up (a recovery code)", calls.take());

    // Passkeys: the account registers one, then signs in with it alone.
    use webauthn_authenticator_rs::WebauthnAuthenticator as _;
    let mut device = webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true);
    let origin = url::Url::parse(&api.auth.config.passkey_origin).unwrap();
    let (status, started) = api.call("POST", "/api/v1/auth/factors/passkeys", None, Some(access)).await;
    assert_eq!(status, 201, "{started}");
    measure("POST auth/factors/passkeys", calls.take());
    let options = serde_json::from_value(started["options"].clone()).unwrap();
    let credential = device.do_registration(origin.clone(), options).unwrap();
    let finish = json!({ "ceremony": started["ceremony"], "credential": credential });
    let (status, _) = api.call("POST", "/api/v1/auth/factors/passkeys/confirm", Some(finish), Some(access)).await;
    assert_eq!(status, 201);
    measure("POST auth/factors/passkeys/confirm", calls.take());
    let (_, started) = api.call("POST", "/api/v1/auth/passkey/options", Some(json!({ "email": email })), None).await;
    measure("POST auth/passkey/options", calls.take());
    let options = serde_json::from_value(started["options"].clone()).unwrap();
    let answer = device.do_authentication(origin, options).unwrap();
    let sign_in = json!({ "ceremony": started["ceremony"], "credential": answer });
    let (status, signed_in) = api.call("POST", "/api/v1/auth/passkey", Some(sign_in), None).await;
    assert_eq!(status, 200, "{signed_in}");
    measure("POST auth/passkey", calls.take());

    email_sign_in_calls(&api, &mut measure).await;
    provider_sign_in_calls(&api, &mut measure).await;
    console_calls(&api, &mut measure).await;

    let mut table = String::from("| route | calls | DynamoDB operations |\n|---|---|---|\n");
    for (route, calls) in rows {
        table.push_str(&format!("| {route} | {calls} |\n"));
    }
    let doc = std::fs::read_to_string(DOC).unwrap();
    let documented = doc.split(START).nth(1).and_then(|rest| rest.split(END).next()).expect("the calls table markers");
    assert_eq!(documented.trim(), table.trim(), "docs/dynamodb.md is out of date; the measured table is:\n\n{table}");
}

/// A hidden field's value in a console page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no {name} in {page}")) + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

/// Signs a new staff account of `role` in to the console (password, then a code), measuring
/// the two steps: its cookie.
async fn console_sign_in(
    api: &AwsApi,
    role: shared::domain::Role,
    measure: &mut impl FnMut(&str, std::collections::BTreeMap<String, u32>),
) -> String {
    use shared::identity::{NewAccount, Registrar, password};
    let email = format!("{}@example.com", unique("console"));
    let new = NewAccount { email: email.clone(), password: PASSWORD.into(), ..Default::default() };
    let new = NewAccount { first_name: "Grace".into(), last_name: "Hopper".into(), ..new };
    password::register(&api.auth, new, role, Registrar::Operator).await.unwrap();
    let (_, tokens) =
        api.call("POST", "/api/v1/auth/login", Some(json!({ "email": email, "password": PASSWORD })), None).await;
    let (secret, step) = api.enrol_totp(tokens["access_token"].as_str().unwrap()).await;
    let (_, set, page) = api.console("/console/sign-in", "", None).await;
    let cookies = set.join("; ");
    let csrf = hidden(&page, "csrf");
    let form = format!("csrf={csrf}&email={}&password={}", email.replace('@', "%40"), PASSWORD.replace(' ', "+"));
    api.table.calls.take();
    let (status, _, page) = api.console("/console/sign-in", &cookies, Some(&form)).await;
    assert_eq!(status, 200, "{page}");
    measure("POST /console/sign-in (a staff password: the second factor asked for)", api.table.calls.take());
    let code = totp_code(&secret, step + 1);
    let form = format!("csrf={csrf}&challenge={}&code={code}", hidden(&page, "challenge"));
    let (status, set, page) = api.console("/console/sign-in/second-factor", &cookies, Some(&form)).await;
    assert_eq!(status, 303, "{page}");
    measure("POST /console/sign-in/second-factor (a code: the session)", api.table.calls.take());
    set.into_iter().find(|c| c.starts_with("ums_console=")).expect("the console's cookie")
}

/// The staff console's pages and actions: what each costs in DynamoDB calls.
async fn console_calls(api: &AwsApi, measure: &mut impl FnMut(&str, std::collections::BTreeMap<String, u32>)) {
    use shared::domain::Role;
    let calls = &api.table.calls;
    let email = format!("{}@example.com", unique("author"));
    let (author, author_id) = api.active(Role::Author, &email).await;
    let (reader, _) = api.active(Role::Reader, &format!("{}@example.com", unique("reader"))).await;
    let report = json!({ "reason": "Spam." });
    api.call("POST", &format!("/api/v1/report/author?id={author_id}"), Some(report), Some(&reader)).await;
    let _ = author;

    let moderator = console_sign_in(api, Role::Moderator, measure).await;
    let (_, _, page) = api.console("/console", &moderator, None).await;
    measure("GET /console (the start page: the open reports' total)", calls.take());
    let csrf = hidden(&page, "csrf");
    api.console("/console/reports", &moderator, None).await;
    measure("GET /console/reports (one page, 1 report)", calls.take());
    let (status, _, page) = api.console(&format!("/console/author?id={author_id}"), &moderator, None).await;
    assert_eq!(status, 200, "{page}");
    measure("GET /console/author (a moderator: reports, flags, counts)", calls.take());
    let form = format!("csrf={csrf}&reason=Spam");
    let (status, _, _) = api.console(&format!("/console/author/flag?id={author_id}"), &moderator, Some(&form)).await;
    assert_eq!(status, 303);
    measure("POST /console/author/flag", calls.take());
    let (status, _, _) = api.console("/console/author/flag?id=x", &moderator, Some("csrf=forged&reason=x")).await;
    assert_eq!(status, 403);
    measure("POST /console/author/flag (another session's token: refused)", calls.take());
    api.console("/console/console.css", "", None).await;
    measure("GET /console/console.css", calls.take());

    let admin = console_sign_in(api, Role::Admin, &mut |_, _| {}).await;
    let (_, _, page) = api.console("/console", &admin, None).await;
    let csrf = hidden(&page, "csrf");
    calls.take();
    api.console(&format!("/console/author?id={author_id}"), &admin, None).await;
    measure("GET /console/author (an admin: and the audit trail's history)", calls.take());
    api.console("/console/audit", &admin, None).await;
    measure("GET /console/audit (one page)", calls.take());
    api.console("/console/accounts?role=reader", &admin, None).await;
    measure("GET /console/accounts (a role's page)", calls.take());
    api.console(&format!("/console/accounts?email={email}"), &admin, None).await;
    measure("GET /console/accounts (by address)", calls.take());
    let (status, _, page) = api.console(&format!("/console/account?id={author_id}"), &admin, None).await;
    assert_eq!(status, 200, "{page}");
    measure("GET /console/account (profile, factors, sessions, activity)", calls.take());
    let form = format!("csrf={csrf}&reason=Spam");
    let (status, _, _) = api.console(&format!("/console/author/suspend?id={author_id}"), &admin, Some(&form)).await;
    assert_eq!(status, 303);
    measure("POST /console/author/suspend (1 session)", calls.take());
    api.console("/console/webhooks", &admin, None).await;
    measure("GET /console/webhooks", calls.take());
}

/// The code in a sign-in or confirmation email: its line of six digits.
fn code_in(email: &str) -> String {
    email.lines().find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit())).expect("a code").to_string()
}

/// Signing in by email: a new reader by code, an account by code, a wrong code, the link's
/// button and the front end's exchange; an account's emailed code and a step-up with it.
async fn email_sign_in_calls(api: &AwsApi, measure: &mut impl FnMut(&str, std::collections::BTreeMap<String, u32>)) {
    const SUBJECT: &str = "Your sign-in code";
    let calls = &api.table.calls;
    let email = format!("{}@example.com", unique("by-email"));
    calls.take();
    api.call("POST", "/api/v1/auth/email_sign_in", Some(json!({ "email": email })), None).await;
    measure("POST auth/email_sign_in", calls.take());
    let code = code_in(&api.email(&email, SUBJECT).await);
    calls.take();
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let (status, _) =
        api.call("POST", "/api/v1/auth/email_sign_in/code", Some(json!({ "email": email, "code": wrong })), None).await;
    assert_eq!(status, 400);
    measure("POST auth/email_sign_in/code (a wrong code)", calls.take());
    let (status, tokens) =
        api.call("POST", "/api/v1/auth/email_sign_in/code", Some(json!({ "email": email, "code": code })), None).await;
    assert_eq!(status, 200, "{tokens}");
    measure("POST auth/email_sign_in/code (a new reader: the account made)", calls.take());

    api.call("POST", "/api/v1/auth/email_sign_in", Some(json!({ "email": email })), None).await;
    let code = code_in(&api.email(&email, SUBJECT).await);
    calls.take();
    let (status, _) =
        api.call("POST", "/api/v1/auth/email_sign_in/code", Some(json!({ "email": email, "code": code })), None).await;
    assert_eq!(status, 200);
    measure("POST auth/email_sign_in/code (an account, a known device)", calls.take());

    let ask = json!({ "email": email, "redirect_to": FRONT_END, "same_browser": true });
    let (_, asked) = api.call("POST", "/api/v1/auth/email_sign_in", Some(ask), None).await;
    let token = api.email_token(&email, SUBJECT).await;
    calls.take();
    let (status, page) = api.post_form("/email-sign-in", &format!("token={token}")).await;
    assert_eq!(status, 200, "{page}");
    measure("POST /email-sign-in (the link's button)", calls.take());
    let start = page.find("code=").expect("the front end's code") + "code=".len();
    let front_end_code: String =
        page[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')).collect();
    let exchange = json!({ "code": front_end_code, "flow_id": asked["flow_id"] });
    let (status, _) = api.call("POST", "/api/v1/auth/email_sign_in/exchange", Some(exchange), None).await;
    assert_eq!(status, 200);
    measure("POST auth/email_sign_in/exchange", calls.take());

    let access = tokens["access_token"].as_str().unwrap();
    let (status, _) = api.call("POST", "/api/v1/auth/email_code", None, Some(access)).await;
    assert_eq!(status, 202);
    measure("POST auth/email_code", calls.take());
    let code = code_in(&api.email(&email, "Your confirmation code").await);
    calls.take();
    let (status, _) = api.call("POST", "/api/v1/auth/step_up", Some(json!({ "email_code": code })), Some(access)).await;
    assert_eq!(status, 200);
    measure("POST auth/step_up (an emailed code)", calls.take());
}

/// The providers function's routes, served on a port of this machine (the test provider sends
/// the browser back to it), over the same counted table: a first sign-in, a linked account's,
/// a link to an existing account by its password, and the linked providers' routes.
async fn provider_sign_in_calls(api: &AwsApi, measure: &mut impl FnMut(&str, std::collections::BTreeMap<String, u32>)) {
    use std::sync::Arc;

    use shared::federation::{Federation, SignInSettings};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut aws = aws_on_emulator(&api.table, Some(&api.queues), new_key()).await;
    aws.config.public_url = base.clone();
    let mut state = aws.providers_state().await.unwrap();
    let settings = test_sign_in_settings().expect("UMS_TEST_PROVIDER_URL: the test provider (scripts/test starts it)");
    state.federation = Arc::new(Federation::new(SignInSettings::parse(&settings).unwrap()));
    let app = function(shared::providers::router(state)).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let calls = &api.table.calls;
    let client = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value, bearer: Option<&str>| {
        let mut request = client.post(format!("{base}{path}")).json(&body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let start = |provider: &str| {
        let mut url = url::Url::parse(&format!("{base}/api/v1/auth/providers/start")).unwrap();
        url.query_pairs_mut().append_pair("provider", provider).append_pair("redirect_to", FRONT_END);
        url.to_string()
    };
    // Each sign-in: the start, the provider's pages (no DynamoDB call), the return.
    async fn signed_in_at_provider(
        browser: &Browser,
        start: &str,
        login: &str,
        calls: &ums_aws::call_count::CallCounter,
    ) -> (std::collections::BTreeMap<String, u32>, std::collections::BTreeMap<String, u32>, String) {
        calls.take();
        let started = browser.get(start).await;
        let started_calls = calls.take();
        let back = browser.through_provider(location(&started), login, "").await;
        let returned_calls = calls.take();
        (started_calls, returned_calls, front_end_query(&back)["code"].clone())
    }

    let grace = person_at_provider("cost", None, true).await;
    let (started, returned, code) = signed_in_at_provider(&Browser::new(), &start("test"), &grace.login, calls).await;
    measure("GET auth/providers/start", started);
    measure("GET auth/providers/callback (a first sign-in: the account made)", returned);
    let tokens: serde_json::Value =
        post("/api/v1/auth/providers/exchange", json!({ "code": code }), None).await.unwrap().json().await.unwrap();
    measure("POST auth/providers/exchange (the account's first session)", calls.take());
    let (_, returned, code) = signed_in_at_provider(&Browser::new(), &start("test"), &grace.login, calls).await;
    measure("GET auth/providers/callback (a linked account)", returned);
    post("/api/v1/auth/providers/exchange", json!({ "code": code }), None).await.unwrap();
    measure("POST auth/providers/exchange (a linked account, a known device)", calls.take());

    let access = tokens["access_token"].as_str().expect("tokens");
    client.get(format!("{base}/api/v1/user/identities")).bearer_auth(access).send().await.unwrap();
    measure("GET user/identities", calls.take());
    client.delete(format!("{base}/api/v1/user/identities?provider=test")).bearer_auth(access).send().await.unwrap();
    measure("DELETE user/identities (its last way in: refused)", calls.take());

    // An existing account's address: the link by its password.
    let email = format!("{}@example.com", unique("linked"));
    api.call("POST", "/api/v1/auth/register/reader", Some(registration(&email)), None).await;
    let token = api.email_token(&email, "Confirm your email address").await;
    api.call("GET", &format!("/api/v1/auth/confirm_email?token={token}"), None, None).await;
    let theirs = person_at_provider("cost", Some(&email), true).await;
    let (_, returned, code) = signed_in_at_provider(&Browser::new(), &start("test"), &theirs.login, calls).await;
    measure("GET auth/providers/callback (an existing account's address)", returned);
    let answer: serde_json::Value =
        post("/api/v1/auth/providers/exchange", json!({ "code": code }), None).await.unwrap().json().await.unwrap();
    measure("POST auth/providers/exchange (the link to prove)", calls.take());
    // (The emailed proof: the ceremony spent and a link emailed; the link's button links.)
    let (_, _, code) = signed_in_at_provider(&Browser::new(), &start("test"), &theirs.login, calls).await;
    let emailed: serde_json::Value =
        post("/api/v1/auth/providers/exchange", json!({ "code": code }), None).await.unwrap().json().await.unwrap();
    calls.take();
    post("/api/v1/auth/providers/link/email", json!({ "link_ceremony": emailed["link_ceremony"] }), None)
        .await
        .unwrap();
    measure("POST auth/providers/link/email", calls.take());
    let link = json!({ "link_ceremony": answer["link_ceremony"], "password": PASSWORD });
    let linked: serde_json::Value =
        post("/api/v1/auth/providers/link", link, None).await.unwrap().json().await.unwrap();
    measure("POST auth/providers/link", calls.take());

    // A signed-in account links another provider, and unlinks it.
    let access = linked["access_token"].as_str().expect("tokens");
    let begin = json!({ "provider": "github", "redirect_to": FRONT_END });
    let started: serde_json::Value =
        post("/api/v1/user/identities", begin, Some(access)).await.unwrap().json().await.unwrap();
    measure("POST user/identities", calls.take());
    let start_url = started["start_url"].as_str().expect("a start URL");
    let (started, returned, code) = signed_in_at_provider(&Browser::new(), start_url, &theirs.login, calls).await;
    measure("GET auth/providers/start (a link)", started);
    measure("GET auth/providers/callback (a link)", returned);
    post("/api/v1/user/identities/confirm", json!({ "code": code }), Some(access)).await.unwrap();
    measure("POST user/identities/confirm", calls.take());
    client.delete(format!("{base}/api/v1/user/identities?provider=github")).bearer_auth(access).send().await.unwrap();
    measure("DELETE user/identities", calls.take());
    server.abort();
}
