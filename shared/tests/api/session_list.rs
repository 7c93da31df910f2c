//! Sessions their owner can see and end one by one, and an admin ending one of another
//! account's: as a person with a laptop and a phone meets them, and as someone who found an
//! unknown session does.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp, Tokens, assert_problem, spawn_app};

const FIREFOX_ON_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SAFARI_ON_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 \
                                (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

impl TestApp {
    /// Logs in with the password from a client that says it is `user_agent`.
    async fn logged_in_on(&self, email: &str, user_agent: &str) -> Tokens {
        let body = serde_json::json!({ "email": email, "password": PASSWORD });
        let response = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .header("user-agent", user_agent)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        Tokens::of(&response.json().await.unwrap())
    }

    async fn sessions_of(&self, access: &str, account: Option<&str>) -> Vec<Value> {
        let path = match account {
            Some(id) => format!("/api/v1/user/sessions?id={id}"),
            None => "/api/v1/user/sessions".to_string(),
        };
        let response = self.get(&path, access).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()["items"].as_array().unwrap().clone()
    }

    async fn end_session(&self, access: &str, session: &str, account: Option<&str>) -> reqwest::Response {
        let mut path = format!("/api/v1/user/sessions?session={session}");
        if let Some(id) = account {
            path.push_str(&format!("&id={id}"));
        }
        self.delete(&path, access, None).await
    }
}

fn with_device<'a>(sessions: &'a [Value], device: &str) -> &'a Value {
    sessions.iter().find(|s| s["device"] == device).unwrap_or_else(|| panic!("a {device} session in {sessions:?}"))
}

