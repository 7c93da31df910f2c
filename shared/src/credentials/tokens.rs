//! Opaque random tokens (refresh, email confirmation, password reset). Only their SHA-256
//! is stored: they carry 256 bits of randomness, so a fast hash is enough.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::domain::UserId;

/// 32 random bytes from the OS, base64url without padding (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// 16 random bytes, base64url (22 characters): ids that must not be guessable.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash_token(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// A refresh token is `<user id>.<session id>.<secret>`: the ids find the session, the
/// secret proves possession.
pub fn refresh_token(user_id: &UserId, session_id: &str, secret: &str) -> String {
    format!("{user_id}.{session_id}.{secret}")
}

/// The parts of a refresh token, if it has the shape of one.
pub fn split_refresh_token(token: &str) -> Option<(UserId, &str, &str)> {
    let mut parts = token.split('.');
    let (user_id, session_id, secret) = (parts.next()?, parts.next()?, parts.next()?);
    let well_formed = parts.next().is_none()
        && (1..=64).contains(&user_id.len())
        && (1..=64).contains(&session_id.len())
        && secret.len() == 43;
    well_formed.then(|| (UserId(user_id.to_string()), session_id, secret))
}

/// `url` with `token=` added to its query, whether or not it has one.
pub fn with_token(url: &str, token: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}token={token}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_reset_page_with_a_query_gets_the_token_added_to_it() {
        assert_eq!(super::with_token("https://blog.example/reset", "t"), "https://blog.example/reset?token=t");
        assert_eq!(
            super::with_token("https://blog.example/reset?lang=fr", "t"),
            "https://blog.example/reset?lang=fr&token=t"
        );
    }
}
