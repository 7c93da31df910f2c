//! Signing in by email, as Medium's readers do: an address, an emailed six-digit code or link,
//! no password. Each story as the reader would live it, or as an attacker would try it.

use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode, header};
use serde_json::{Value, json};

use crate::{
    helpers::{PASSWORD, TestApp, Tokens, assert_problem, spawn_app, spawn_app_with},
    provider_support::FRONT_END,
    second_factor::{let_time_pass, step_up_max_age},
};

const SUBJECT: &str = "Your sign-in code";

impl TestApp {
    async fn post_email_sign_in(&self, body: Value) -> Response {
        self.post_json("/api/v1/auth/email_sign_in", &body, None).await
    }

    /// Asks for a sign-in by email: the flow id.
    async fn asked(&self, email: &str) -> String {
        let response = self.post_email_sign_in(json!({ "email": email })).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "asking to sign in as {email}");
        response.json::<Value>().await.unwrap()["flow_id"].as_str().unwrap().to_string()
    }

    /// The code of the newest sign-in email to `to` (waiting for the worker).
    async fn sign_in_code(&self, to: &str) -> String {
        code_in(&self.emails_to_eventually(to, SUBJECT).await)
    }

    /// The code of a sign-in email newer than the one with `previous`.
    async fn sign_in_code_after(&self, to: &str, previous: &str) -> String {
        for _ in 0..400 {
            if let Some(code) = self.emails_to(to, SUBJECT).last().map(|e| code_in(e))
                && code != previous
            {
                return code;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no new sign-in email reached {to}");
    }

    async fn post_code(&self, email: &str, code: &str) -> Response {
        self.post_json("/api/v1/auth/email_sign_in/code", &json!({ "email": email, "code": code }), None).await
    }

    async fn post_exchange_link_code(&self, code: &str, flow_id: Option<&str>) -> Response {
        let body = json!({ "code": code, "flow_id": flow_id });
        self.post_json("/api/v1/auth/email_sign_in/exchange", &body, None).await
    }

    /// Asks for a sign-in and finishes it with the emailed code: what that answered.
    async fn signed_in_by_email(&self, email: &str) -> Value {
        self.asked(email).await;
        let code = self.sign_in_code(email).await;
        let response = self.post_code(email, &code).await;
        assert_eq!(response.status(), StatusCode::OK, "signing in by code");
        response.json().await.unwrap()
    }

    /// Asks for a sign-in whose email has a link to the front end: the flow id and the link's
    /// token.
    async fn asked_with_link(&self, email: &str, same_browser: bool) -> (String, String) {
        let body = json!({ "email": email, "redirect_to": FRONT_END, "same_browser": same_browser });
        let response = self.post_email_sign_in(body).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let flow_id = response.json::<Value>().await.unwrap()["flow_id"].as_str().unwrap().to_string();
        (flow_id, link_token_in(&self.emails_to_eventually(email, SUBJECT).await))
    }

    async fn press_link_button(&self, token: &str) -> Response {
        let body = format!("token={token}");
        let request = self.client.post(self.url("/email-sign-in")).header(header::CONTENT_TYPE, FORM).body(body);
        request.send().await.unwrap()
    }
}

const FORM: &str = "application/x-www-form-urlencoded";

/// The code in a sign-in email: its line of six digits.
fn code_in(email: &str) -> String {
    let line = email.lines().find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()));
    line.unwrap_or_else(|| panic!("a code in {email}")).to_string()
}

/// The token of the link in a sign-in email.
fn link_token_in(email: &str) -> String {
    let start = email.find("email-sign-in?token=").expect("a sign-in link") + "email-sign-in?token=".len();
    email[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).collect()
}

