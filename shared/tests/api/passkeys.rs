//! Passkeys as their users and their attackers meet them, with a software device standing in
//! for a phone or a security key: registered, signing in on their own and as a login's second
//! step, an answer replayed, a device that was never registered, staff enrolling one, and a
//! sign-in that does not tell who has an account.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, PasskeyDevice, TestApp, Tokens, assert_problem, spawn_app};

/// The claims of a token (its payload, unverified: only to read `amr`).
fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

impl TestApp {
    /// Signs in with the device alone: options for `email`, the device's answer, the tokens.
    async fn signed_in_with_passkey(&self, email: &str, device: &mut PasskeyDevice) -> Tokens {
        let started = self.passkey_options(email).await;
        let answer = self.get_assertion(device, &started["options"]);
        let response = self.post_passkey_sign_in(&started["ceremony"], &answer).await;
        assert_eq!(response.status(), StatusCode::OK, "signing in with a passkey");
        Tokens::of(&response.json().await.unwrap())
    }
}

#[tokio::test]
async fn a_passkey_registers_signs_in_on_its_own_and_completes_a_login() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;
    let mut phone = PasskeyDevice::new();
    let registered = app.register_passkey(&tokens.access, &mut phone, "phone").await;
    assert_eq!(registered["passkey"]["name"], "phone");
    assert_eq!(registered["recovery_codes"].as_array().map(Vec::len), Some(10), "a first factor's recovery codes");
    let factors: Value = app.get("/api/v1/auth/factors", &tokens.access).await.json().await.unwrap();
    assert_eq!(factors["passkeys"][0]["id"], registered["passkey"]["id"]);
    assert_eq!((factors["totp"].clone(), factors["recovery_codes_left"].clone()), (json!(false), json!(10)));

    // On its own: no password, and the session says how it was proved.
    let signed_in = app.signed_in_with_passkey("ada@example.com", &mut phone).await;
    assert_eq!(claims(&signed_in.access)["amr"], json!(["hwk", "mfa"]));
    assert_eq!(app.get("/api/v1/user", &signed_in.access).await.status(), StatusCode::OK);
    let factors: Value = app.get("/api/v1/auth/factors", &signed_in.access).await.json().await.unwrap();
    assert!(factors["passkeys"][0]["last_used_at"].is_string(), "its use is recorded: {factors}");

    // The password is now one step of two: the challenge carries the passkey's options.
    let response = app.post_login("ada@example.com", PASSWORD).await;
    let challenge: Value = response.json().await.unwrap();
    assert_eq!(challenge["factors"], json!(["passkey", "recovery_code"]));
    let answer = app.get_assertion(&mut phone, &challenge["passkey"]);
    let body = json!({ "challenge": challenge["challenge"], "passkey": answer });
    let response = app.post_json("/api/v1/auth/login/second_factor", &body, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let login: Value = response.json().await.unwrap();
    assert_eq!(claims(login["access_token"].as_str().unwrap())["amr"], json!(["pwd", "hwk", "mfa"]));
    // The same answer again: the challenge was completed.
    let response = app.post_json("/api/v1/auth/login/second_factor", &body, None).await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_challenge").await;
}

#[tokio::test]
async fn a_passkey_answer_is_accepted_once_and_only_from_the_device_registered() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;
    let mut phone = PasskeyDevice::new();
    app.register_passkey(&tokens.access, &mut phone, "phone").await;

    // A sign-in's answer, replayed (also twice at once): one session.
    let started = app.passkey_options("ada@example.com").await;
    let answer = app.get_assertion(&mut phone, &started["options"]);
    let (first, second) = tokio::join!(
        app.post_passkey_sign_in(&started["ceremony"], &answer),
        app.post_passkey_sign_in(&started["ceremony"], &answer)
    );
    let mut statuses = [first.status(), second.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::UNAUTHORIZED]);
    let response = app.post_passkey_sign_in(&started["ceremony"], &answer).await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_passkey").await;

    // An answer to another ceremony's challenge does not finish this one.
    let (old, new) = (app.passkey_options("ada@example.com").await, app.passkey_options("ada@example.com").await);
    let answer_to_old = app.get_assertion(&mut phone, &old["options"]);
    let response = app.post_passkey_sign_in(&new["ceremony"], &answer_to_old).await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_passkey").await;

    // Mallory's own device, registered to her account, answering for Ada's: refused, and
    // Mallory's answer does not sign her in as Ada either.
    let mallory = app.signed_up("reader", "mallory@example.com").await;
    let mut mallorys = PasskeyDevice::new();
    app.register_passkey(&mallory.access, &mut mallorys, "hers").await;
    let for_ada = app.passkey_options("ada@example.com").await;
    let for_mallory = app.passkey_options("mallory@example.com").await;
    let mallorys_answer = app.get_assertion(&mut mallorys, &for_mallory["options"]);
    let response = app.post_passkey_sign_in(&for_ada["ceremony"], &mallorys_answer).await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_passkey").await;

    // A device never registered cannot even answer the options (they name Ada's passkey).
    let mut stranger = PasskeyDevice::new();
    let options = app.passkey_options("ada@example.com").await;
    let refused = app.try_get_assertion(&mut stranger, &options["options"]);
    assert!(refused.is_none(), "an unregistered device has no credential to answer with");
}

