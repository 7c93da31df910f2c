//! Second factors as their users and their attackers meet them: staff who must enrol, a login
//! that needs the code, codes replayed and guessed in parallel, recovery codes, step-up, and an
//! admin's reset for a lost phone.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, PasskeyDevice, TestApp, Tokens, assert_problem, registration, spawn_app, totp_code};

impl TestApp {
    /// An admin made by the operator, logged in with the password alone: what staff get before
    /// they enrol a factor.
    pub(crate) async fn admin_before_enrolment(&self, email: &str) -> Value {
        if self.is_in_process() {
            let new = crate::helpers::operators_account(email);
            let by = shared::identity::Registrar::Operator;
            shared::identity::password::register(&self.local().auth, new, shared::domain::Role::Admin, by)
                .await
                .unwrap();
        } else {
            let url = std::env::var("UMS_TEST_RESET_URL").unwrap().replace("/reset", "/admin");
            let response = self.client.post(url).json(&json!({ "email": email, "password": PASSWORD })).send().await;
            assert_eq!(response.unwrap().status(), StatusCode::CREATED);
        }
        let response = self.post_login(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// A reader who enrolled an authenticator app; their tokens from before it.
    async fn reader_with_totp(&self, email: &str) -> (Tokens, Vec<String>) {
        let tokens = self.signed_up("reader", email).await;
        let codes = self.enrol_totp(email, &tokens.access).await;
        (tokens, codes)
    }

    /// The challenge a right password answers for an account with a factor.
    async fn challenge_for(&self, email: &str) -> String {
        let response = self.post_login(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert!(body.get("access_token").is_none(), "no tokens before the second factor: {body}");
        assert_eq!(body["factors"], json!(["totp", "recovery_code"]));
        body["challenge"].as_str().expect("a challenge").to_string()
    }

    /// A code of the account's app that it has not used, as the app shows it now.
    fn fresh_code(&self, email: &str) -> String {
        let answer = self.second_factor_of(email);
        answer["code"].as_str().expect("a code of now not used yet").to_string()
    }
}

/// The claims of a token, read as any JWT library would (unverified here: only the payload).
fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn an_admin_without_a_factor_can_do_nothing_but_enrol_one() {
    let app = spawn_app().await;
    let login = app.admin_before_enrolment("grace@example.com").await;
    assert_eq!(login["second_factor_enrolment_required"], true);
    let enrolment_only = Tokens::of(&login);

    // The token opens nothing but enrolment, here and in every other service: its audience is
    // not the platform's, so no verifier of the platform's tokens accepts it.
    assert_eq!(claims(&enrolment_only.access)["aud"], "blog-platform:factor-enrolment");
    for path in ["/api/v1/users", "/api/v1/user", "/api/v1/report/authors", "/api/v1/moderation/audit"] {
        let response = app.get(path, &enrolment_only.access).await;
        assert_problem(response, StatusCode::FORBIDDEN, "second_factor_enrolment_required").await;
    }
    let staff = crate::helpers::registration("mallory@example.com");
    let response = app.post_register("admin", &staff, Some(&enrolment_only.access)).await;
    assert_problem(response, StatusCode::FORBIDDEN, "second_factor_enrolment_required").await;
    let factors: Value = app.get("/api/v1/auth/factors", &enrolment_only.access).await.json().await.unwrap();
    assert_eq!((factors["totp"].clone(), factors["required"].clone()), (json!(false), json!(true)));

    // Enrolled, the session's next tokens are whole; the enrolment-only token stays what it was.
    let codes = app.enrol_totp("grace@example.com", &enrolment_only.access).await;
    assert_eq!(codes.len(), 10);
    let response = app.get("/api/v1/users", &enrolment_only.access).await;
    assert_problem(response, StatusCode::FORBIDDEN, "second_factor_enrolment_required").await;
    let full = Tokens::from(app.post_refresh(&enrolment_only.refresh).await).await;
    assert_eq!(claims(&full.access)["aud"], "blog-platform");
    assert_eq!(app.get("/api/v1/users", &full.access).await.status(), StatusCode::OK);

    // From now on the password alone does not sign in.
    let response = app.post_login("grace@example.com", PASSWORD).await;
    let body: Value = response.json().await.unwrap();
    assert!(body.get("access_token").is_none() && body["challenge"].is_string(), "{body}");
    // And staff keep their factor.
    let code = app.fresh_code("grace@example.com");
    let response = app
        .delete("/api/v1/auth/factors/totp", &full.access, Some(json!({ "password": PASSWORD, "code": code })))
        .await;
    assert_problem(response, StatusCode::CONFLICT, "second_factor_required").await;
}

#[tokio::test]
async fn with_an_authenticator_app_a_login_needs_its_code_and_a_code_works_once() {
    let app = spawn_app().await;
    let (tokens, _) = app.reader_with_totp("ada@example.com").await;
    let factors: Value = app.get("/api/v1/auth/factors", &tokens.access).await.json().await.unwrap();
    assert_eq!((factors["totp"].clone(), factors["recovery_codes_left"].clone()), (json!(true), json!(10)));

    let challenge = app.challenge_for("ada@example.com").await;
    // A wrong code is refused and the challenge stays; a challenge that was never made is not one.
    let wrong = app.post_second_factor(&challenge, &json!({ "code": "000000" })).await;
    let right_code = app.fresh_code("ada@example.com");
    assert!(right_code != "000000" || wrong.status() == StatusCode::OK);
    if right_code != "000000" {
        assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_second_factor").await;
    }
    let made_up = app.post_second_factor(&"A".repeat(43), &json!({ "code": right_code })).await;
    assert_problem(made_up, StatusCode::UNAUTHORIZED, "invalid_challenge").await;

    let response = app.post_second_factor(&challenge, &json!({ "code": right_code })).await;
    let body: Value = response.json().await.unwrap();
    let access = body["access_token"].as_str().expect("tokens after the code");
    assert_eq!(claims(access)["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(app.get_me(access).await.status(), StatusCode::OK);

    // The challenge completed once; the code is spent, for this login and any other.
    let again = app.post_second_factor(&challenge, &json!({ "code": right_code })).await;
    assert_problem(again, StatusCode::UNAUTHORIZED, "invalid_challenge").await;
    let another_login = app.challenge_for("ada@example.com").await;
    let replayed = app.post_second_factor(&another_login, &json!({ "code": right_code })).await;
    assert_problem(replayed, StatusCode::UNAUTHORIZED, "invalid_second_factor").await;
    // Nor does a code of before it (the app's previous step) work after it.
    let earlier = totp_code(&app.authenticator("ada@example.com").secret, app.totp_step_now() - 1);
    if earlier != right_code {
        let response = app.post_second_factor(&another_login, &json!({ "code": earlier })).await;
        assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_second_factor").await;
    }
}

#[tokio::test]
async fn the_same_code_sent_twice_at_once_signs_in_once() {
    let app = spawn_app().await;
    app.reader_with_totp("ada@example.com").await;
    let (first, second) = (app.challenge_for("ada@example.com").await, app.challenge_for("ada@example.com").await);
    let code = app.fresh_code("ada@example.com");
    let (a, b) = tokio::join!(
        app.post_second_factor(&first, &json!({ "code": code })),
        app.post_second_factor(&second, &json!({ "code": code }))
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 401], "one login, one replay refused");
}

#[tokio::test]
// In process only: it needs the app's clock, stores, settings or other sources.
async fn in_process_a_challenge_works_only_from_where_the_password_was_given() {
    let app = spawn_app().await;
    app.reader_with_totp("ada@example.com").await;
    let challenge = app.challenge_for("ada@example.com").await;
    let code = app.fresh_code("ada@example.com");
    let body = json!({ "challenge": challenge, "code": code });
    let elsewhere = app.client_from("127.0.0.2").post(app.url("/api/v1/auth/login/second_factor")).json(&body);
    assert_problem(elsewhere.send().await.unwrap(), StatusCode::UNAUTHORIZED, "invalid_challenge").await;
    // Five minutes on, it has expired.
    app.advance_clock(time::Duration::minutes(5));
    let late = app.post_second_factor(&challenge, &json!({ "code": app.fresh_code("ada@example.com") })).await;
    assert_problem(late, StatusCode::UNAUTHORIZED, "invalid_challenge").await;
}

/// Guesses of a code for one challenge, all at once or one after another: how many were
/// checked (answered `invalid_second_factor`) and how many were held back (429).
async fn guess(app: &TestApp, challenge: &str, parallel: bool) -> (usize, usize) {
    // Codes the app will not show within the skew window are guaranteed wrong.
    let secret = app.authenticator("ada@example.com").secret;
    let now = app.totp_step_now();
    let valid: Vec<String> = (now - 1..=now + 1).map(|step| totp_code(&secret, step)).collect();
    let wrong: Vec<String> =
        (0..40).map(|n| format!("{:06}", 100_000 + n * 7919)).filter(|c| !valid.contains(c)).take(20).collect();
    let answers: Vec<reqwest::Response> = if parallel {
        futures_util::future::join_all(
            wrong.iter().map(|code| app.post_second_factor(challenge, &json!({ "code": code }))),
        )
        .await
    } else {
        let mut answers = Vec::new();
        for code in &wrong {
            answers.push(app.post_second_factor(challenge, &json!({ "code": code })).await);
        }
        answers
    };
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    let checked = statuses.iter().filter(|s| **s == 401).count();
    (checked, statuses.len() - checked)
}

#[tokio::test]
async fn twenty_parallel_guesses_of_a_code_get_no_more_checks_than_twenty_sequential_ones() {
    let sequential = {
        let app = spawn_app().await;
        app.reader_with_totp("ada@example.com").await;
        let challenge = app.challenge_for("ada@example.com").await;
        guess(&app, &challenge, false).await
    };
    let parallel = {
        let app = spawn_app().await;
        app.reader_with_totp("ada@example.com").await;
        let challenge = app.challenge_for("ada@example.com").await;
        guess(&app, &challenge, true).await
    };
    // The password's check counted too: four codes are checked before the backoff, however sent.
    assert_eq!(sequential, (4, 16));
    assert!(parallel.0 <= sequential.0, "parallel {parallel:?} against sequential {sequential:?}");
    assert_eq!(parallel.0 + parallel.1, 20);
}

#[tokio::test]
async fn a_recovery_code_signs_in_once_and_new_ones_replace_the_old() {
    let app = spawn_app().await;
    let (_, codes) = app.reader_with_totp("ada@example.com").await;
    let challenge = app.challenge_for("ada@example.com").await;
    // Typed as people type them: upper case, a space for the dash.
    let typed = codes[3].to_uppercase().replace('-', " ");
    let tokens = Tokens::from(app.post_second_factor(&challenge, &json!({ "recovery_code": typed })).await).await;
    let factors: Value = app.get("/api/v1/auth/factors", &tokens.access).await.json().await.unwrap();
    assert_eq!(factors["recovery_codes_left"], 9);

    let challenge = app.challenge_for("ada@example.com").await;
    let spent = app.post_second_factor(&challenge, &json!({ "recovery_code": codes[3] })).await;
    assert_problem(spent, StatusCode::UNAUTHORIZED, "invalid_second_factor").await;

    let response = app.post("/api/v1/auth/factors/recovery_codes", &tokens.access, &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let fresh: Vec<String> =
        serde_json::from_value(response.json::<Value>().await.unwrap()["recovery_codes"].clone()).unwrap();
    assert!(fresh.iter().all(|c| !codes.contains(c)));
    let old = app.post_second_factor(&challenge, &json!({ "recovery_code": codes[4] })).await;
    assert_problem(old, StatusCode::UNAUTHORIZED, "invalid_second_factor").await;
    let new = app.post_second_factor(&challenge, &json!({ "recovery_code": fresh[0] })).await;
    assert_eq!(new.status(), StatusCode::OK);
}

/// How long a step-up lasts where the story runs: the in-process default, or what scripts/test
/// gave the AWS path (`UMS_STEP_UP_MAX_AGE_SECS`).
pub(crate) fn step_up_max_age() -> time::Duration {
    let secs = std::env::var("UMS_STEP_UP_MAX_AGE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    time::Duration::seconds(secs)
}

/// Lets the session's authentication grow old: the in-process clock moves, the AWS path waits.
pub(crate) async fn let_time_pass(app: &TestApp, by: time::Duration) {
    if app.is_in_process() {
        app.advance_clock(by);
    } else {
        tokio::time::sleep(by.unsigned_abs()).await;
    }
}

#[tokio::test]
async fn a_sensitive_action_asks_for_a_recent_authentication_and_a_step_up_gives_it() {
    let app = spawn_app().await;
    let (tokens, _) = app.reader_with_totp("ada@example.com").await;
    let tokens = Tokens::from(app.post_refresh(&tokens.refresh).await).await;
    let (admin, mallory) = (app.admin("grace@example.com").await, app.signed_up("reader", "mallory@example.com").await);
    let mallory_id = app.id_of(&mallory.access).await;
    let max_age = if app.is_in_process() { time::Duration::seconds(300) } else { step_up_max_age() };
    let_time_pass(&app, max_age + time::Duration::seconds(1)).await;
    // Tokens refreshed after the login keep its time: refreshing is not proving who you are.
    let tokens = Tokens::from(app.post_refresh(&tokens.refresh).await).await;
    let admin = Tokens::from(app.post_refresh(&admin.refresh).await).await;

    let new_password = json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase" });
    let response = app.post("/api/v1/auth/change_password", &tokens.access, &new_password).await;
    let challenge = response.headers()[reqwest::header::WWW_AUTHENTICATE].to_str().unwrap().to_string();
    assert!(challenge.contains("insufficient_user_authentication"), "RFC 9470's challenge: {challenge}");
    assert_problem(response, StatusCode::UNAUTHORIZED, "step_up_required").await;
    let email_change = json!({ "email": "ada.new@example.com", "current_password": PASSWORD });
    assert_problem(app.put_me(&tokens.access, &email_change).await, StatusCode::UNAUTHORIZED, "step_up_required").await;
    assert_problem(app.delete_me(&tokens.access, PASSWORD).await, StatusCode::UNAUTHORIZED, "step_up_required").await;
    // An admin's role changes and deletions too; other edits do not need one.
    let promote = app.put(&format!("/api/v1/user?id={mallory_id}"), &admin.access, &json!({ "role": "admin" })).await;
    assert_problem(promote, StatusCode::UNAUTHORIZED, "step_up_required").await;
    let delete = app.delete(&format!("/api/v1/user?id={mallory_id}"), &admin.access, None).await;
    assert_problem(delete, StatusCode::UNAUTHORIZED, "step_up_required").await;
    let bio = app.put(&format!("/api/v1/user?id={mallory_id}"), &admin.access, &json!({ "bio": "Edited." })).await;
    assert_eq!(bio.status(), StatusCode::OK);

    // Ada has an authenticator app: her password alone, right or wrong, steps up nothing (a
    // phished password and a stolen session are not enough); a code answers a fresh token.
    for password in [PASSWORD, "not my password"] {
        let response = app.post("/api/v1/auth/step_up", &tokens.access, &json!({ "password": password })).await;
        assert_problem(response, StatusCode::FORBIDDEN, "step_up_needs_second_factor").await;
    }
    let code = app.fresh_code("ada@example.com");
    let response = app.post("/api/v1/auth/step_up", &tokens.access, &json!({ "code": code })).await;
    assert_eq!(response.status(), StatusCode::OK);
    let stepped_up = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    assert!(claims(&stepped_up)["auth_time"].as_i64() > claims(&tokens.access)["auth_time"].as_i64());
    let response = app.post("/api/v1/auth/change_password", &stepped_up, &new_password).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // The admin steps up with a code of her app and acts.
    let admin_access = app.stepped_up(&admin.access).await;
    let promote = app.put(&format!("/api/v1/user?id={mallory_id}"), &admin_access, &json!({ "role": "author" })).await;
    assert_eq!(promote.status(), StatusCode::OK);
    let delete = app.delete(&format!("/api/v1/user?id={mallory_id}"), &admin_access, None).await;
    assert_eq!(delete.status(), StatusCode::NO_CONTENT);
}

/// A token that leaked (a log, a shared laptop, a proxy) and has grown old: whoever holds it
/// may read with it, but not keep their way in (an authenticator app of theirs on the account, a
/// staff account of their own) nor act on other accounts, until a step-up proves who they are.
#[tokio::test]
async fn a_stolen_token_grown_old_neither_enrols_its_own_factor_nor_acts_on_other_accounts() {
    let app = spawn_app().await;
    let ada = app.signed_up("reader", "ada@example.com").await;
    let ada_id = app.id_of(&ada.access).await;
    let admin = app.admin("grace@example.com").await;
    let bob = app.signed_up("author", "bob@example.com").await;
    let bob_id = app.id_of(&bob.access).await;
    let sessions: Value = app.get("/api/v1/user/sessions", &ada.access).await.json().await.unwrap();
    let ada_session = sessions["items"][0]["id"].as_str().expect("Ada's session").to_string();
    let max_age = if app.is_in_process() { time::Duration::seconds(300) } else { step_up_max_age() };
    let_time_pass(&app, max_age + time::Duration::seconds(1)).await;

    // Ada's stolen token: no app of the attacker's (its recovery codes with it), no passkey.
    for path in ["/api/v1/auth/factors/totp", "/api/v1/auth/factors/totp/confirm", "/api/v1/auth/factors/passkeys"] {
        let response = app.post(path, &ada.access, &json!({ "code": "123456" })).await;
        assert_problem(response, StatusCode::UNAUTHORIZED, "step_up_required").await;
    }
    let factors: Value = app.get("/api/v1/auth/factors", &ada.access).await.json().await.unwrap();
    assert_eq!((&factors["totp"], &factors["totp_pending"]), (&json!(false), &json!(false)), "{factors}");

    // The admin's stolen token: no staff account of the attacker's, no lock-out of anyone.
    for role in ["admin", "moderator"] {
        let response = app.post_register(role, &registration("eve@example.com"), Some(&admin.access)).await;
        assert_problem(response, StatusCode::UNAUTHORIZED, "step_up_required").await;
    }
    let suspend = json!({ "reason": "Spam." });
    let attempts = [
        app.put(&format!("/api/v1/user?id={bob_id}"), &admin.access, &json!({ "status": "suspended" })).await,
        app.post(&format!("/api/v1/suspend/author?id={bob_id}"), &admin.access, &suspend).await,
        app.post(&format!("/api/v1/unsuspend/author?id={bob_id}"), &admin.access, &json!({})).await,
        // A suspension's end date or reason is as much a lock-out as the suspension.
        app.put(&format!("/api/v1/user?id={bob_id}"), &admin.access, &json!({ "suspension_reason": "Spam." })).await,
        app.delete(&format!("/api/v1/user/factors?id={ada_id}"), &admin.access, None).await,
        app.delete(&format!("/api/v1/user?id={ada_id}"), &admin.access, None).await,
        app.delete(&format!("/api/v1/user/sessions?session={ada_session}&id={ada_id}"), &admin.access, None).await,
    ];
    for response in attempts {
        assert_problem(response, StatusCode::UNAUTHORIZED, "step_up_required").await;
    }
    // Nor does the admin's password step it up: she has a second factor.
    let response = app.post("/api/v1/auth/step_up", &admin.access, &json!({ "password": PASSWORD })).await;
    assert_problem(response, StatusCode::FORBIDDEN, "step_up_needs_second_factor").await;
    assert_eq!(app.get_me(&ada.access).await.status(), StatusCode::OK, "Ada's session goes on");
    assert_eq!(app.get_me(&bob.access).await.status(), StatusCode::OK, "Bob is not suspended");

    // With her code, the admin does what she meant to.
    let fresh = app.stepped_up(&admin.access).await;
    let response = app.post(&format!("/api/v1/suspend/author?id={bob_id}"), &fresh, &suspend).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.delete(&format!("/api/v1/user/sessions?session={ada_session}&id={ada_id}"), &fresh, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app.post_register("moderator", &registration("mo@example.com"), Some(&fresh)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// Whoever enrols a factor on an account (its owner, or a thief with a fresh token) is asked
/// for at its next sign-in: the owner hears of each new one at once, by email, with when, from
/// where and on what, and what to do if it was not them.
#[tokio::test]
async fn a_new_factor_is_emailed_to_the_owner_whoever_added_it() {
    let app = spawn_app().await;
    let ada = app.signed_up("reader", "ada@example.com").await;
    let subject = "A second factor was added to your account";

    // A fresh token, in someone's hands: an authenticator app of theirs.
    app.enrol_totp("ada@example.com", &ada.access).await;
    let notice = app.emails_to_eventually("ada@example.com", subject).await;
    assert!(notice.contains("an authenticator app"), "{notice}");
    assert!(notice.contains("From: 127.0.0.1") && notice.contains("Device: "), "{notice}");
    assert!(notice.contains("reset your password"), "{notice}");

    // A passkey, named by whoever added it: the notice says what it is, not what they called it.
    let fresh = app.stepped_up(&ada.access).await;
    app.register_passkey(&fresh, &mut PasskeyDevice::new(), "Not Eve's key").await;
    for _ in 0..100 {
        if app.emails_to("ada@example.com", subject).len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let notices = app.emails_to("ada@example.com", subject);
    assert_eq!(notices.len(), 2, "one notice per new factor");
    assert!(notices[1].contains("a passkey") && !notices[1].contains("Eve"), "{}", notices[1]);
}

#[tokio::test]
async fn an_admin_resets_a_lost_authenticator_and_the_account_starts_over() {
    let app = spawn_app().await;
    let admin = app.admin("grace@example.com").await;
    let moderator = app.moderator("mo@example.com", &admin).await;
    let mo = app.id_of(&moderator.access).await;
    let (reader, _) = app.reader_with_totp("ada@example.com").await;
    let ada = app.id_of(&reader.access).await;

    // Only admins reset factors, and not their own (staff keep one; theirs is theirs to manage).
    let response = app.delete(&format!("/api/v1/user/factors?id={ada}"), &moderator.access, None).await;
    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    let admin_id = app.id_of(&admin.access).await;
    let response = app.delete(&format!("/api/v1/user/factors?id={admin_id}"), &admin.access, None).await;
    assert_problem(response, StatusCode::CONFLICT, "second_factor_required").await;
    for id in [&ada, &mo] {
        let response = app.delete(&format!("/api/v1/user/factors?id={id}"), &admin.access, None).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    // Their sessions ended; the reader signs in with the password alone, the moderator can
    // only enrol again.
    assert_eq!(app.get_me(&reader.access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_me(&moderator.access).await.status(), StatusCode::UNAUTHORIZED);
    let reader_login: Value = app.post_login("ada@example.com", PASSWORD).await.json().await.unwrap();
    assert!(reader_login["access_token"].is_string() && reader_login.get("second_factor_enrolment_required").is_none());
    let mo_login: Value = app.post_login("mo@example.com", PASSWORD).await.json().await.unwrap();
    assert_eq!(mo_login["second_factor_enrolment_required"], true);

    // Both resets are on the audit trail, with who did them.
    let audit: Value = app.get("/api/v1/moderation/audit", &admin.access).await.json().await.unwrap();
    let resets: Vec<&Value> =
        audit["items"].as_array().unwrap().iter().filter(|r| r["action"] == "reset_factors").collect();
    assert_eq!(resets.len(), 2, "{audit}");
    assert!(resets.iter().all(|r| r["actor_id"] == admin_id.as_str()));
}