/// The front end's code in the page the link's button answered (its refresh and its link).
async fn front_end_code(response: Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    let refresh = format!("content=\"0; url={FRONT_END}?code=");
    let start = html.find(&refresh).unwrap_or_else(|| panic!("a refresh to the front end in {html}")) + refresh.len();
    html[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')).collect()
}

#[tokio::test]
async fn a_new_reader_signs_up_by_code_and_signs_in_again_without_a_password() {
    let app = spawn_app().await;

    let response = app.post_email_sign_in(json!({ "email": "ada@example.com" })).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let asked: Value = response.json().await.unwrap();
    assert_eq!(asked["expires_in"], 600);
    let code = app.sign_in_code("ada@example.com").await;
    let first = app.post_code("ada@example.com", &code).await;
    assert_eq!(first.status(), StatusCode::OK);
    let tokens = Tokens::from(first).await;

    let me: Value = app.get_me(&tokens.access).await.json().await.unwrap();
    assert_eq!((me["role"].as_str(), me["status"].as_str()), (Some("reader"), Some("active")));
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["email_confirmed"], true, "the code proved it");
    assert_eq!(me["first_name"], "ada", "the address's local part, until the reader names themselves");

    // The next time, by the flow id the ask answered instead of the address.
    let flow_id = app.asked("ada@example.com").await;
    let code = app.sign_in_code_after("ada@example.com", &code).await;
    let body = json!({ "flow_id": flow_id, "code": code });
    let again = app.post_json("/api/v1/auth/email_sign_in/code", &body, None).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["user"]["id"], me["id"], "the same account");

    assert_problem(app.post_login("ada@example.com", PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials")
        .await;
    let activity: Value = app.get("/api/v1/user/activity", &tokens.access).await.json().await.unwrap();
    let signed_in: Vec<_> = activity["items"].as_array().unwrap().iter().filter(|e| e["kind"] == "signed_in").collect();
    assert_eq!(signed_in.len(), 2, "{activity}");
    assert!(signed_in.iter().all(|e| e["detail"].as_str().unwrap().ends_with("(email)")), "{activity}");
    let export: Value = app.get("/api/v1/user/export", &tokens.access).await.json().await.unwrap();
    let methods: Vec<_> = export["sessions"].as_array().unwrap().iter().map(|s| s["amr"].clone()).collect();
    assert_eq!(methods, vec![json!(["email"]); 2], "the export shows how each session signed in");
}

#[tokio::test]
async fn the_ask_answers_alike_for_a_known_and_an_unknown_address() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.signed_up("reader", &format!("known{i}@example.com")).await;
    }

    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    let mut bodies = Vec::new();
    for i in 0..5 {
        for (address, times) in
            [(format!("known{i}@example.com"), &mut known), (format!("nobody{i}@example.com"), &mut unknown)]
        {
            let started = Instant::now();
            let response = app.post_email_sign_in(json!({ "email": address })).await;
            times.push(started.elapsed());
            assert_eq!(response.status(), StatusCode::ACCEPTED);
            let body: Value = response.json().await.unwrap();
            bodies.push(body.as_object().unwrap().keys().cloned().collect::<Vec<_>>());
        }
    }

    assert!(bodies.windows(2).all(|pair| pair[0] == pair[1]), "one shape: {bodies:?}");
    known.sort();
    unknown.sort();
    let (known, unknown) = (known[2], unknown[2]);
    let apart = known.abs_diff(unknown);
    assert!(
        apart < Duration::from_millis(50).max(known.max(unknown) / 2),
        "the medians are {known:?} (an account) and {unknown:?} (none)"
    );
    // Both got a code: the unknown one signs up with it.
    let code = app.sign_in_code("nobody0@example.com").await;
    assert_eq!(app.post_code("nobody0@example.com", &code).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_links_page_changes_nothing_and_its_button_signs_in_once_however_often_pressed() {
    let app = spawn_app().await;
    app.signed_up("reader", "ada@example.com").await;
    let (_, token) = app.asked_with_link("ada@example.com", false).await;

    // The mail scanner opens the link: a page with a button, and nothing used.
    for _ in 0..3 {
        let page = app.client.get(app.url(&format!("/email-sign-in?token={token}"))).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.text().await.unwrap().contains("<button type=\"submit\">Sign in</button>"));
    }

    // The reader presses it twice at once: one sign-in.
    let (first, second) = tokio::join!(app.press_link_button(&token), app.press_link_button(&token));
    let mut pages = [first, second];
    pages.sort_by_key(|p| p.status());
    assert_eq!(pages[1].status(), StatusCode::BAD_REQUEST, "the second press finds the link used");
    let [page, _] = pages;
    assert_eq!(page.headers()[header::REFERRER_POLICY], "no-referrer");
    let code = front_end_code(page).await;

    let exchanged = app.post_exchange_link_code(&code, None).await;
    assert_eq!(exchanged.status(), StatusCode::OK);
    let tokens = Tokens::from(exchanged).await;
    let me: Value = app.get_me(&tokens.access).await.json().await.unwrap();
    assert_eq!(me["email"], "ada@example.com");
    let again = app.post_exchange_link_code(&code, None).await;
    assert_problem(again, StatusCode::BAD_REQUEST, "invalid_sign_in_flow").await;
    // The link's sign-in was taken whole: its code is dead too.
    let emailed = app.sign_in_code("ada@example.com").await;
    assert_problem(app.post_code("ada@example.com", &emailed).await, StatusCode::BAD_REQUEST, "invalid_code").await;
}