/// A copy of the authenticator's keys (a cloned security key, an exported software passkey)
/// answers with the counter the original answers with next: both answers verify, and only the
/// first to be stored may sign in.
#[tokio::test]
async fn a_cloned_passkey_signs_in_once_however_its_answers_race_or_arrive_late() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;
    let mut phone = PasskeyDevice::new();
    app.register_passkey(&tokens.access, &mut phone, "phone").await;

    // The owner and the clone, each answering its own ceremony with the same counter, at once,
    // three times: one session each time, never two.
    for round in 0..3 {
        let mut clone = phone.cloned();
        let (a, b) = (app.passkey_options("ada@example.com").await, app.passkey_options("ada@example.com").await);
        let (owners, clones) =
            (app.get_assertion(&mut phone, &a["options"]), app.get_assertion(&mut clone, &b["options"]));
        let (first, second) = tokio::join!(
            app.post_passkey_sign_in(&a["ceremony"], &owners),
            app.post_passkey_sign_in(&b["ceremony"], &clones)
        );
        let mut statuses = [first.status(), second.status()];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::UNAUTHORIZED], "round {round}");
    }

    // One after the other, the clone's ceremony started before the owner's answer was used:
    // the counter its ceremony remembers is passed, the one stored now is not.
    let mut clone = phone.cloned();
    let (a, b) = (app.passkey_options("ada@example.com").await, app.passkey_options("ada@example.com").await);
    let (owners, clones) = (app.get_assertion(&mut phone, &a["options"]), app.get_assertion(&mut clone, &b["options"]));
    let response = app.post_passkey_sign_in(&a["ceremony"], &owners).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.post_passkey_sign_in(&b["ceremony"], &clones).await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_passkey").await;

    // The owner's device goes on signing in.
    app.signed_in_with_passkey("ada@example.com", &mut phone).await;
}

#[tokio::test]
async fn a_passkey_sign_in_does_not_tell_who_has_an_account_or_a_passkey() {
    let app = spawn_app().await;
    let with = app.signed_up("reader", "ada@example.com").await;
    app.register_passkey(&with.access, &mut PasskeyDevice::new(), "phone").await;
    app.signed_up("reader", "bob@example.com").await;

    let mut shapes = Vec::new();
    for email in ["ada@example.com", "bob@example.com", "nobody@example.com"] {
        let started = app.passkey_options(email).await;
        let options = &started["options"]["publicKey"];
        let allowed = options["allowCredentials"].as_array().expect("credentials named");
        // Ada's passkey is named; the others get webauthn-rs' decoys, drawn from what real
        // accounts have (most one credential, some none, a few several), whoever they are.
        if email.starts_with("ada") {
            assert_eq!(allowed.len(), 1, "{options}");
        }
        let mut keys: Vec<&String> = options.as_object().unwrap().keys().collect();
        keys.sort();
        shapes.push(keys.into_iter().cloned().collect::<Vec<_>>());
        // The same address gets the same credentials each time.
        let again = app.passkey_options(email).await;
        assert_eq!(again["options"]["publicKey"]["allowCredentials"], options["allowCredentials"], "{email}");
        assert_ne!(again["ceremony"], started["ceremony"]);
    }
    assert!(shapes.windows(2).all(|w| w[0] == w[1]), "the same fields for everyone: {shapes:?}");

    // A decoy cannot be finished, whatever is sent.
    let decoy = app.passkey_options("nobody@example.com").await;
    let forged = json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key", "extensions": {},
        "response": { "authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA", "userHandle": null },
    });
    let response = app.post_passkey_sign_in(&decoy["ceremony"], &forged).await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_passkey").await;
}

