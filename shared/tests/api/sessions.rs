use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::Duration;

use crate::helpers::{PASSWORD, Tokens, assert_problem, spawn_app};

#[tokio::test]
async fn the_access_token_reads_the_account() {
    let app = spawn_app().await;
    let tokens = app.signed_up("author", "ada@example.com").await;

    let response = app.get_me(&tokens.access).await;

    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["role"], "author");
    assert_problem(
        app.client.get(app.url("/api/v1/user")).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token() {
    let app = spawn_app().await;
    let first = app.signed_up("reader", "ada@example.com").await;

    let second = Tokens::from(app.post_refresh(&first.refresh).await).await;
    let third = Tokens::from(app.post_refresh(&second.refresh).await).await;

    assert_ne!(first.refresh, second.refresh);
    assert_ne!(second.refresh, third.refresh);
    assert_eq!(app.get_me(&third.access).await.status(), StatusCode::OK);
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_a_reused_refresh_token_ends_the_whole_session() {
    let app = spawn_app().await;
    let stolen = app.signed_up("reader", "ada@example.com").await;
    let legitimate = Tokens::from(app.post_refresh(&stolen.refresh).await).await;

    // The thief replays the old refresh token, later than a racing client would.
    app.advance_clock(time::Duration::seconds(11));
    assert_problem(app.post_refresh(&stolen.refresh).await, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;

    // Everything from that session is dead: the newer refresh token and its access token.
    assert_problem(app.post_refresh(&legitimate.refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token")
        .await;
    assert_problem(app.get_me(&legitimate.access).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Other sessions are untouched.
    assert_eq!(app.post_login("ada@example.com", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn forged_refresh_tokens_are_refused() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;
    let session_id = tokens.refresh.split('.').next().unwrap();

    for forged in
        ["", "garbage", &format!("{session_id}.{}", "A".repeat(43)), &format!("nosuchsession.{}", "A".repeat(43))]
    {
        assert_eq!(app.post_refresh(forged).await.status(), StatusCode::UNAUTHORIZED, "{forged}");
    }
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_a_refresh_token_expires_with_its_session() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;

    app.advance_clock(Duration::days(30) + Duration::seconds(1));

    assert_problem(app.post_refresh(&tokens.refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}

#[tokio::test]
async fn logout_stops_the_access_token_at_once() {
    let app = spawn_app().await;
    let phone = app.signed_up("reader", "ada@example.com").await;
    let laptop = Tokens::from(app.post_login("ada@example.com", PASSWORD).await).await;

    assert_eq!(app.post_logout(&phone.access, None).await.status(), StatusCode::NO_CONTENT);

    assert_problem(app.get_me(&phone.access).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_problem(app.post_refresh(&phone.refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    assert_eq!(app.get_me(&laptop.access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_of_all_sessions_ends_every_one() {
    let app = spawn_app().await;
    let phone = app.signed_up("reader", "ada@example.com").await;
    let laptop = Tokens::from(app.post_login("ada@example.com", PASSWORD).await).await;

    assert_eq!(app.post_logout(&laptop.access, Some(json!({ "all": true }))).await.status(), StatusCode::NO_CONTENT);

    for session in [&phone, &laptop] {
        assert_problem(app.get_me(&session.access).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
        assert_eq!(app.post_refresh(&session.refresh).await.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn logout_cannot_end_someone_elses_session() {
    let app = spawn_app().await;
    let ada = app.signed_up("reader", "ada@example.com").await;
    let eve = app.signed_up("reader", "eve@example.com").await;

    app.post_logout(&eve.access, Some(json!({ "refresh_token": ada.refresh }))).await;

    assert_eq!(app.get_me(&ada.access).await.status(), StatusCode::OK);
    assert_problem(app.post_logout(&eve.access, None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_an_access_token_expires_after_fifteen_minutes() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;

    app.advance_clock(Duration::minutes(15));

    assert_problem(app.get_me(&tokens.access).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // The refresh token still gets a new one.
    let renewed = Tokens::from(app.post_refresh(&tokens.refresh).await).await;
    assert_eq!(app.get_me(&renewed.access).await.status(), StatusCode::OK);
}

fn parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap()).unwrap();
    let claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap()).unwrap();
    (header, claims)
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_forged_access_tokens_are_refused() {
    let app = spawn_app().await;
    let tokens = app.signed_up("reader", "ada@example.com").await;
    let (header, claims) = parts(&tokens.access);
    let signature = tokens.access.rsplit('.').next().unwrap();
    let key_set = std::fs::read_to_string(app.local().config.data_dir.join("jwt-keys.json")).unwrap();
    let key_set: Value = serde_json::from_str(&key_set).unwrap();
    let signing = key_set["keys"].as_array().unwrap().iter().find(|k| k["status"] == "signing").unwrap();
    let our_key = signing["private_key"].as_str().unwrap().to_string();
    let kid = header["kid"].as_str().unwrap().to_string();
    let sign = |claims: &Value, pem: &str| {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_pem(pem.as_bytes()).unwrap()).unwrap()
    };
    let mut as_admin = claims.clone();
    as_admin["role"] = json!("admin");
    let mut other_audience = claims.clone();
    other_audience["aud"] = json!("another-service");
    let mut other_issuer = claims.clone();
    other_issuer["iss"] = json!("https://evil.example");
    let mut no_exp = claims.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    let mut no_kid = header.clone();
    no_kid.as_object_mut().unwrap().remove("kid");
    let public_key =
        URL_SAFE_NO_PAD
            .decode(
                app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json::<Value>().await.unwrap()
                    ["keys"][0]["x"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
    // The classic confusion: HS256, keyed with the public key everyone can read.
    let hs256_with_public_key = {
        use hmac::{Hmac, Mac as _};
        let input = format!("{}.{}", b64(&json!({ "alg": "HS256", "typ": "JWT", "kid": kid })), b64(&claims));
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&public_key).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    };

    let forgeries = [
        ("alg none", format!("{}.{}.", b64(&json!({ "alg": "none", "typ": "JWT", "kid": kid })), b64(&claims))),
        ("tampered role", format!("{}.{}.{signature}", b64(&header), b64(&as_admin))),
        ("no kid", format!("{}.{}.{signature}", b64(&no_kid), b64(&claims))),
        ("wrong audience", sign(&other_audience, &our_key)),
        ("wrong issuer", sign(&other_issuer, &our_key)),
        ("no expiry", sign(&no_exp, &our_key)),
        ("another key", sign(&claims, &shared::credentials::jwt::generate_pem().unwrap())),
        ("HS256 keyed with our public key", hs256_with_public_key),
        ("truncated", tokens.access[..tokens.access.len() - 5].to_string()),
    ];
    for (what, forged) in forgeries {
        let response = app.get_me(&forged).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what} was accepted");
    }
    // The control: our key with the real claims works, so the refusals above mean something.
    assert_eq!(app.get_me(&sign(&claims, &our_key)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn other_services_verify_access_tokens_knowing_only_the_issuer() {
    let app = spawn_app().await;
    let tokens = app.signed_up("author", "ada@example.com").await;

    // Discovery from the issuer's URL, as API Gateway's JWT authorizer does, then the keys.
    let issuer = &app.address;
    let discovery: Value = app
        .client
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], issuer.as_str());
    assert_eq!(discovery["id_token_signing_alg_values_supported"], json!(["ES256"]));
    let jwks_uri = discovery["jwks_uri"].as_str().unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = app.client.get(jwks_uri).send().await.unwrap().json().await.unwrap();
    let kid = jsonwebtoken::decode_header(&tokens.access).unwrap().kid.unwrap();
    let jwk = jwks.find(&kid).expect("the token's kid is in the JWKS");
    let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
    validation.set_audience(&["blog-platform"]);
    validation.set_issuer(&[&app.address]);
    let claims =
        jsonwebtoken::decode::<Value>(&tokens.access, &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .unwrap()
            .claims;

    assert_eq!(claims["role"], "author");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
}
