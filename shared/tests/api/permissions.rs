//! SPEC.md's permission table, walked route by route: each route called by an anonymous
//! client, a reader, an author, a moderator, an admin, and a suspended account (logged in
//! before its suspension), with the status each must get. A route the service serves but this
//! table does not list fails the test, so every new route brings its row.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::{
    accounts::{AccessChange, StatusChange, Target},
    domain::Role,
};

use crate::helpers::{PASSWORD, TestApp, registration, spawn_app};

/// Who calls, in the order of each row's expected statuses.
#[derive(Clone, Copy, Debug)]
enum Caller {
    Anonymous,
    Reader,
    Author,
    Moderator,
    Admin,
    Suspended,
}

const CALLERS: [Caller; 6] =
    [Caller::Anonymous, Caller::Reader, Caller::Author, Caller::Moderator, Caller::Admin, Caller::Suspended];

/// The same answer for everyone: no account needed, a bearer token not even looked at.
const fn anyone(status: u16) -> [u16; 6] {
    [status; 6]
}

/// Any signed-in account; anonymous and suspended callers have no working token.
const fn signed_in(status: u16) -> [u16; 6] {
    [401, status, status, status, status, 401]
}

const fn admin_only(status: u16) -> [u16; 6] {
    [401, 403, 403, 403, status, 401]
}

struct Row {
    method: Method,
    /// The route as declared (and documented), path parameters in braces.
    route: &'static str,
    /// What is called: the route with its parameters filled in.
    path: String,
    body: Option<Value>,
    expected: [u16; 6],
}

fn row(method: Method, route: &'static str, expected: [u16; 6]) -> Row {
    Row { method, route, path: route.to_string(), body: None, expected }
}

impl Row {
    fn path(mut self, path: &str) -> Self {
        self.path = path.to_string();
        self
    }
    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

impl TestApp {
    /// A bearer token for a new account of this kind (none for anonymous). The suspended one
    /// logged in while active; its suspension ended every session, as any status change does.
    async fn token_of(&self, caller: Caller) -> Option<String> {
        let role = match caller {
            Caller::Anonymous => return None,
            Caller::Reader | Caller::Suspended => Role::Reader,
            Caller::Author => Role::Author,
            Caller::Moderator => Role::Moderator,
            Caller::Admin => Role::Admin,
        };
        let email = format!("{}@example.com", uuid::Uuid::now_v7().simple());
        let tokens = self.active_account(&email, role).await;
        if let Caller::Suspended = caller {
            let user = self.local().auth.accounts.account_by_email(&email).await.unwrap().unwrap();
            let suspend = StatusChange::Suspend { until: None, reason: None };
            let change = AccessChange { role: Some(Role::Reader), status: Some(suspend), ..AccessChange::default() };
            change_access(self.local(), &user.id, change).await;
        }
        Some(tokens.access)
    }