#[tokio::test]
async fn a_link_bound_to_the_browser_that_asked_signs_in_only_there() {
    let app = spawn_app().await;
    app.signed_up("reader", "ada@example.com").await;
    let (flow_id, token) = app.asked_with_link("ada@example.com", true).await;
    let code = front_end_code(app.press_link_button(&token).await).await;

    // The link was forwarded, or opened on another device: that front end has no flow id.
    let elsewhere = app.post_exchange_link_code(&code, None).await;
    assert_problem(elsewhere, StatusCode::BAD_REQUEST, "invalid_sign_in_flow").await;
    let other_flow = app.asked("eve@example.com").await;
    let other = app.post_exchange_link_code(&code, Some(&other_flow)).await;
    assert_problem(other, StatusCode::BAD_REQUEST, "invalid_sign_in_flow").await;

    // Where it was asked, the front end kept the flow id: signed in (those tries spent nothing).
    let here = app.post_exchange_link_code(&code, Some(&flow_id)).await;
    assert_eq!(here.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_older_code_and_link_die_when_a_newer_email_is_sent() {
    let app = spawn_app().await;
    app.signed_up("reader", "ada@example.com").await;
    let (_, old_link) = app.asked_with_link("ada@example.com", false).await;
    let old_code = app.sign_in_code("ada@example.com").await;

    app.asked("ada@example.com").await;
    let new_code = app.sign_in_code_after("ada@example.com", &old_code).await;

    assert_problem(app.post_code("ada@example.com", &old_code).await, StatusCode::BAD_REQUEST, "invalid_code").await;
    let pressed = app.press_link_button(&old_link).await;
    assert_eq!(pressed.status(), StatusCode::BAD_REQUEST, "the old link's page says it does not work");
    assert_eq!(app.post_code("ada@example.com", &new_code).await.status(), StatusCode::OK);
    assert_problem(app.post_code("ada@example.com", &new_code).await, StatusCode::BAD_REQUEST, "invalid_code").await;
}

/// Five wrong codes, from five places (so that no source's backoff is what stops the sixth):
/// the code is dead, and the right one is refused too.
// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_the_sixth_check_of_a_code_is_refused_even_when_right() {
    let app = spawn_app().await;
    app.signed_up("reader", "ada@example.com").await;
    app.asked("ada@example.com").await;
    let code = app.sign_in_code("ada@example.com").await;
    let wrong = if code == "000000" { "000001" } else { "000000" };

    for i in 2..7 {
        let body = json!({ "email": "ada@example.com", "code": wrong });
        let client = app.client_from(&format!("127.0.0.{i}"));
        let response = client.post(app.url("/api/v1/auth/email_sign_in/code")).json(&body).send().await.unwrap();
        assert_problem(response, StatusCode::BAD_REQUEST, "invalid_code").await;
    }

    let right = app.client_from("127.0.0.9").post(app.url("/api/v1/auth/email_sign_in/code"));
    let right = right.json(&json!({ "email": "ada@example.com", "code": code })).send().await.unwrap();
    assert_problem(right, StatusCode::BAD_REQUEST, "invalid_code").await;
}

#[tokio::test]
async fn thirty_parallel_wrong_codes_are_checked_no_more_than_sequential_ones() {
    let app = spawn_app().await;
    app.signed_up("reader", "ada@example.com").await;
    app.asked("ada@example.com").await;
    let code = app.sign_in_code("ada@example.com").await;

    let guesses: Vec<_> = (0..30)
        .map(|i| {
            let guess = format!("{:06}", (code.parse::<u32>().unwrap() + 1 + i) % 1_000_000);
            let request = app.client.post(app.url("/api/v1/auth/email_sign_in/code"));
            let request = request.json(&json!({ "email": "ada@example.com", "code": guess }));
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    let (mut checked, mut refused) = (0, 0);
    for guess in guesses {
        match guess.await.unwrap() {
            StatusCode::BAD_REQUEST => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("a guess answered {other}"),
        }
    }

    assert!(checked <= 5, "{checked} codes checked");
    assert_eq!(checked + refused, 30);
    let right = app.post_code("ada@example.com", &code).await;
    assert_ne!(right.status(), StatusCode::OK, "the right code after the burst signs nobody in");
}

#[tokio::test]
async fn staff_answer_their_second_factor_after_the_emailed_code() {
    let app = spawn_app().await;
    app.admin("grace@example.com").await;

    let outcome = app.signed_in_by_email("grace@example.com").await;
    assert!(outcome.get("access_token").is_none(), "no tokens before the factor: {outcome}");
    let challenge = outcome["challenge"].as_str().expect("the second factor's challenge");

    let answer = app.second_factor_of("grace@example.com");
    let response = app.post_second_factor(challenge, &answer).await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens = Tokens::from(response).await;
    let sessions: Value = app.get("/api/v1/user/sessions", &tokens.access).await.json().await.unwrap();
    let current = sessions["items"].as_array().unwrap().iter().find(|s| s["current"] == true).unwrap().clone();
    assert_eq!(current["amr"], json!(["email", "otp", "mfa"]), "{sessions}");
}

#[tokio::test]
async fn a_suspended_account_is_refused_and_a_registration_never_confirmed_gives_way() {
    let app = spawn_app().await;
    let admin = app.admin("grace@example.com").await;
    let bob = app.signed_up("author", "bob@example.com").await;
    let bob_id = app.id_of(&bob.access).await;
    let body = json!({ "reason": "Spam." });
    assert_eq!(
        app.post(&format!("/api/v1/suspend/author?id={bob_id}"), &admin.access, &body).await.status(),
        StatusCode::OK
    );

    app.asked("bob@example.com").await;
    let code = app.sign_in_code("bob@example.com").await;
    assert_problem(app.post_code("bob@example.com", &code).await, StatusCode::FORBIDDEN, "account_suspended").await;

    // Someone registered Ada's address with their own password and never confirmed it; Ada
    // signs in by email: a new account, and that password opens nothing.
    assert_eq!(
        app.post_register("reader", &crate::helpers::registration("ada@example.com"), None).await.status(),
        StatusCode::CREATED
    );
    let ada = Tokens::of(&app.signed_in_by_email("ada@example.com").await);
    assert_eq!(app.get_me(&ada.access).await.status(), StatusCode::OK);
    assert_problem(app.post_login("ada@example.com", PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials")
        .await;
}

#[tokio::test]
async fn an_account_without_a_password_steps_up_changes_its_address_and_leaves_by_emailed_codes() {
    let app = spawn_app().await;
    let ada = Tokens::of(&app.signed_in_by_email("ada@example.com").await);
    let max_age = if app.is_in_process() { time::Duration::seconds(300) } else { step_up_max_age() };
    let_time_pass(&app, max_age + time::Duration::seconds(1)).await;
    assert_problem(app.delete_me(&ada.access, "no password").await, StatusCode::UNAUTHORIZED, "step_up_required").await;

    // A password it does not have proves nothing; an emailed code does.
    let wrong = app.post("/api/v1/auth/step_up", &ada.access, &json!({ "password": PASSWORD })).await;
    assert_problem(wrong, StatusCode::FORBIDDEN, "wrong_current_password").await;
    let sent = app.post("/api/v1/auth/email_code", &ada.access, &json!({})).await;
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let code = code_in(&app.emails_to_eventually("ada@example.com", "Your confirmation code").await);
    let stepped = app.post("/api/v1/auth/step_up", &ada.access, &json!({ "email_code": code })).await;
    assert_eq!(stepped.status(), StatusCode::OK);
    let access = stepped.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let reused = app.post("/api/v1/auth/step_up", &ada.access, &json!({ "email_code": code })).await;
    assert_problem(reused, StatusCode::BAD_REQUEST, "invalid_code").await;

    // A new address, with a new code.
    app.post("/api/v1/auth/email_code", &access, &json!({})).await;
    let code = code_in(&wait_for_nth(&app, 2).await);
    let change = app.put_me(&access, &json!({ "email": "ada@new.example", "email_code": code })).await;
    assert_eq!(change.status(), StatusCode::OK, "{}", change.text().await.unwrap());

    // And leaving, with one more.
    app.post("/api/v1/auth/email_code", &access, &json!({})).await;
    let code = code_in(&wait_for_nth(&app, 3).await);
    let response = app.delete("/api/v1/user", &access, Some(json!({ "email_code": code }))).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

/// The `n`th confirmation code email to Ada, once it is there.
async fn wait_for_nth(app: &TestApp, n: usize) -> String {
    for _ in 0..400 {
        let emails = app.emails_to("ada@example.com", "Your confirmation code");
        if emails.len() >= n {
            return emails[n - 1].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no confirmation code email number {n}");
}

#[tokio::test]
async fn a_front_end_off_the_list_is_refused_and_nothing_is_sent() {
    let app = spawn_app().await;
    for redirect_to in [
        "https://evil.example/signed-in",
        "https://blog.example/signed-in/../x",
        "https://blog.example.evil.example/signed-in",
    ] {
        let response = app.post_email_sign_in(json!({ "email": "ada@example.com", "redirect_to": redirect_to })).await;
        assert_problem(response, StatusCode::BAD_REQUEST, "redirect_not_allowed").await;
    }
    let unbound = app.post_email_sign_in(json!({ "email": "ada@example.com", "same_browser": true })).await;
    assert_problem(unbound, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let not_an_address = app.post_email_sign_in(json!({ "email": "ada" })).await;
    assert_problem(not_an_address, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let not_a_code = app.post_code("ada@example.com", "12345a").await;
    assert_problem(not_a_code, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(app.emails_to("ada@example.com", SUBJECT).is_empty());
}

/// Someone asks for codes for an address and guesses, all day: the day's checks for the address
/// run out (right or wrong), and come back the next day.
// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_guessing_around_the_clock_runs_out_of_checks_for_the_day() {
    let app = spawn_app_with(|config| config.limits.emailed_code_checks_per_address_per_day = 3).await;
    app.signed_up("reader", "ada@example.com").await;
    app.asked("ada@example.com").await;
    let code = app.sign_in_code("ada@example.com").await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for i in 2..5 {
        let body = json!({ "email": "ada@example.com", "code": wrong });
        let client = app.client_from(&format!("127.0.0.{i}"));
        let response = client.post(app.url("/api/v1/auth/email_sign_in/code")).json(&body).send().await.unwrap();
        assert_problem(response, StatusCode::BAD_REQUEST, "invalid_code").await;
    }

    let right = app.post_code("ada@example.com", &code).await;
    assert!(right.headers().contains_key(header::RETRY_AFTER));
    assert_problem(right, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;

    app.advance_clock(time::Duration::days(1));
    app.asked("ada@example.com").await;
    let code = app.sign_in_code_after("ada@example.com", &code).await;
    assert_eq!(app.post_code("ada@example.com", &code).await.status(), StatusCode::OK, "the next day");
}

/// The asks are counted per source, and the emails per address, before anything is sent.
// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_asks_are_limited_per_source_and_per_address() {
    let app = spawn_app_with(|config| config.limits.email_sign_ins_per_source_per_minute = 3).await;
    // One source: its fourth ask this minute is refused.
    for i in 0..3 {
        app.asked(&format!("reader{i}@example.com")).await;
    }
    let fourth = app.post_email_sign_in(json!({ "email": "reader3@example.com" })).await;
    assert!(fourth.headers().contains_key(header::RETRY_AFTER));
    assert_problem(fourth, StatusCode::TOO_MANY_REQUESTS, "too_many_emails").await;

    // One address, from many sources: its sixth email this hour is refused.
    for i in 0..6 {
        let response = app
            .client_from(&format!("127.0.0.{}", i + 2))
            .post(app.url("/api/v1/auth/email_sign_in"))
            .json(&json!({ "email": "ada@example.com" }))
            .send()
            .await
            .unwrap();
        let expected = if i < 5 { StatusCode::ACCEPTED } else { StatusCode::TOO_MANY_REQUESTS };
        assert_eq!(response.status(), expected, "ask {i} for one address (five emails an hour)");
    }
}
