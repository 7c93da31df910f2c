//! Signing in with a provider, against a real OpenID provider (oidc-provider, OpenID Certified:
//! contract/test-provider.mjs), its GitHub stand-in, and its rogue issuer, through a browser
//! that keeps its cookies as a browser does. Each story makes its own people at the provider.

use reqwest::{Response, StatusCode, header};
use serde_json::{Value, json};

use crate::{
    helpers::{PASSWORD, TestApp, Tokens, assert_problem, spawn_app},
    provider_support::{Browser, FRONT_END, Person, front_end_query, location, person_at_provider, provider_url},
};

fn start_url(app: &TestApp, provider: &str) -> String {
    let mut url = url::Url::parse(&app.url("/api/v1/auth/providers/start")).unwrap();
    url.query_pairs_mut().append_pair("provider", provider).append_pair("redirect_to", FRONT_END);
    url.to_string()
}

impl TestApp {
    /// Signs in at `provider` as `person` in a new browser, up to the front end's code.
    async fn provider_code(&self, provider: &str, person: &Person) -> String {
        let response = Browser::new().through_provider(&start_url(self, provider), &person.login, "").await;
        let query = front_end_query(&response);
        query.get("code").unwrap_or_else(|| panic!("a code, not {query:?}")).clone()
    }

    async fn post_exchange(&self, code: &str) -> Response {
        self.post_json("/api/v1/auth/providers/exchange", &json!({ "code": code }), None).await
    }

    /// Signs in at `provider` as `person`: what the exchange answered.
    async fn provider_sign_in(&self, provider: &str, person: &Person) -> Value {
        let response = self.post_exchange(&self.provider_code(provider, person).await).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }
}

