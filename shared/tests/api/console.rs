//! The staff console over HTTP, as a browser without scripts uses it (every story here is one:
//! plain forms and links), and as an attacker tries it: forms from elsewhere, an old cookie, a
//! role that may not.

use std::collections::BTreeMap;

use reqwest::{Response, StatusCode, header};
use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp, Tokens, spawn_app};

/// A browser on the console: its cookies, and the last page's form token.
pub struct Browser<'a> {
    app: &'a TestApp,
    cookies: BTreeMap<String, String>,
    pub csrf: String,
}

/// A hidden field's value in a page, as a browser reads it.
fn field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    Some(unescape(html[start..].split('"').next()?))
}

/// HTML's escapes of an attribute's value undone.
fn unescape(value: &str) -> String {
    [("&#x2f;", "/"), ("&quot;", "\""), ("&#x27;", "'"), ("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&")]
        .iter()
        .fold(value.to_string(), |value, (escaped, plain)| value.replace(escaped, plain))
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self { app, cookies: BTreeMap::new(), csrf: String::new() }
    }

    fn keep_cookies(&mut self, response: &Response) {
        for value in response.headers().get_all(header::SET_COOKIE) {
            let value = value.to_str().unwrap();
            let (pair, attributes) = value.split_once(';').unwrap_or((value, ""));
            let (name, value) = pair.split_once('=').unwrap();
            assert!(attributes.contains("HttpOnly") && attributes.contains("SameSite=Strict"), "{attributes}");
            if value.is_empty() || attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }

    /// The console session's cookie value.
    pub fn session_cookie(&self) -> Option<&str> {
        self.cookies.get("ums_console").map(String::as_str)
    }

    /// GETs a console path (no redirect followed): the status, where it sends to, the page.
    pub async fn get(&mut self, path: &str) -> (StatusCode, Option<String>, String) {
        let response =
            self.app.client.get(self.app.url(path)).header(header::COOKIE, self.cookie_header()).send().await.unwrap();
        self.read(response).await
    }

    async fn read(&mut self, response: Response) -> (StatusCode, Option<String>, String) {
        self.keep_cookies(&response);
        let status = response.status();
        let location = response.headers().get(header::LOCATION).map(|l| l.to_str().unwrap().to_string());
        let html = response.text().await.unwrap();
        if let Some(token) = field(&html, "csrf") {
            self.csrf = token;
        }
        (status, location, html)
    }

    /// POSTs a form (with the last page's token unless `fields` names `csrf`).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, Option<String>, String) {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        if !fields.iter().any(|(n, _)| *n == "csrf") {
            form.append_pair("csrf", &self.csrf.clone());
        }
        for (name, value) in fields {
            form.append_pair(name, value);
        }
        let response = self
            .app
            .client
            .post(self.app.url(path))
            .header(header::COOKIE, self.cookie_header())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form.finish())
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    /// Signs in with the usual password and the account's authenticator app.
    pub async fn sign_in(&mut self, email: &str) -> (StatusCode, Option<String>, String) {
        let (status, _, _) = self.get("/console/sign-in").await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, html) = self.post("/console/sign-in", &[("email", email), ("password", PASSWORD)]).await;
        if status != StatusCode::OK {
            return (status, None, html);
        }
        let challenge = field(&html, "challenge").expect("the second factor's form");
        let code = self.app.second_factor_of(email);
        let (name, value) = match code.get("code") {
            Some(code) => ("code", code.as_str().unwrap().to_string()),
            None => ("recovery_code", code["recovery_code"].as_str().unwrap().to_string()),
        };
        self.post("/console/sign-in/second-factor", &[("challenge", &challenge), (name, &value)]).await
    }
}

impl TestApp {
    /// A staff member signed in to the console (their API tokens kept for the story).
    pub async fn console_of(&self, email: &str) -> Browser<'_> {
        let mut browser = Browser::new(self);
        let (status, location, html) = browser.sign_in(email).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "signing in to the console: {html}");
        assert!(location.unwrap().ends_with("/console"));
        let (status, _, _) = browser.get("/console").await;
        assert_eq!(status, StatusCode::OK);
        browser
    }

    /// An author, a reader who reports them, and the report's id.
    async fn reported_author(&self, author: &str, reader: &str, reason: &str) -> (Tokens, String) {
        let author = self.signed_up("author", author).await;
        let reader = self.signed_up("reader", reader).await;
        let author_id = self.id_of(&author.access).await;
        let response = self.report(&reader.access, &author_id, reason).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        (author, author_id)
    }

    async fn status_of(&self, admin: &Tokens, id: &str) -> Value {
        let user: Value = self.get(&format!("/api/v1/user?id={id}"), &admin.access).await.json().await.unwrap();
        user["status"].clone()
    }
}