#[tokio::test]
async fn two_logins_from_two_devices_are_listed_and_ending_one_leaves_the_other() {
    let app = spawn_app().await;
    app.signed_up("reader", "ada@example.com").await;
    let laptop = app.logged_in_on("ada@example.com", FIREFOX_ON_LINUX).await;
    let phone = app.logged_in_on("ada@example.com", SAFARI_ON_IPHONE).await;

    let sessions = app.sessions_of(&laptop.access, None).await;
    assert_eq!(sessions.len(), 3, "the sign-up's login, the laptop, the phone: {sessions:?}");
    let (on_laptop, on_phone) =
        (with_device(&sessions, "Firefox on Linux"), with_device(&sessions, "Safari on iPhone"));
    assert_eq!((on_laptop["current"].clone(), on_phone["current"].clone()), (true.into(), false.into()));
    assert!(on_phone["source"].is_string() && on_phone["last_used_at"].is_string(), "{on_phone}");
    assert_eq!(on_phone["amr"], serde_json::json!(["pwd"]));
    assert!(sessions.iter().all(|s| s.get("refresh_hash").is_none()), "no secret, not even hashed");

    // Ada does not recognise the phone: she ends it by its id.
    let phone_id = on_phone["id"].as_str().unwrap().to_string();
    assert_eq!(app.end_session(&laptop.access, &phone_id, None).await.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get_me(&phone.access).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(app.post_refresh(&phone.refresh).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_me(&laptop.access).await.status(), StatusCode::OK, "the laptop stays signed in");
    assert_eq!(app.sessions_of(&laptop.access, None).await.len(), 2);
    assert_problem(app.end_session(&laptop.access, &phone_id, None).await, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn nobody_lists_or_ends_another_accounts_sessions_but_an_admin_who_is_audited() {
    let app = spawn_app().await;
    app.signed_up("reader", "ada@example.com").await;
    let laptop = app.logged_in_on("ada@example.com", FIREFOX_ON_LINUX).await;
    let ada_id = app.id_of(&laptop.access).await;
    let laptop_id = with_device(&app.sessions_of(&laptop.access, None).await, "Firefox on Linux")["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Mallory knows Ada's session id: as her own it is not found, as Ada's she is refused.
    let mallory = app.signed_up("reader", "mallory@example.com").await;
    assert_problem(app.end_session(&mallory.access, &laptop_id, None).await, StatusCode::NOT_FOUND, "not_found").await;
    let response = app.end_session(&mallory.access, &laptop_id, Some(&ada_id)).await;
    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    let response = app.get(&format!("/api/v1/user/sessions?id={ada_id}"), &mallory.access).await;
    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(app.get_me(&laptop.access).await.status(), StatusCode::OK);

    // An admin sees Ada's sessions and ends the laptop's, on the audit trail.
    let admin = app.admin("grace@example.com").await;
    let admin_id = app.id_of(&admin.access).await;
    let listed = app.sessions_of(&admin.access, Some(&ada_id)).await;
    assert!(listed.iter().all(|s| s["current"] == false), "none of Ada's is the admin's: {listed:?}");
    let response = app.end_session(&admin.access, &laptop_id, Some(&ada_id)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get_me(&laptop.access).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let audit: Value = app.get("/api/v1/moderation/audit", &admin.access).await.json().await.unwrap();
    let ended: Vec<&Value> =
        audit["items"].as_array().unwrap().iter().filter(|r| r["action"] == "end_session").collect();
    assert_eq!(ended.len(), 1, "{audit}");
    assert_eq!((ended[0]["actor_id"].as_str(), ended[0]["author_id"].as_str()), (Some(&*admin_id), Some(&*ada_id)));
}

#[tokio::test]
async fn the_security_activity_lists_logins_and_failed_attempts_newest_first() {
    let app = spawn_app().await;
    app.signed_up("reader", "ada@example.com").await;
    let laptop = app.logged_in_on("ada@example.com", FIREFOX_ON_LINUX).await;
    let wrong = app.post_login("ada@example.com", "not my password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let page: Value = app.get("/api/v1/user/activity", &laptop.access).await.json().await.unwrap();
    let kinds: Vec<&str> = page["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    let expected = ["sign_in_failed", "sign_in_alert_sent", "signed_in", "signed_in"];
    assert_eq!(kinds, expected, "newest first (the laptop was a new device): {page}");
    assert_eq!(page["items"][2]["device"], "Firefox on Linux");
    // Page by page: one at a time, the same three.
    let mut seen = Vec::new();
    let mut path = "/api/v1/user/activity?limit=1".to_string();
    loop {
        let page: Value = app.get(&path, &laptop.access).await.json().await.unwrap();
        seen.extend(page["items"].as_array().unwrap().iter().map(|e| e["id"].clone()));
        match page["next_before"].as_str() {
            Some(before) => path = format!("/api/v1/user/activity?limit=1&before={before}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4);
    // Nobody else reads it; an admin does.
    let ada_id = app.id_of(&laptop.access).await;
    let mallory = app.signed_up("reader", "mallory@example.com").await;
    let response = app.get(&format!("/api/v1/user/activity?id={ada_id}"), &mallory.access).await;
    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    let admin = app.admin("grace@example.com").await;
    let response = app.get(&format!("/api/v1/user/activity?id={ada_id}"), &admin.access).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// The kinds of the account's security activity, newest first.
async fn activity_kinds(app: &TestApp, access: &str) -> Vec<String> {
    let page: Value = app.get("/api/v1/user/activity?limit=100", access).await.json().await.unwrap();
    page["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn the_security_activity_lists_each_change_and_the_export_carries_it() {
    let app = spawn_app().await;
    let ada = app.signed_up("reader", "ada@example.com").await;
    // The email changes to a new address, confirmed from its link.
    let response =
        app.put_me(&ada.access, &serde_json::json!({ "email": "ada@new.example", "current_password": PASSWORD })).await;
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
    let token = app.email_token("ada@new.example", "Confirm your new email address").await;
    let confirm_path = format!("/api/v1/user/confirm_email_change?token={token}");
    assert_eq!(app.client.get(app.url(&confirm_path)).send().await.unwrap().status(), StatusCode::OK);
    // The password changes (every session ends); two logins, one ending the other's session.
    let response = app.post_change_password(&ada.access, PASSWORD, "a brand new passphrase").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let body = serde_json::json!({ "email": "ada@new.example", "password": "a brand new passphrase" });
    let laptop = Tokens::of(&app.post_json("/api/v1/auth/login", &body, None).await.json().await.unwrap());
    let phone = Tokens::of(&app.post_json("/api/v1/auth/login", &body, None).await.json().await.unwrap());
    let phone_id = app.sessions_of(&phone.access, None).await.iter().find(|s| s["current"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.end_session(&laptop.access, &phone_id, None).await.status(), StatusCode::NO_CONTENT);
    // A second factor, and new recovery codes.
    app.enrol_totp("ada@new.example", &laptop.access).await;
    let response = app.post("/api/v1/auth/factors/recovery_codes", &laptop.access, &serde_json::json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);

    let kinds = activity_kinds(&app, &laptop.access).await;
    let expected = [
        "recovery_codes_replaced",
        "factor_added",
        "session_ended",
        "signed_in",
        "signed_in",
        "password_changed",
        "email_changed",
        "signed_in",
    ];
    assert_eq!(kinds, expected, "newest first");

    // The export carries it whole; a logout is the next entry, which an admin reads too.
    let export: Value = app.get("/api/v1/user/export", &laptop.access).await.json().await.unwrap();
    let exported: Vec<&str> =
        export["activity"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(exported, expected);
    assert_eq!(app.post_logout(&laptop.access, None).await.status(), StatusCode::NO_CONTENT);
    let admin = app.admin("grace@example.com").await;
    let ada_id = export["account"]["id"].as_str().unwrap();
    let page: Value = app.get(&format!("/api/v1/user/activity?id={ada_id}"), &admin.access).await.json().await.unwrap();
    assert_eq!(page["items"][0]["kind"], "session_ended");
    assert!(page["items"][0]["detail"].as_str().unwrap().contains("logged out"), "{page}");
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_the_security_activity_keeps_90_days_and_goes_with_the_account() {
    let app = spawn_app().await;
    let ada = app.signed_up("reader", "ada@example.com").await;
    assert_eq!(app.post_login("ada@example.com", "not my password").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(activity_kinds(&app, &ada.access).await, ["sign_in_failed", "signed_in"]);
    app.advance_clock(time::Duration::days(89));
    let later = app.logged_in("ada@example.com").await;
    assert_eq!(activity_kinds(&app, &later.access).await.len(), 3, "89 days on, all kept");
    app.advance_clock(time::Duration::days(2));
    let later = app.logged_in("ada@example.com").await;
    let kinds = activity_kinds(&app, &later.access).await;
    assert_eq!(kinds, ["signed_in", "signed_in"], "the first two, past 90 days, gone by themselves");

    // A deleted account's activity is erased with it.
    let ada_id = app.id_of(&later.access).await;
    assert_eq!(app.delete_me(&later.access, PASSWORD).await.status(), StatusCode::NO_CONTENT);
    let (ada_id, now) = (shared::domain::UserId(ada_id), time::OffsetDateTime::now_utc() + time::Duration::days(91));
    let activity_left = || shared::ports::ActivityStore::activity(&app.local().db, &ada_id, now, 10, None);
    // The erasure is a job: the queue's worker takes it up within moments.
    for _ in 0..100 {
        if activity_left().await.unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the deleted account's activity is still there: {:?}", activity_left().await);
}