#[tokio::test]
async fn a_first_sign_in_with_a_provider_makes_an_active_reader_and_the_next_signs_in_to_it() {
    let app = spawn_app().await;
    let grace = person_at_provider("grace", None, true).await;

    let first = app.provider_sign_in("test", &grace).await;
    let tokens = Tokens::of(&first);
    let me: Value = app.get_me(&tokens.access).await.json().await.unwrap();
    assert_eq!(me["email"], json!(grace.email));
    assert_eq!((me["role"].as_str(), me["status"].as_str()), (Some("reader"), Some("active")));
    assert_eq!((me["first_name"].as_str(), me["last_name"].as_str()), (Some("Grace"), Some("Hopper")));
    assert_eq!(me["email_confirmed"], json!(true), "the provider vouched for the address");

    let again = app.provider_sign_in("test", &grace).await;
    assert_eq!(again["user"]["id"], me["id"], "the same account, not another");
    // No password was ever set: the address and any password do not sign in.
    assert_problem(app.post_login(&grace.email, PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let activity: Value = app.get("/api/v1/user/activity", &tokens.access).await.json().await.unwrap();
    let signed_in = activity["items"].as_array().unwrap().iter().filter(|e| e["kind"] == "signed_in").count();
    assert_eq!(signed_in, 2, "{activity}");
    assert!(activity.to_string().contains("(fed)"), "{activity}");
}

#[tokio::test]
async fn a_provider_account_with_someone_elses_address_links_nothing_until_that_accounts_password() {
    let app = spawn_app().await;
    let ada = app.signed_up("reader", "ada@example.com").await;
    // Someone makes an account at a provider with Ada's address, and it even says verified.
    let mallory = person_at_provider("mallory", Some("ada@example.com"), true).await;

    let answer = app.provider_sign_in("test", &mallory).await;
    assert!(answer.get("access_token").is_none(), "no session on the address alone: {answer}");
    assert_eq!(answer["email"], json!("ada@example.com"));
    assert_eq!(answer["provider"], json!("test"));
    let ceremony = answer["link_ceremony"].as_str().unwrap().to_string();
    // Nothing was linked: the next sign-in is asked again.
    let again = app.provider_sign_in("test", &mallory).await;
    assert!(again.get("link_ceremony").is_some(), "{again}");

    // Guessing Ada's password is a login's guess: refused, counted, and nothing linked.
    let link = |password: &str| json!({ "link_ceremony": ceremony, "password": password });
    let wrong = app.post_json("/api/v1/auth/providers/link", &link("not her password"), None).await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert!(app.provider_sign_in("test", &mallory).await.get("link_ceremony").is_some());
    let me: Value = app.get_me(&ada.access).await.json().await.unwrap();
    let sessions: Value = app.get("/api/v1/user/sessions", &ada.access).await.json().await.unwrap();
    assert_eq!(sessions["items"].as_array().unwrap().len(), 1, "only Ada's own session: {sessions}");

    // Ada herself, who knows her password, links it; then the provider signs her in.
    let linked = app.post_json("/api/v1/auth/providers/link", &link(PASSWORD), None).await;
    let linked = Tokens::from(linked).await;
    assert_eq!(app.id_of(&linked.access).await, me["id"].as_str().unwrap());
    let replayed = app.post_json("/api/v1/auth/providers/link", &link(PASSWORD), None).await;
    assert_problem(replayed, StatusCode::BAD_REQUEST, "invalid_sign_in_flow").await;
    let direct = app.provider_sign_in("test", &mallory).await;
    assert_eq!(direct["user"]["id"], me["id"], "{direct}");
    let activity: Value = app.get("/api/v1/user/activity", &ada.access).await.json().await.unwrap();
    assert!(activity["items"].as_array().unwrap().iter().any(|e| e["kind"] == "identity_linked"), "{activity}");
}

#[tokio::test]
async fn a_return_from_the_provider_in_another_browser_or_with_a_forged_state_is_refused() {
    let app = spawn_app().await;
    let grace = person_at_provider("grace", None, true).await;
    let victim = Browser::new();
    // The attacker starts a sign-in and stops where the provider sends the browser back.
    let attacker = Browser::new();
    let mut at = url::Url::parse(&start_url(&app, "test")).unwrap();
    let mut response = attacker.get(at.as_str()).await;
    let callback = loop {
        if response.status() == StatusCode::OK {
            let form = [("login".to_string(), grace.login.clone())];
            response = attacker.post_form(&format!("{at}/login"), &form).await;
            at = at.join(&format!("{}/login", at.path())).unwrap();
            continue;
        }
        let next = at.join(location(&response)).unwrap();
        if next.path() == "/api/v1/auth/providers/callback" {
            break next;
        }
        at = next;
        response = attacker.get(at.as_str()).await;
    };
    // Its return, opened in the victim's browser (a login CSRF), finds nothing.
    let page = victim.get(callback.as_str()).await;
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    assert!(page.text().await.unwrap().contains("another browser"));
    // A state that was never ours, in the attacker's own browser, neither.
    let mut forged = callback.clone();
    let forge = |(k, v): (String, String)| if k == "state" { (k, "A".repeat(43)) } else { (k, v) };
    let pairs: Vec<(String, String)> = callback.query_pairs().into_owned().map(forge).collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    assert_eq!(attacker.get(forged.as_str()).await.status(), StatusCode::BAD_REQUEST);
    // The attacker's own return still works once, and only once.
    let first = attacker.get(callback.as_str()).await;
    assert!(front_end_query(&first).contains_key("code"));
    let replayed = attacker.get(callback.as_str()).await;
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST, "a replayed return");
}

#[tokio::test]
async fn a_code_is_exchanged_once_and_only_from_where_the_sign_in_ended() {
    let app = spawn_app().await;
    let grace = person_at_provider("grace", None, true).await;
    let code = app.provider_code("test", &grace).await;
    // Another source (a code that leaked from the address bar) finds nothing, and spends nothing.
    if app.is_in_process() {
        let elsewhere = app.client_from("127.0.0.2");
        let stolen =
            elsewhere.post(app.url("/api/v1/auth/providers/exchange")).json(&json!({ "code": code })).send().await;
        assert_problem(stolen.unwrap(), StatusCode::BAD_REQUEST, "invalid_sign_in_flow").await;
    }
    assert_eq!(app.post_exchange(&code).await.status(), StatusCode::OK);
    assert_problem(app.post_exchange(&code).await, StatusCode::BAD_REQUEST, "invalid_sign_in_flow").await;
    assert_problem(app.post_exchange("short").await, StatusCode::BAD_REQUEST, "invalid_sign_in_flow").await;
}

#[tokio::test]
async fn a_redirect_to_off_the_operators_list_is_refused_before_anything_starts() {
    let app = spawn_app().await;
    for redirect_to in [
        "https://evil.example/signed-in",
        "https://blog.example/signed-in/../../evil",
        "https://blog.example/signed-in?next=https://evil.example",
        "https://blog.example.evil.example/signed-in",
        "//evil.example",
        "",
    ] {
        let mut url = url::Url::parse(&app.url("/api/v1/auth/providers/start")).unwrap();
        url.query_pairs_mut().append_pair("provider", "test").append_pair("redirect_to", redirect_to);
        let response = app.client.get(url).send().await.unwrap();
        assert!(response.headers().get(header::LOCATION).is_none(), "{redirect_to}");
        assert_problem(response, StatusCode::BAD_REQUEST, "redirect_not_allowed").await;
    }
    let mut unknown = url::Url::parse(&app.url("/api/v1/auth/providers/start")).unwrap();
    unknown.query_pairs_mut().append_pair("provider", "nope").append_pair("redirect_to", FRONT_END);
    assert_problem(app.client.get(unknown).send().await.unwrap(), StatusCode::NOT_FOUND, "unknown_provider").await;
}

#[tokio::test]
async fn id_tokens_an_attacker_would_forge_sign_no_one_in() {
    let app = spawn_app().await;
    let grace = person_at_provider("grace", None, true).await;
    for mischief in ["wrong_key", "wrong_audience", "wrong_nonce", "wrong_issuer", "expired"] {
        let response = Browser::new().through_provider(&start_url(&app, "rogue"), &grace.login, mischief).await;
        let query = front_end_query(&response);
        assert_eq!(query.get("error").map(String::as_str), Some("provider_sign_in_failed"), "{mischief}: {query:?}");
        assert!(!query.contains_key("code"), "{mischief}");
    }
    // The same issuer's honest token signs in: what was refused was the forgery.
    let response = Browser::new().through_provider(&start_url(&app, "rogue"), &grace.login, "none").await;
    let code = front_end_query(&response)["code"].clone();
    assert_eq!(app.post_exchange(&code).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn two_first_sign_ins_of_one_person_at_once_make_one_account() {
    let app = spawn_app().await;
    // Several rounds, three at once each: the race has more than one window (the look-up by
    // identity, then by address, then the write).
    for _ in 0..4 {
        let grace = person_at_provider("grace", None, true).await;
        let (a, b, c) = tokio::join!(
            app.provider_sign_in("test", &grace),
            app.provider_sign_in("test", &grace),
            app.provider_sign_in("test", &grace)
        );
        assert!(a["user"]["id"].is_string(), "signed in, not asked to link: {a}");
        assert_eq!(
            (&a["user"]["id"], &a["user"]["id"]),
            (&b["user"]["id"], &c["user"]["id"]),
            "one account: {a} {b} {c}"
        );
    }
}

#[tokio::test]
async fn an_address_the_provider_does_not_vouch_for_makes_no_account() {
    let app = spawn_app().await;
    let unverified = person_at_provider("eve", None, false).await;
    let response = Browser::new().through_provider(&start_url(&app, "test"), &unverified.login, "").await;
    let query = front_end_query(&response);
    assert_eq!(query.get("error").map(String::as_str), Some("provider_email_unverified"), "{query:?}");
}

#[tokio::test]
async fn a_provider_that_cannot_be_reached_is_a_clear_answer_and_every_other_way_in_works() {
    let app = spawn_app().await;
    let mut url = url::Url::parse(&app.url("/api/v1/auth/providers/start")).unwrap();
    url.query_pairs_mut().append_pair("provider", "down").append_pair("redirect_to", FRONT_END);
    let response = app.client.get(url).send().await.unwrap();
    assert!(response.headers().get(header::RETRY_AFTER).is_some());
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "provider_unavailable").await;
    app.signed_up("reader", "ada@example.com").await;
    let grace = person_at_provider("grace", None, true).await;
    assert!(app.provider_sign_in("test", &grace).await.get("access_token").is_some());
}

#[tokio::test]
async fn github_signs_in_by_its_numeric_id_with_its_verified_primary_address() {
    let app = spawn_app().await;
    let octo = person_at_provider("octo", None, true).await;
    let first = app.provider_sign_in("github", &octo).await;
    let me: Value = app.get_me(&Tokens::of(&first).access).await.json().await.unwrap();
    assert_eq!(me["email"], json!(octo.email), "the primary address, not another verified one");
    let again = app.provider_sign_in("github", &octo).await;
    assert_eq!(again["user"]["id"], me["id"]);
    // The same person at the OpenID provider is another provider's account: a link to prove.
    let other = app.provider_sign_in("test", &octo).await;
    assert!(other.get("link_ceremony").is_some(), "{other}");
    let unverified = person_at_provider("octo", None, false).await;
    let response = Browser::new().through_provider(&start_url(&app, "github"), &unverified.login, "").await;
    assert_eq!(front_end_query(&response).get("error").map(String::as_str), Some("provider_email_unverified"));
}

#[tokio::test]
async fn staff_answer_their_second_factor_after_a_provider_too() {
    let app = spawn_app().await;
    let admin = app.admin("root@example.com").await;
    let provider_self = person_at_provider("root", Some("root@example.com"), true).await;
    // Someone with the admin's password but not her authenticator links nothing with it.
    let answer = app.provider_sign_in("test", &provider_self).await;
    let link = json!({ "link_ceremony": answer["link_ceremony"], "password": PASSWORD });
    let refused = app.post_json("/api/v1/auth/providers/link", &link, None).await;
    assert_problem(refused, StatusCode::FORBIDDEN, "step_up_needs_second_factor").await;
    // She links it from her session (signed in with her second factor a moment ago)...
    app.linked(&admin.access, "test", &provider_self).await;
    // ... and the provider signs her in to the second step, not past it.
    let direct = app.provider_sign_in("test", &provider_self).await;
    assert!(direct.get("challenge").is_some() && direct.get("access_token").is_none(), "{direct}");
    // The second step's session says how the first was proved: by the provider, not a password.
    let answer = app.second_factor_of("root@example.com");
    let tokens = Tokens::from(app.post_second_factor(direct["challenge"].as_str().unwrap(), &answer).await).await;
    use base64::Engine as _;
    let payload = tokens.access.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["amr"], json!(["fed", "otp", "mfa"]));
}

#[tokio::test]
async fn the_providers_are_listed_without_their_secrets() {
    let app = spawn_app().await;
    let listed = app.client.get(app.url("/api/v1/auth/providers")).send().await.unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let text = listed.text().await.unwrap();
    assert!(text.contains(r#"{"id":"test","name":"Test provider"}"#), "{text}");
    assert!(!text.contains("secret"), "{text}");
}

impl TestApp {
    /// Asks to link `provider` to the account of `access`: the URL to send the browser to.
    async fn begin_link(&self, access: &str, provider: &str) -> Response {
        let body = json!({ "provider": provider, "redirect_to": FRONT_END });
        self.post("/api/v1/user/identities", access, &body).await
    }

    async fn confirm_link(&self, access: &str, code: &str) -> Response {
        self.post("/api/v1/user/identities/confirm", access, &json!({ "code": code })).await
    }

    /// Links `person`'s account at `provider` to the account of `access`, as its owner would.
    async fn linked(&self, access: &str, provider: &str, person: &Person) -> Value {
        let start: Value = self.begin_link(access, provider).await.json().await.unwrap();
        let start_url = start["start_url"].as_str().unwrap_or_else(|| panic!("a start URL: {start}"));
        let response = Browser::new().through_provider(start_url, &person.login, "").await;
        let code = front_end_query(&response)["code"].clone();
        let confirmed = self.confirm_link(access, &code).await;
        assert_eq!(confirmed.status(), StatusCode::OK);
        confirmed.json().await.unwrap()
    }
}

#[tokio::test]
async fn a_signed_in_reader_links_a_provider_signs_in_with_it_and_unlinks_it() {
    let app = spawn_app().await;
    let ada = app.signed_up("reader", "ada@example.com").await;
    let google_ada = person_at_provider("ada", Some("ada@example.com"), true).await;

    let linked = app.linked(&ada.access, "test", &google_ada).await;
    assert_eq!((linked["provider"].as_str(), linked["email"].as_str()), (Some("test"), Some("ada@example.com")));
    let listed: Value = app.get("/api/v1/user/identities", &ada.access).await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let export: Value = app.get("/api/v1/user/export", &ada.access).await.json().await.unwrap();
    assert_eq!(export["identities"][0]["provider"], json!("test"), "{export}");
    let signed_in = app.provider_sign_in("test", &google_ada).await;
    assert_eq!(signed_in["user"]["id"].as_str().unwrap(), app.id_of(&ada.access).await);

    let unlinked = app.delete("/api/v1/user/identities?provider=test", &ada.access, None).await;
    assert_eq!(unlinked.status(), StatusCode::NO_CONTENT);
    assert!(app.provider_sign_in("test", &google_ada).await.get("link_ceremony").is_some(), "no longer a way in");
    let again = app.delete("/api/v1/user/identities?provider=test", &ada.access, None).await;
    assert_problem(again, StatusCode::NOT_FOUND, "not_found").await;
    let activity: Value = app.get("/api/v1/user/activity", &ada.access).await.json().await.unwrap();
    let kinds: Vec<&str> = activity["items"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"identity_linked") && kinds.contains(&"identity_unlinked"), "{kinds:?}");
}

#[tokio::test]
async fn a_link_started_by_one_account_and_finished_in_anothers_browser_links_nothing() {
    let app = spawn_app().await;
    let mallory = app.signed_up("reader", "mallory@example.com").await;
    let victim = app.signed_up("reader", "victim@example.com").await;
    let victims_google = person_at_provider("victim", Some("victim@example.com"), true).await;
    // Mallory asks to link, and sends the victim the start URL; the victim signs in at the
    // provider, and the victim's front end confirms with the victim's session.
    let start: Value = app.begin_link(&mallory.access, "test").await.json().await.unwrap();
    let response =
        Browser::new().through_provider(start["start_url"].as_str().unwrap(), &victims_google.login, "").await;
    let code = front_end_query(&response)["code"].clone();
    assert_problem(app.confirm_link(&victim.access, &code).await, StatusCode::BAD_REQUEST, "invalid_sign_in_flow")
        .await;
    // Mallory has no use of it either (and it is spent), nor may a link's code sign anyone in.
    assert_problem(app.confirm_link(&mallory.access, &code).await, StatusCode::BAD_REQUEST, "invalid_sign_in_flow")
        .await;
    let listed: Value = app.get("/api/v1/user/identities", &mallory.access).await.json().await.unwrap();
    assert_eq!(listed, json!([]));
    let start: Value = app.begin_link(&mallory.access, "test").await.json().await.unwrap();
    let response =
        Browser::new().through_provider(start["start_url"].as_str().unwrap(), &victims_google.login, "").await;
    let code = front_end_query(&response)["code"].clone();
    assert_problem(app.post_exchange(&code).await, StatusCode::BAD_REQUEST, "invalid_sign_in_flow").await;
    // A start URL is used once.
    let start: Value = app.begin_link(&mallory.access, "test").await.json().await.unwrap();
    let start_url = start["start_url"].as_str().unwrap();
    assert_eq!(Browser::new().get(start_url).await.status(), StatusCode::SEE_OTHER);
    assert_problem(Browser::new().get(start_url).await, StatusCode::BAD_REQUEST, "invalid_sign_in_flow").await;
}

#[tokio::test]
async fn a_provider_account_linked_elsewhere_is_not_linked_again() {
    let app = spawn_app().await;
    let grace = person_at_provider("grace", None, true).await;
    app.provider_sign_in("test", &grace).await;
    let ada = app.signed_up("reader", "ada@example.com").await;
    let start: Value = app.begin_link(&ada.access, "test").await.json().await.unwrap();
    let response = Browser::new().through_provider(start["start_url"].as_str().unwrap(), &grace.login, "").await;
    let code = front_end_query(&response)["code"].clone();
    assert_problem(app.confirm_link(&ada.access, &code).await, StatusCode::CONFLICT, "identity_taken").await;
}

#[tokio::test]
async fn an_account_made_by_a_provider_keeps_its_last_way_in_until_it_sets_a_password() {
    let app = spawn_app().await;
    let grace = person_at_provider("grace", None, true).await;
    let tokens = Tokens::of(&app.provider_sign_in("test", &grace).await);
    let refused = app.delete("/api/v1/user/identities?provider=test", &tokens.access, None).await;
    assert_problem(refused, StatusCode::CONFLICT, "last_way_in").await;

    // The reset flow sets a first password, and the provider may then go.
    assert_eq!(app.post_send_reset_password_email(&grace.email).await.status(), StatusCode::ACCEPTED);
    let token = app.email_token(&grace.email, "Reset your password").await;
    assert_eq!(app.post_reset_password(&token, PASSWORD).await.status(), StatusCode::NO_CONTENT);
    let tokens = app.logged_in(&grace.email).await;
    let unlinked = app.delete("/api/v1/user/identities?provider=test", &tokens.access, None).await;
    assert_eq!(unlinked.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn an_address_that_changes_at_the_provider_moves_no_account() {
    let app = spawn_app().await;
    let grace = person_at_provider("grace", None, true).await;
    let first = app.provider_sign_in("test", &grace).await;
    // Grace's provider account changes its address: it is still Grace's account here.
    let moved = Person { login: grace.login.clone(), email: format!("new-{}", grace.email) };
    let body = json!({ "sub": moved.login, "email": moved.email, "email_verified": true, "given_name": "Grace" });
    reqwest::Client::new().post(format!("{}/test/users", provider_url())).json(&body).send().await.unwrap();
    assert_eq!(app.provider_sign_in("test", &moved).await["user"]["id"], first["user"]["id"]);
    // Someone else's provider account that now has Grace's old address gets only a link to prove.
    let newcomer = person_at_provider("newcomer", Some(&grace.email), true).await;
    assert!(app.provider_sign_in("test", &newcomer).await.get("link_ceremony").is_some());
}

#[tokio::test]
async fn apple_answers_by_a_form_post_and_is_paid_with_a_client_secret_signed_by_the_team() {
    let app = spawn_app().await;
    let grace = person_at_provider("grace", None, true).await;
    // The stand-in answers as Apple does (a page posting to the callback from its own site, so
    // without the sign-in's cookie) and refuses a token request without a client secret signed
    // by the team's key.
    let answer = app.provider_sign_in("apple", &grace).await;
    assert!(answer.get("access_token").is_some(), "{answer}");
}

#[tokio::test]
async fn in_process_the_providers_settings_are_read_again_without_a_restart() {
    // In process: the story rewrites the app's settings file (on AWS, its SSM parameter).
    let app = spawn_app().await;
    let listed = |app: &TestApp| {
        let request = app.client.get(app.url("/api/v1/auth/providers")).send();
        async move { request.await.unwrap().json::<Value>().await.unwrap() }
    };
    assert!(listed(&app).await.to_string().contains(r#""id":"github""#));
    let file = app.local().config.sign_in_providers_file.clone();
    let mut settings: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    settings["providers"].as_array_mut().unwrap().retain(|p| p["id"] != "github");
    std::fs::write(&file, settings.to_string()).unwrap();
    // The tests read settings again at every request (`UMS_JWT_KEYS_RELOAD_SECS=0`).
    let now = listed(&app).await;
    assert!(!now.to_string().contains(r#""id":"github""#), "{now}");
    let grace = person_at_provider("grace", None, true).await;
    let response = app.client.get(start_url(&app, "github")).send().await.unwrap();
    assert_problem(response, StatusCode::NOT_FOUND, "unknown_provider").await;
    // A document that does not read keeps what was read before (and says so in the log).
    std::fs::write(&file, "{ not json").unwrap();
    assert_eq!(listed(&app).await, now);
    assert!(app.provider_sign_in("test", &grace).await.get("access_token").is_some());
}

#[tokio::test]
async fn a_registration_never_confirmed_does_not_keep_its_address_from_a_provider_sign_in() {
    let app = spawn_app().await;
    let grace = person_at_provider("grace", None, true).await;
    // Someone registered Grace's address and never confirmed it (perhaps not Grace).
    app.register("reader", &grace.email).await;
    let answer = app.provider_sign_in("test", &grace).await;
    assert!(answer.get("access_token").is_some(), "pending holds no address: {answer}");
    // The pending registration is gone: its password signs nothing in, its link confirms nothing.
    assert_problem(
        app.post_login(&grace.email, crate::helpers::PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let link = app.email_token(&grace.email, "Confirm your email address").await;
    assert_eq!(app.get_confirm_email(&link).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn in_process_provider_sign_ins_started_from_one_source_are_limited() {
    // In process: the story sets the limit low and speaks from two loopback addresses.
    let app = crate::helpers::spawn_app_with(|config| config.limits.provider_sign_ins_per_source_per_minute = 3).await;
    for _ in 0..3 {
        assert_eq!(app.client.get(start_url(&app, "test")).send().await.unwrap().status(), StatusCode::SEE_OTHER);
    }
    let refused = app.client.get(start_url(&app, "test")).send().await.unwrap();
    assert!(refused.headers().get(header::RETRY_AFTER).is_some());
    assert_problem(refused, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    let other_source = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let elsewhere = other_source.get(start_url(&app, "test")).send().await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::SEE_OTHER, "another source is not held back");
}

#[tokio::test]
async fn in_process_first_sign_ins_with_a_provider_count_as_registrations() {
    // In process: the story sets the limit low. Making accounts through a provider is
    // registering: a script with many provider accounts is held to the same limits.
    let app = crate::helpers::spawn_app_with(|config| config.limits.registrations_per_source_per_minute = 1).await;
    let (grace, alan) = (person_at_provider("grace", None, true).await, person_at_provider("alan", None, true).await);
    let first = app.provider_sign_in("test", &grace).await;
    assert!(first["access_token"].is_string(), "{first}");

    let response = Browser::new().through_provider(&start_url(&app, "test"), &alan.login, "").await;
    let query = front_end_query(&response);
    assert_eq!(query.get("error").map(String::as_str), Some("too_many_registrations"), "{query:?}");
    assert!(!query.contains_key("code"));
    let again = app.provider_sign_in("test", &grace).await;
    assert_eq!(again["user"]["id"], first["user"]["id"], "an account made before signs in: no registration");
}

#[tokio::test]
async fn an_existing_account_links_a_provider_by_a_link_emailed_to_its_address() {
    let app = spawn_app().await;
    let ada = app.signed_up("reader", "ada@example.com").await;
    let google_ada = person_at_provider("ada", Some("ada@example.com"), true).await;
    let answer = app.provider_sign_in("test", &google_ada).await;
    let ask = json!({ "link_ceremony": answer["link_ceremony"] });
    let asked = app.post_json("/api/v1/auth/providers/link/email", &ask, None).await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let again = app.post_json("/api/v1/auth/providers/link/email", &ask, None).await;
    assert_problem(again, StatusCode::BAD_REQUEST, "invalid_sign_in_flow").await;

    // Opening the emailed link links nothing (mail scanners open links); its button does, once.
    let token = app.email_token("ada@example.com", "Link a sign-in to your account?").await;
    let page = app.client.get(app.url(&format!("/link-provider?token={token}"))).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(app.provider_sign_in("test", &google_ada).await.get("link_ceremony").is_some(), "not linked yet");
    let pressed = app.client.post(app.url("/link-provider")).form(&[("token", &token)]).send().await.unwrap();
    assert_eq!(pressed.status(), StatusCode::OK);
    let twice = app.client.post(app.url("/link-provider")).form(&[("token", &token)]).send().await.unwrap();
    assert_eq!(twice.status(), StatusCode::BAD_REQUEST);
    let signed_in = app.provider_sign_in("test", &google_ada).await;
    assert_eq!(signed_in["user"]["id"].as_str().unwrap(), app.id_of(&ada.access).await);
}

#[tokio::test]
async fn an_emailed_link_links_nothing_to_an_account_with_a_second_factor() {
    let app = spawn_app().await;
    app.admin("root@example.com").await;
    let provider_self = person_at_provider("root", Some("root@example.com"), true).await;
    let answer = app.provider_sign_in("test", &provider_self).await;
    let ask = json!({ "link_ceremony": answer["link_ceremony"] });
    assert_eq!(app.post_json("/api/v1/auth/providers/link/email", &ask, None).await.status(), StatusCode::ACCEPTED);
    let token = app.email_token("root@example.com", "Link a sign-in to your account?").await;
    let pressed = app.client.post(app.url("/link-provider")).form(&[("token", &token)]).send().await.unwrap();
    assert_eq!(pressed.status(), StatusCode::FORBIDDEN);
    assert!(app.provider_sign_in("test", &provider_self).await.get("link_ceremony").is_some(), "nothing linked");
}