#[tokio::test]
async fn a_moderator_flags_the_newest_report_and_an_admin_suspends_with_a_reason_on_the_audit_trail() {
    let app = spawn_app().await;
    let admin = app.admin("root@example.com").await;
    let _moderator = app.moderator("mo@example.com", &admin).await;
    app.reported_author("old@example.com", "r1@example.com", "An older report").await;
    let (_, bob) = app.reported_author("bob@example.com", "r2@example.com", "Spam in every comment").await;

    // The moderator signs in with password and code; the queue has the newest report first.
    let mut moderator = app.console_of("mo@example.com").await;
    let (_, _, home) = moderator.get("/console").await;
    assert!(home.contains("<strong>2</strong> open reports"), "{home}");
    let (status, _, queue) = moderator.get("/console/reports").await;
    assert_eq!(status, StatusCode::OK);
    let newest = queue.find("Spam in every comment").unwrap();
    assert!(newest < queue.find("An older report").unwrap(), "newest first: {queue}");
    // The report's link opens the author's page with it.
    let href = queue[..newest].rfind("href=\"").map(|i| &queue[i + 6..]).unwrap();
    let href = unescape(href.split('"').next().unwrap());
    assert!(href.contains(&format!("id={bob}")) && href.contains("report="), "{href}");
    let (status, _, page) = moderator.get(&href).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Spam in every comment") && page.contains("Flag this author"), "{page}");
    assert!(!page.contains("bob@example.com"), "a moderator sees no address");
    assert!(!page.contains("/console/author/suspend"), "a moderator is offered no suspension");
    let report_id = field(&page, "report_ids").unwrap();
    let (status, location, _) = moderator
        .post(
            &format!("/console/author/flag?id={bob}"),
            &[("reason", "Spams; two reports"), ("report_ids", &report_id)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = moderator.get(&location.unwrap()).await;
    assert!(page.contains("The author is flagged") && page.contains("Spams; two reports"), "{page}");
    let (_, _, open) = moderator.get("/console/reports").await;
    assert!(!open.contains("Spam in every comment"), "the report it took up is closed");

    // An admin suspends the author with a reason and an end, and sees both on the audit trail.
    let mut root = app.console_of("root@example.com").await;
    let (_, _, page) = root.get(&format!("/console/author?id={bob}")).await;
    assert!(page.contains("/console/author/suspend"), "{page}");
    let (status, location, _) = root
        .post(
            &format!("/console/author/suspend?id={bob}"),
            &[("reason", "Repeated spam after a flag"), ("until", "2027-06-30T12:00")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{location:?}");
    assert_eq!(app.status_of(&admin, &bob).await, "suspended");
    let (_, _, trail) = root.get("/console/audit").await;
    let suspended = trail.find("Repeated spam after a flag").expect("the suspension on the trail");
    let flagged = trail.find("Spams; two reports").expect("the flag on the trail");
    assert!(suspended < flagged, "newest first");
    assert!(trail.contains("2027-06-30 12:00 UTC"), "the end, in UTC without a script: {trail}");
    assert!(trail.contains("Ada Lovelace"), "who did it, by name");
}

#[tokio::test]
async fn a_reader_or_an_author_signing_in_is_turned_away_and_nothing_is_started() {
    let app = spawn_app().await;
    let reader = app.signed_up("reader", "reader@example.com").await;
    app.signed_up("author", "author@example.com").await;
    for email in ["reader@example.com", "author@example.com"] {
        let mut browser = Browser::new(&app);
        let (status, _, html) = browser.sign_in(email).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{email}");
        assert!(html.contains("The console is for moderators and admins"), "{html}");
        assert!(browser.session_cookie().is_none());
        // Without a session, every page sends the browser to sign in.
        assert_eq!(browser.get("/console/reports").await.0, StatusCode::SEE_OTHER);
    }
    let sessions: Value = app.get("/api/v1/user/sessions", &reader.access).await.json().await.unwrap();
    assert_eq!(sessions["items"].as_array().unwrap().len(), 1, "only the API session: {sessions}");
}

#[tokio::test]
async fn a_form_without_the_sessions_token_or_with_another_sessions_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.admin("root@example.com").await;
    let (_, bob) = app.reported_author("bob@example.com", "r@example.com", "Spam").await;
    let mut mine = app.console_of("root@example.com").await;
    let mut other = app.console_of("root@example.com").await;
    assert_ne!(mine.csrf, other.csrf, "each session its own token");
    let suspend = format!("/console/author/suspend?id={bob}");
    for csrf in ["", "forged", other.csrf.clone().as_str()] {
        let (status, _, html) = mine.post(&suspend, &[("csrf", csrf), ("reason", "Forged")]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{csrf}");
        assert!(html.contains("nothing was changed"), "{html}");
    }
    assert_eq!(app.status_of(&admin, &bob).await, "active");
    // The other session's own token works in its own session.
    let (status, _, _) = other.post(&suspend, &[("reason", "Spam, confirmed")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(app.status_of(&admin, &bob).await, "suspended");

    // A sign-in posted from another site carries no sign-in cookie: refused, nothing started.
    let mut stranger = Browser::new(&app);
    let (status, _, _) = stranger
        .post("/console/sign-in", &[("csrf", "x"), ("email", "root@example.com"), ("password", PASSWORD)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_console_cookie_from_before_a_password_change_is_refused_and_is_no_refresh_token() {
    let app = spawn_app().await;
    let admin = app.admin("root@example.com").await;
    let mut browser = app.console_of("root@example.com").await;
    let cookie = browser.session_cookie().unwrap().to_string();

    // The console session is an ordinary one: listed among the account's sessions.
    let sessions: Value = app.get("/api/v1/user/sessions", &admin.access).await.json().await.unwrap();
    assert_eq!(sessions["items"].as_array().unwrap().len(), 2, "{sessions}");
    // Its cookie is no refresh token: refused there, and the console goes on.
    let refreshed = app.post_refresh(&cookie).await;
    assert_eq!(refreshed.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(browser.get("/console").await.0, StatusCode::OK);

    let changed = app.post_change_password(&admin.access, PASSWORD, "a new horse battery staple").await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let (status, location, _) = browser.get("/console").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.unwrap().ends_with("/console/sign-in"));
    assert!(browser.session_cookie().is_none(), "the dead cookie is cleared");
    // Put back by hand, it is still refused.
    let response = app
        .client
        .get(app.url("/console"))
        .header(header::COOKIE, format!("ums_console={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn every_console_page_sends_the_security_headers() {
    let app = spawn_app().await;
    let admin = app.admin("root@example.com").await;
    let (_, bob) = app.reported_author("bob@example.com", "r@example.com", "Spam").await;
    let admin_id = app.id_of(&admin.access).await;
    let mut browser = app.console_of("root@example.com").await;
    let pages = [
        "/console".to_string(),
        "/console/sign-in".into(),
        "/console/reports".into(),
        "/console/reports?status=all".into(),
        format!("/console/author?id={bob}"),
        "/console/audit".into(),
        "/console/accounts".into(),
        "/console/accounts?email=bob@example.com".into(),
        format!("/console/account?id={bob}"),
        format!("/console/account?id={admin_id}"),
        "/console/staff".into(),
        "/console/webhooks".into(),
        "/console/step-up".into(),
        "/console/author?id=nobody".into(),
    ];
    for page in pages {
        let response = app
            .client
            .get(app.url(&page))
            .header(header::COOKIE, format!("ums_console={}", browser.session_cookie().unwrap()))
            .send()
            .await
            .unwrap();
        let headers = response.headers().clone();
        let status = response.status();
        assert!(status == StatusCode::OK || status == StatusCode::NOT_FOUND, "{page}: {status}");
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.contains("default-src 'none'") && policy.contains("script-src 'self'"), "{page}: {policy}");
        assert!(policy.contains("frame-ancestors 'none'") && policy.contains("form-action 'self'"), "{page}");
        assert!(!policy.contains("unsafe-inline"), "{page}");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY", "{page}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store", "{page}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{page}");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer", "{page}");
        assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"), "{page}");
        let html = response.text().await.unwrap();
        assert!(!html.contains("<script>") && !html.contains(" style="), "no inline script or style: {page}");
    }
    // The pages' stylesheet and script are files.
    let (status, _, css) = browser.get("/console/console.css").await;
    assert!(status == StatusCode::OK && css.contains("body{"));
}

#[tokio::test]
async fn every_action_a_page_offers_is_refused_for_a_role_that_may_not_take_it() {
    let app = spawn_app().await;
    let admin = app.admin("root@example.com").await;
    let moderator = app.moderator("mo@example.com", &admin).await;
    let (_, bob) = app.reported_author("bob@example.com", "r@example.com", "Spam").await;
    let admin_id = app.id_of(&admin.access).await;
    let mut mo = app.console_of("mo@example.com").await;
    let refused = [
        (format!("/console/author/suspend?id={bob}"), vec![("reason", "no")]),
        (format!("/console/author/reinstate?id={bob}"), vec![]),
        (format!("/console/account/role?id={bob}"), vec![("role", "admin")]),
        (format!("/console/account/factors/reset?id={admin_id}"), vec![]),
        (format!("/console/account/sessions/end?id={admin_id}"), vec![("all", "1")]),
        (format!("/console/account/delete?id={bob}"), vec![("confirm", "yes")]),
        (
            "/console/staff".to_string(),
            vec![("role", "admin"), ("email", "x@example.com"), ("password", "a long enough one")],
        ),
    ];
    for (path, fields) in &refused {
        let (status, _, html) = mo.post(path, fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {html}");
        assert!(html.contains("Not for your role"), "{path}: {html}");
    }
    for page in ["/console/audit", "/console/accounts", "/console/staff", "/console/webhooks"] {
        assert_eq!(mo.get(page).await.0, StatusCode::FORBIDDEN, "{page}");
    }
    assert_eq!(mo.get(&format!("/console/account?id={bob}")).await.0, StatusCode::FORBIDDEN);
    // Nothing changed: the author active and an author, the admin's sessions all there.
    assert_eq!(app.status_of(&admin, &bob).await, "active");
    let user: Value = app.get(&format!("/api/v1/user?id={bob}"), &admin.access).await.json().await.unwrap();
    assert_eq!(user["role"], "author");
    assert_eq!(app.get_me(&admin.access).await.status(), StatusCode::OK);
    assert_eq!(app.get_me(&moderator.access).await.status(), StatusCode::OK);

    // Flagging is a moderator's: an admin is refused it.
    let mut root = app.console_of("root@example.com").await;
    let (status, _, _) = root.post(&format!("/console/author/flag?id={bob}"), &[("reason", "no")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let flags: Value = app.get("/api/v1/flag/authors", &admin.access).await.json().await.unwrap();
    assert_eq!(flags["total"], 0);
}

#[tokio::test]
async fn an_admin_finds_an_account_resets_its_factors_and_ends_its_sessions_and_its_tokens_are_refused() {
    let app = spawn_app().await;
    let admin = app.admin("root@example.com").await;
    let moderator = app.moderator("mo@example.com", &admin).await;
    let reader = app.signed_up("reader", "reader@example.com").await;
    let mo_id = app.id_of(&moderator.access).await;
    let reader_id = app.id_of(&reader.access).await;
    let mut root = app.console_of("root@example.com").await;

    let (_, _, found) = root.get("/console/accounts?email=MO@example.com").await;
    assert!(found.contains(&format!("/console/account?id={mo_id}")), "found by address, in any case: {found}");
    let (_, _, moderators) = root.get("/console/accounts?role=moderator").await;
    assert!(moderators.contains("mo@example.com") && !moderators.contains("reader@example.com"));
    let (_, _, page) = root.get(&format!("/console/account?id={mo_id}")).await;
    assert!(page.contains("Authenticator app: yes") && page.contains("Sessions (1)"), "{page}");
    assert!(page.contains("signed_in"), "security activity: {page}");

    let (status, location, _) = root.post(&format!("/console/account/factors/reset?id={mo_id}"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = root.get(&location.unwrap()).await;
    assert!(page.contains("Every second factor is removed") && page.contains("Authenticator app: no"), "{page}");
    assert_eq!(app.get_me(&moderator.access).await.status(), StatusCode::UNAUTHORIZED, "its sessions ended");

    let (status, _, _) = root.post(&format!("/console/account/sessions/end?id={reader_id}"), &[("all", "1")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(app.get_me(&reader.access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.post_refresh(&reader.refresh).await.status(), StatusCode::UNAUTHORIZED);
    let audit: Value = app.get("/api/v1/moderation/audit", &admin.access).await.json().await.unwrap();
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"reset_factors") && actions.contains(&"end_session"), "{actions:?}");

    // A role changed, then the account deleted (the box ticked: without it, nothing is).
    let (status, _, _) = root.post(&format!("/console/account/role?id={reader_id}"), &[("role", "author")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let user: Value = app.get(&format!("/api/v1/user?id={reader_id}"), &admin.access).await.json().await.unwrap();
    assert_eq!(user["role"], "author");
    let delete = format!("/console/account/delete?id={reader_id}");
    assert_eq!(root.post(&delete, &[]).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get(&format!("/api/v1/user?id={reader_id}"), &admin.access).await.status(), StatusCode::OK);
    let (status, location, _) = root.post(&delete, &[("confirm", "yes")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.unwrap().ends_with("/console/accounts?done=deleted"));
    assert_eq!(app.get(&format!("/api/v1/user?id={reader_id}"), &admin.access).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn in_process_an_idle_console_session_ends_and_an_old_sign_in_steps_up_before_a_suspension() {
    let app = spawn_app().await;
    if !app.is_in_process() {
        return;
    }
    app.admin("root@example.com").await;
    let (_, bob) = app.reported_author("bob@example.com", "r@example.com", "Spam").await;
    let mut root = app.console_of("root@example.com").await;

    // Past the step-up age (and within the idle timeout), a suspension asks for the factor first.
    app.advance_clock(time::Duration::minutes(20));
    assert_eq!(root.get("/console").await.0, StatusCode::OK);
    let suspend = format!("/console/author/suspend?id={bob}");
    let (status, location, _) = root.post(&suspend, &[("reason", "Spam")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    assert!(location.contains("/console/step-up?then="), "{location}");
    let admin = app.logged_in("root@example.com").await;
    assert_eq!(app.status_of(&admin, &bob).await, "active");
    let (status, _, form) = root.get(&location).await;
    assert_eq!(status, StatusCode::OK);
    let then = field(&form, "then").unwrap();
    assert!(then.ends_with(&format!("/console/author?id={bob}")), "{then}");
    let (status, _, _) = root.post("/console/step-up", &[("then", &then), ("code", "000000")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a wrong code");
    let code = app.second_factor_of("root@example.com")["code"].as_str().unwrap().to_string();
    let (status, location, _) = root.post("/console/step-up", &[("then", &then), ("code", &code)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.unwrap().contains("done=stepped_up"));
    let (status, _, _) = root.post(&suspend, &[("reason", "Spam")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(app.status_of(&admin, &bob).await, "suspended");

    // Thirty minutes without a page: the session is over, and gone from the account's list.
    app.advance_clock(time::Duration::minutes(31));
    let (status, location, _) = root.get("/console").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.unwrap().ends_with("/console/sign-in"));
    let admin = app.logged_in("root@example.com").await;
    let sessions: Value = app.get("/api/v1/user/sessions", &admin.access).await.json().await.unwrap();
    let devices = sessions["items"].as_array().unwrap().len();
    assert_eq!(devices, 3, "the API sessions of this story; the console's ended: {sessions}");
}

#[tokio::test]
async fn in_process_a_console_session_in_use_still_ends_twelve_hours_after_its_sign_in() {
    let app = spawn_app().await;
    if !app.is_in_process() {
        return;
    }
    app.admin("root@example.com").await;
    let mut root = app.console_of("root@example.com").await;
    // A page every 25 minutes: never idle, and still over at twelve hours.
    for _ in 0..28 {
        app.advance_clock(time::Duration::minutes(25));
        assert_eq!(root.get("/console").await.0, StatusCode::OK);
    }
    app.advance_clock(time::Duration::minutes(25));
    let (status, location, _) = root.get("/console").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "past twelve hours");
    assert!(location.unwrap().ends_with("/console/sign-in"));
}