#[tokio::test]
async fn staff_enrol_a_passkey_as_their_factor_and_keep_one() {
    let app = spawn_app().await;
    let login = app.admin_before_enrolment("grace@example.com").await;
    let enrolment_only = Tokens::of(&login);
    let mut key = PasskeyDevice::new();
    let registered = app.register_passkey(&enrolment_only.access, &mut key, "security key").await;
    let passkey_id = registered["passkey"]["id"].as_str().unwrap().to_string();

    // The next refresh is a full session; a passkey alone signs the admin in.
    let response = app.post_refresh(&enrolment_only.refresh).await;
    let refreshed = Tokens::of(&response.json().await.unwrap());
    assert_eq!(app.get("/api/v1/users", &refreshed.access).await.status(), StatusCode::OK);
    let admin = app.signed_in_with_passkey("grace@example.com", &mut key).await;
    assert_eq!(app.get("/api/v1/users", &admin.access).await.status(), StatusCode::OK);

    // The admin's only factor stays; with a second one, the first can go.
    let path = format!("/api/v1/auth/factors/passkeys/{passkey_id}");
    let response = app.client.delete(app.url(&path)).bearer_auth(&admin.access).send().await.unwrap();
    assert_problem(response, StatusCode::CONFLICT, "second_factor_required").await;
    let mut spare = PasskeyDevice::new();
    app.register_passkey(&admin.access, &mut spare, "spare key").await;
    let response = app.client.delete(app.url(&path)).bearer_auth(&admin.access).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let factors: Value = app.get("/api/v1/auth/factors", &admin.access).await.json().await.unwrap();
    assert_eq!(factors["passkeys"].as_array().unwrap().len(), 1);
    assert_eq!(factors["passkeys"][0]["name"], "spare key");
    // The removed one no longer signs in (the options no longer name it).
    let options = app.passkey_options("grace@example.com").await;
    let refused = app.try_get_assertion(&mut key, &options["options"]);
    assert!(refused.is_none(), "the removed key has nothing to answer with");
    app.signed_in_with_passkey("grace@example.com", &mut spare).await;
}

#[tokio::test]
async fn a_reader_removes_their_only_passkey_and_the_password_alone_signs_in_again() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;
    let registered = app.register_passkey(&tokens.access, &mut PasskeyDevice::new(), "laptop").await;
    let path = format!("/api/v1/auth/factors/passkeys/{}", registered["passkey"]["id"].as_str().unwrap());
    let response = app.client.delete(app.url(&path)).bearer_auth(&tokens.access).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app.client.delete(app.url(&path)).bearer_auth(&tokens.access).send().await.unwrap();
    assert_problem(response, StatusCode::NOT_FOUND, "no_such_factor").await;
    let response = app.post_login("ada@example.com", PASSWORD).await;
    let body: Value = response.json().await.unwrap();
    assert!(body["access_token"].is_string(), "a password alone: {body}");
}

#[tokio::test]
async fn a_passkey_steps_up_a_session_for_a_sensitive_action() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;
    let mut phone = PasskeyDevice::new();
    app.register_passkey(&tokens.access, &mut phone, "phone").await;
    let signed_in = app.signed_in_with_passkey("ada@example.com", &mut phone).await;
    let max_age =
        if app.is_in_process() { time::Duration::seconds(300) } else { crate::second_factor::step_up_max_age() };
    crate::second_factor::let_time_pass(&app, max_age + time::Duration::seconds(1)).await;
    let new_password = json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase" });
    let response = app.post("/api/v1/auth/change_password", &signed_in.access, &new_password).await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "step_up_required").await;

    let response = app.post("/api/v1/auth/step_up/passkey", &signed_in.access, &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let started: Value = response.json().await.unwrap();
    let answer = app.get_assertion(&mut phone, &started["options"]);
    let proof = json!({ "ceremony": started["ceremony"], "passkey": answer });
    let response = app.post("/api/v1/auth/step_up", &signed_in.access, &proof).await;
    assert_eq!(response.status(), StatusCode::OK);
    let stepped_up = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    assert_eq!(claims(&stepped_up)["amr"], json!(["hwk", "mfa"]));
    // The same answer again steps up nothing.
    let again = app.post("/api/v1/auth/step_up", &signed_in.access, &proof).await;
    assert_problem(again, StatusCode::UNAUTHORIZED, "invalid_passkey").await;
    let response = app.post("/api/v1/auth/change_password", &stepped_up, &new_password).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

/// Starting a passkey sign-in needs no account and keeps a ceremony: someone scripting it, with
/// strings the size of the body limit for addresses, gets options like anyone's, keeps none of
/// their string in the store, and is stopped per source.
#[tokio::test]
async fn scripted_passkey_sign_in_starts_store_nothing_of_theirs_and_are_counted_per_source() {
    let app = spawn_app().await;
    let garbage = "not-an-address-".repeat(1000);
    let shape =
        |options: &Value| options["options"]["publicKey"].as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    // The 31 requests below count in one minute's window (about 3 s on the AWS path).
    app.within_one_minute_window(std::time::Duration::from_secs(15)).await;
    let real = app.passkey_options("ada@example.com").await;
    for _ in 0..29 {
        let response = app.post_json("/api/v1/auth/passkey/options", &json!({ "email": garbage }), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(shape(&response.json().await.unwrap()), shape(&real), "options like anyone's");
    }
    let response = app.post_json("/api/v1/auth/passkey/options", &json!({ "email": "ada@example.com" }), None).await;
    assert!(response.headers().contains_key(reqwest::header::RETRY_AFTER));
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    if app.is_in_process() {
        assert!(!app.data_files_contain("not-an-address-not-an-address-"), "the string was stored");
    }
}