    async fn call(&self, row: &Row, bearer: Option<&str>) -> StatusCode {
        let mut request = self.client.request(row.method.clone(), self.url(&row.path));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = &row.body {
            request = request.json(body);
        }
        request.send().await.unwrap().status()
    }
}

fn fresh_email() -> String {
    format!("{}@example.com", uuid::Uuid::now_v7().simple())
}

/// Every row, made anew for each caller: registrations need addresses never used before.
fn rows(app_login: Value, author: &str) -> Vec<Row> {
    use Method as M;
    let invalid_token = "A".repeat(43);
    vec![
        row(M::POST, "/api/v1/auth/register/{role}", anyone(201))
            .path("/api/v1/auth/register/reader")
            .body(registration(&fresh_email())),
        row(M::POST, "/api/v1/auth/register/{role}", anyone(201))
            .path("/api/v1/auth/register/author")
            .body(registration(&fresh_email())),
        row(M::POST, "/api/v1/auth/register/{role}", admin_only(201))
            .path("/api/v1/auth/register/moderator")
            .body(registration(&fresh_email())),
        row(M::POST, "/api/v1/auth/register/{role}", admin_only(201))
            .path("/api/v1/auth/register/admin")
            .body(registration(&fresh_email())),
        row(M::POST, "/api/v1/auth/login", anyone(200)).body(app_login),
        row(M::POST, "/api/v1/auth/refresh", anyone(401)).body(json!({ "refresh_token": "not.a.token" })),
        row(M::POST, "/api/v1/auth/login/second_factor", anyone(401))
            .body(json!({ "challenge": invalid_token, "code": "123456" })),
        // Staff have a second factor, and step up with it: the password alone is refused.
        row(M::POST, "/api/v1/auth/step_up", [401, 200, 200, 403, 403, 401]).body(json!({ "password": PASSWORD })),
        row(M::GET, "/api/v1/auth/factors", signed_in(200)),
        // Staff enrolled theirs to sign in: a second one is refused.
        row(M::POST, "/api/v1/auth/factors/totp", [401, 201, 201, 409, 409, 401]),
        // No enrolment under way (each row's callers are new accounts).
        row(M::POST, "/api/v1/auth/factors/totp/confirm", signed_in(404)).body(json!({ "code": "123456" })),
        // Readers and authors have no factor; staff keep theirs.
        row(M::DELETE, "/api/v1/auth/factors/totp", [401, 404, 404, 409, 409, 401])
            .body(json!({ "password": PASSWORD, "code": "abcdef" })),
        row(M::POST, "/api/v1/auth/factors/recovery_codes", [401, 404, 404, 200, 200, 401]),
        row(M::POST, "/api/v1/auth/factors/passkeys", signed_in(201)),
        // The callers have no passkey (staff enrolled an app).
        row(M::POST, "/api/v1/auth/step_up/passkey", signed_in(404)),
        // A ceremony never started.
        row(M::POST, "/api/v1/auth/factors/passkeys/confirm", signed_in(401)).body(json!({
            "ceremony": invalid_token,
            "credential": {
                "id": "AAAA", "rawId": "AAAA", "type": "public-key", "extensions": {},
                "response": { "attestationObject": "AAAA", "clientDataJSON": "AAAA" },
            },
        })),
        row(M::DELETE, "/api/v1/auth/factors/passkeys/{id}", signed_in(404)).path("/api/v1/auth/factors/passkeys/AAAA"),
        row(M::POST, "/api/v1/auth/passkey/options", anyone(200)).body(json!({ "email": fresh_email() })),
        row(M::POST, "/api/v1/auth/passkey", anyone(401)).body(json!({
            "ceremony": invalid_token,
            "credential": {
                "id": "AAAA", "rawId": "AAAA", "type": "public-key", "extensions": {},
                "response": { "authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA" },
            },
        })),
        // Sign-in by email: anyone may ask (the same answer for any address) and try a code;
        // a signed-in account may be emailed a code proving it is its owner's.
        row(M::POST, "/api/v1/auth/email_sign_in", anyone(202)).body(json!({ "email": fresh_email() })),
        row(M::POST, "/api/v1/auth/email_sign_in/code", anyone(400))
            .body(json!({ "email": fresh_email(), "code": "123456" })),
        row(M::POST, "/api/v1/auth/email_sign_in/exchange", anyone(400)).body(json!({ "code": invalid_token })),
        row(M::GET, "/email-sign-in", anyone(200)).path(&format!("/email-sign-in?token={invalid_token}")),
        row(M::POST, "/email-sign-in", anyone(400)),
        row(M::POST, "/api/v1/auth/email_code", signed_in(202)),
        // Provider sign-in: anyone may try; none of these starts or finishes one.
        row(M::GET, "/api/v1/auth/providers", anyone(200)),
        row(M::GET, "/api/v1/auth/providers/start", anyone(404))
            .path("/api/v1/auth/providers/start?provider=nope&redirect_to=https://blog.example/signed-in"),
        row(M::GET, "/api/v1/auth/providers/callback", anyone(400))
            .path(&format!("/api/v1/auth/providers/callback?state={invalid_token}&code=x")),
        // A form post of no sign-in: a page saying so.
        row(M::POST, "/api/v1/auth/providers/callback", anyone(400)),
        row(M::POST, "/api/v1/auth/providers/exchange", anyone(400)).body(json!({ "code": invalid_token })),
        row(M::POST, "/api/v1/auth/providers/link/email", anyone(400)).body(json!({ "link_ceremony": invalid_token })),
        row(M::GET, "/link-provider", anyone(200)).path(&format!("/link-provider?token={invalid_token}")),
        row(M::POST, "/link-provider", anyone(400)),
        row(M::POST, "/api/v1/auth/providers/link", anyone(400))
            .body(json!({ "link_ceremony": invalid_token, "password": PASSWORD })),
        // Linked providers: each caller's own (none); linking needs a recent sign-in, which
        // every caller here has, and a provider that exists.
        row(M::GET, "/api/v1/user/identities", signed_in(200)),
        row(M::POST, "/api/v1/user/identities", signed_in(404))
            .body(json!({ "provider": "nope", "redirect_to": "https://blog.example/signed-in" })),
        row(M::POST, "/api/v1/user/identities/confirm", signed_in(400)).body(json!({ "code": invalid_token })),
        row(M::DELETE, "/api/v1/user/identities", signed_in(404)).path("/api/v1/user/identities?provider=test"),
        row(M::GET, "/api/v1/user/activity", signed_in(200)),
        row(M::GET, "/api/v1/user/activity", admin_only(200))
            .path("/api/v1/user/activity?id=01936f4e-0000-7000-8000-000000000001"),
        row(M::GET, "/api/v1/user/sessions", signed_in(200)),
        row(M::GET, "/api/v1/user/sessions", admin_only(200))
            .path("/api/v1/user/sessions?id=01936f4e-0000-7000-8000-000000000001"),
        // A session of nobody's: each caller's own is not found; another account's, admins only.
        row(M::DELETE, "/api/v1/user/sessions", signed_in(404)).path("/api/v1/user/sessions?session=nobodys"),
        row(M::DELETE, "/api/v1/user/sessions", admin_only(404))
            .path("/api/v1/user/sessions?session=nobodys&id=01936f4e-0000-7000-8000-000000000001"),
        row(M::DELETE, "/api/v1/user/factors", admin_only(404))
            .path("/api/v1/user/factors?id=01936f4e-0000-7000-8000-000000000001"),
        row(M::POST, "/api/v1/auth/logout", signed_in(204)),
        row(M::POST, "/api/v1/auth/send_confirm_email", anyone(202)).body(json!({ "email": fresh_email() })),
        row(M::GET, "/api/v1/auth/confirm_email", anyone(400))
            .path(&format!("/api/v1/auth/confirm_email?token={invalid_token}")),
        row(M::POST, "/api/v1/auth/send_reset_password_email", anyone(202)).body(json!({ "email": fresh_email() })),
        row(M::POST, "/api/v1/auth/reset_password", anyone(400))
            .body(json!({ "token": invalid_token, "password": "a new passphrase" })),
        row(M::POST, "/api/v1/auth/change_password", signed_in(204))
            .body(json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase" })),
        row(M::GET, "/.well-known/openid-configuration", anyone(200)),
        row(M::GET, "/.well-known/jwks.json", anyone(200)),
        // The pages emailed links open: a GET only shows the form; a token we never made fails.
        row(M::GET, "/confirm-email", anyone(200)).path(&format!("/confirm-email?token={invalid_token}")),
        row(M::POST, "/confirm-email", anyone(400)),
        row(M::GET, "/reset-password", anyone(200)).path(&format!("/reset-password?token={invalid_token}")),
        row(M::POST, "/reset-password", anyone(400)),
        row(M::GET, "/end-session", anyone(200)).path(&format!("/end-session?token={invalid_token}")),
        row(M::POST, "/end-session", anyone(400)),
        row(M::GET, "/confirm-email-change", anyone(200)).path(&format!("/confirm-email-change?token={invalid_token}")),
        row(M::POST, "/confirm-email-change", anyone(400)),
        row(M::GET, "/api/v1/user", signed_in(200)),
        row(M::PUT, "/api/v1/user", signed_in(200)).body(json!({ "bio": "I read." })),
        // Another account (none has this id): admins only.
        row(M::GET, "/api/v1/user", [401, 403, 403, 403, 404, 401])
            .path("/api/v1/user?id=01936f4e-0000-7000-8000-000000000001"),
        // Your own account goes, with your password (admins: there is more than one here).
        row(M::DELETE, "/api/v1/user", signed_in(204)).body(json!({ "password": PASSWORD })),
        row(M::PUT, "/api/v1/user", [401, 403, 403, 403, 404, 401])
            .path("/api/v1/user?id=01936f4e-0000-7000-8000-000000000001")
            .body(json!({ "bio": "Edited." })),
        row(M::DELETE, "/api/v1/user", [401, 403, 403, 403, 404, 401])
            .path("/api/v1/user?id=01936f4e-0000-7000-8000-000000000001"),
        row(M::GET, "/api/v1/user/export", signed_in(200)),
        row(M::PUT, "/api/v1/user/photo", signed_in(200)),
        row(M::DELETE, "/api/v1/user/photo", signed_in(204)),
        row(M::GET, "/api/v1/user/confirm_email_change", anyone(400))
            .path(&format!("/api/v1/user/confirm_email_change?token={invalid_token}")),
        row(M::GET, "/api/v1/admin", admin_only(404)).path("/api/v1/admin?id=01936f4e-0000-7000-8000-000000000001"),
        row(M::PUT, "/api/v1/admin", admin_only(404))
            .path("/api/v1/admin?id=01936f4e-0000-7000-8000-000000000001")
            .body(json!({ "bio": "Edited." })),
        row(M::DELETE, "/api/v1/admin", admin_only(404)).path("/api/v1/admin?id=01936f4e-0000-7000-8000-000000000001"),
        row(M::GET, "/api/v1/moderator", admin_only(404))
            .path("/api/v1/moderator?id=01936f4e-0000-7000-8000-000000000001"),
        row(M::PUT, "/api/v1/moderator", admin_only(404))
            .path("/api/v1/moderator?id=01936f4e-0000-7000-8000-000000000001")
            .body(json!({ "bio": "Edited." })),
        row(M::DELETE, "/api/v1/moderator", admin_only(404))
            .path("/api/v1/moderator?id=01936f4e-0000-7000-8000-000000000001"),
        row(M::GET, "/api/v1/author", anyone(404)).path("/api/v1/author?id=01936f4e-0000-7000-8000-000000000001"),
        row(M::GET, "/api/v1/authors", anyone(200)),
        row(M::GET, "/api/v1/users", admin_only(200)),
        row(M::GET, "/api/v1/admins", admin_only(200)),
        row(M::GET, "/api/v1/moderators", admin_only(200)),
        row(M::GET, "/api/v1/admin/webhooks", admin_only(200)),
        row(M::POST, "/api/v1/report/author", [401, 201, 201, 403, 403, 401])
            .path(&format!("/api/v1/report/author?id={author}"))
            .body(json!({ "reason": "Copies other people's articles." })),
        row(M::GET, "/api/v1/report/authors", [401, 403, 403, 200, 200, 401]),
        row(M::POST, "/api/v1/flag/author", [401, 403, 403, 201, 403, 401])
            .path(&format!("/api/v1/flag/author?id={author}"))
            .body(json!({ "reason": "Plagiarism." })),
        row(M::GET, "/api/v1/flag/authors", [401, 403, 403, 200, 200, 401]),
        // No author has this id: the target of the walk stays active for the rows after.
        row(M::POST, "/api/v1/suspend/author", admin_only(404))
            .path("/api/v1/suspend/author?id=01936f4e-0000-7000-8000-000000000001")
            .body(json!({ "reason": "Plagiarism." })),
        row(M::POST, "/api/v1/unsuspend/author", admin_only(404))
            .path("/api/v1/unsuspend/author?id=01936f4e-0000-7000-8000-000000000001")
            .body(json!({})),
        row(M::GET, "/api/v1/suspend/authors", [401, 403, 403, 200, 200, 401]),
        row(M::GET, "/api/v1/moderation/audit", admin_only(200)),
        row(M::POST, "/api/v1/subscribe/author", [401, 204, 204, 403, 403, 401])
            .path(&format!("/api/v1/subscribe/author?id={author}")),
        row(M::DELETE, "/api/v1/subscribe/author", [401, 204, 204, 403, 403, 401])
            .path(&format!("/api/v1/subscribe/author?id={author}")),
        row(M::POST, "/api/v1/follow/author", [401, 403, 204, 403, 403, 401])
            .path(&format!("/api/v1/follow/author?id={author}")),
        row(M::DELETE, "/api/v1/follow/author", [401, 403, 204, 403, 403, 401])
            .path(&format!("/api/v1/follow/author?id={author}")),
        row(M::GET, "/api/v1/author/subscribers", [401, 403, 200, 403, 200, 401]),
        row(M::GET, "/api/v1/user/subscriptions", [401, 200, 200, 403, 403, 401]),
        row(M::GET, "/api/v1/author/followers", anyone(200)).path(&format!("/api/v1/author/followers?id={author}")),
        row(M::GET, "/api/v1/author/follows", anyone(200)).path(&format!("/api/v1/author/follows?id={author}")),
        // An admin sends for an author named by `?id=`; on their own they have no subscribers.
        row(M::POST, "/api/v1/author/notify_subscribers", [401, 403, 202, 403, 404, 401])
            .body(json!({ "subject": "New article", "message": "Out today." })),
        row(M::GET, "/api/v1/author/notification", [401, 403, 404, 403, 404, 401])
            .path("/api/v1/author/notification?id=01936f4e-0000-7000-8000-000000000001"),
        row(M::GET, "/api/v1/unsubscribe", anyone(400)).path(&format!("/api/v1/unsubscribe?token={invalid_token}")),
        row(M::POST, "/api/v1/unsubscribe", anyone(400)).path(&format!("/api/v1/unsubscribe?token={invalid_token}")),
        row(M::GET, "/api/v1/health", anyone(200)),
        row(M::GET, "/openapi.json", anyone(200)),
        row(M::GET, "/apidocs", anyone(303)),
        row(M::GET, "/apidocs/{file}", anyone(200)).path("/apidocs/index.html"),
    ]
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_every_route_answers_every_kind_of_caller_as_the_permission_table_says() {
    let app = spawn_app().await;
    let login_email = fresh_email();
    app.active_account(&login_email, Role::Reader).await;
    let login = json!({ "email": login_email, "password": PASSWORD });
    // The author the moderation and social rows report, flag, subscribe to and follow.
    app.active_account("target@example.com", Role::Author).await;
    let author = app.local().auth.accounts.account_by_email("target@example.com").await.unwrap().unwrap().id.0;

    let mut failures = Vec::new();
    for (i, caller) in CALLERS.into_iter().enumerate() {
        // A new set of rows per caller: registrations need addresses never used before.
        for row in rows(login.clone(), &author) {
            // A new account per call: a logout or a password change must not spoil the next row.
            let token = app.token_of(caller).await;
            let status = app.call(&row, token.as_deref()).await.as_u16();
            if status != row.expected[i] {
                failures
                    .push(format!("{} {} as {caller:?}: {status}, expected {}", row.method, row.path, row.expected[i]));
            }
        }
    }
    assert!(failures.is_empty(), "the permission table does not hold:\n{}", failures.join("\n"));

    // Every route the service documents has a row, and every row is a documented route.
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let mut served = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            served.insert((method.to_uppercase(), path.clone()));
        }
    }
    let walked: BTreeSet<(String, String)> =
        rows(login, &author).iter().map(|r| (r.method.to_string(), r.route.to_string())).collect();
    assert_eq!(walked, served, "routes and rows differ");
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_a_role_change_ends_the_sessions_whose_tokens_claim_the_old_role() {
    let app = spawn_app().await;
    app.admin("ops@example.com").await; // grace is not the last admin
    let admin = app.admin("grace@example.com").await;
    let grace = app.local().auth.accounts.account_by_email("grace@example.com").await.unwrap().unwrap();

    change_access(app.local(), &grace.id, AccessChange { role: Some(Role::Reader), ..AccessChange::default() }).await;

    // The token still says "admin", but its session is gone: it cannot act as one.
    let response = app.post_register("moderator", &registration("mo@example.com"), Some(&admin.access)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Logged in again, the account is what it now is.
    let reader = app.logged_in("grace@example.com").await;
    let response = app.post_register("moderator", &registration("mo@example.com"), Some(&reader.access)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

/// An admin's change to an account, made straight through the account lifecycle (as the
/// operator would), with no route in between.
async fn change_access(app: &shared::LocalApp, id: &shared::domain::UserId, change: AccessChange) {
    let users = &app.users;
    let actor = shared::domain::UserId("operator".into());
    let target = Target { id, role: None };
    users.identity.lifecycle().change_access(users.moderation.as_ref(), &actor, target, change).await.unwrap();
}
