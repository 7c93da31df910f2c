//! Sign in with Apple's departures from OpenID's common case: the client secret is a JWT the
//! service signs (ES256, with the team's key), and the answer is a form POST (see `oidc::Style`).

use serde::Serialize;

pub fn issuer() -> String {
    "https://appleid.apple.com".into()
}

/// Apple's scopes: `name` and `email` (Apple sends the name only once, in the form post's `user`
/// field, which is not kept: an account made by Apple is named after its address).
pub fn scopes() -> Vec<String> {
    vec!["name".into(), "email".into()]
}

/// How long a signed client secret is good for: one token request (Apple allows six months).
const SECRET_TTL_SECS: i64 = 300;

#[derive(Serialize)]
struct SecretClaims<'a> {
    iss: &'a str,
    iat: i64,
    exp: i64,
    aud: &'static str,
    sub: &'a str,
}

/// The client secret of one token request: a JWT by the team (`iss`), for Apple (`aud`), about
/// the Services ID (`sub`), signed with the key `key_id`.
pub fn client_secret(client_id: &str, team_id: &str, key_id: &str, private_key: &str) -> anyhow::Result<String> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = SecretClaims {
        iss: team_id,
        iat: now,
        exp: now + SECRET_TTL_SECS,
        aud: "https://appleid.apple.com",
        sub: client_id,
    };
    crate::credentials::jwt::sign_es256(private_key, key_id, &claims)
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};

    use super::*;

    const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgnXK4YeLMpk26kTdo
iF4rNLOb6rsn3FWFasTL6LMyN5ahRANCAARW0xBaEzNwhXdWjvJtT6rBeCEcZJyn
Y+zhQaTlnHcoNtL6ebBFo/f9PzDCVCXaPEKGbk8quwTyxRP488q8jcpA
-----END PRIVATE KEY-----";
    const PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEVtMQWhMzcIV3Vo7ybU+qwXghHGSc
p2Ps4UGk5Zx3KDbS+nmwRaP3/T8wwlQl2jxChm5PKrsE8sUT+PPKvI3KQA==
-----END PUBLIC KEY-----";

    #[test]
    fn the_client_secret_is_what_apple_verifies() {
        let secret = client_secret("com.blog.signin", "TEAM123456", "KEY1234567", KEY).unwrap();
        // Verified as Apple would: its key, its audience, the team as issuer.
        let header = jsonwebtoken::decode_header(&secret).unwrap();
        assert_eq!((header.alg, header.kid.as_deref()), (Algorithm::ES256, Some("KEY1234567")));
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&["https://appleid.apple.com"]);
        validation.set_issuer(&["TEAM123456"]);
        validation.sub = Some("com.blog.signin".into());
        let key = DecodingKey::from_ec_pem(PUBLIC.as_bytes()).unwrap();
        let claims = jsonwebtoken::decode::<serde_json::Value>(&secret, &key, &validation).unwrap().claims;
        let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
        assert!(lifetime > 0 && lifetime <= 15_777_000, "at most six months: {lifetime}");
    }
}
