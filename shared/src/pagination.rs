//! Cursor pagination. A store says where a page ended in its own terms (a DynamoDB
//! `LastEvaluatedKey`, a SQLite row key); clients get that position sealed with an HMAC, so a
//! cursor is opaque and cannot be forged or altered.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

use crate::ports::Position;

/// A cursor this service did not seal, or sealed with another key.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor")]
pub struct InvalidCursor;

pub struct CursorSigner {
    /// The key that seals first, then the keys of older seal secrets (they open only).
    keys: Vec<[u8; 32]>,
}

/// How many items a page has unless asked otherwise, and at most.
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

impl CursorSigner {
    /// A signer keyed from a secret (the key set's seal secret: see `JwtKeys::cursor_signer`).
    pub fn new(secret: &[u8]) -> Self {
        Self::with_older(&[secret])
    }

    /// A signer that seals with the first secret and opens with any (the seal secret and those
    /// rotated out but not yet retired).
    pub fn with_older(secrets: &[impl AsRef<[u8]>]) -> Self {
        let key = |secret: &[u8]| {
            let mut hasher = Sha256::new();
            hasher.update(b"ums list cursor v1\0");
            hasher.update(secret);
            hasher.finalize().into()
        };
        let keys: Vec<[u8; 32]> = secrets.iter().map(|secret| key(secret.as_ref())).collect();
        assert!(!keys.is_empty(), "a signer has a secret to seal with");
        Self { keys }
    }

    fn mac(key: &[u8; 32]) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length")
    }

    pub fn seal(&self, position: &Position) -> String {
        let payload = serde_json::to_vec(position).expect("a JSON value serializes");
        let mut mac = Self::mac(&self.keys[0]);
        mac.update(&payload);
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// A cursor for a position in the listing named `list` (its route and filters): it opens
    /// only for that same listing.
    pub fn seal_for(&self, list: &str, position: &Position) -> String {
        self.seal(&serde_json::json!({ "list": list, "at": position }))
    }

    /// The position in a cursor sealed for the listing `list`; `InvalidCursor` for a cursor
    /// of another listing, or not this service's.
    pub fn open_for(&self, list: &str, cursor: &str) -> Result<Position, InvalidCursor> {
        let sealed = self.open(cursor)?;
        if sealed["list"] != list {
            return Err(InvalidCursor);
        }
        Ok(sealed["at"].clone())
    }

    /// The position in a cursor this service sealed; `InvalidCursor` for anything else.
    pub fn open(&self, cursor: &str) -> Result<Position, InvalidCursor> {
        let (payload, tag) = cursor.split_once('.').ok_or(InvalidCursor)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| InvalidCursor)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| InvalidCursor)?;
        let sealed_here = self.keys.iter().any(|key| {
            let mut mac = Self::mac(key);
            mac.update(&payload);
            // Constant-time comparison.
            mac.verify_slice(&tag).is_ok()
        });
        if !sealed_here {
            return Err(InvalidCursor);
        }
        serde_json::from_slice(&payload).map_err(|_| InvalidCursor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_sealed_cursor_opens_to_its_position() {
        let signer = CursorSigner::new(b"secret");
        let position = json!({ "role": "author", "id": "0193" });
        assert_eq!(signer.open(&signer.seal(&position)).unwrap(), position);
    }

    #[test]
    fn a_cursor_opens_only_for_its_own_listing() {
        let signer = CursorSigner::new(b"secret");
        let cursor = signer.seal_for("users?role=reader", &json!({ "id": "0193" }));
        assert_eq!(signer.open_for("users?role=reader", &cursor).unwrap(), json!({ "id": "0193" }));
        assert!(matches!(signer.open_for("users?role=admin", &cursor), Err(InvalidCursor)));
        assert!(matches!(signer.open_for("authors", &cursor), Err(InvalidCursor)));
    }

    #[test]
    fn an_older_secret_opens_what_it_sealed_and_seals_nothing() {
        let older = CursorSigner::new(b"first");
        let cursor = older.seal(&json!({ "id": "0193" }));
        let rotated = CursorSigner::with_older(&[b"second".as_slice(), b"first"]);
        assert_eq!(rotated.open(&cursor).unwrap(), json!({ "id": "0193" }));
        let sealed_now = rotated.seal(&json!({ "id": "0194" }));
        assert!(older.open(&sealed_now).is_err(), "sealed with the newest secret");
        assert!(CursorSigner::new(b"second").open(&cursor).is_err(), "retired: it opens no more");
    }

    #[test]
    fn forged_altered_or_foreign_cursors_are_refused() {
        let signer = CursorSigner::new(b"secret");
        let cursor = signer.seal(&json!({ "id": "0193" }));
        let (_, tag) = cursor.split_once('.').unwrap();
        let altered = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(br#"{"id":"0000"}"#));
        let foreign = CursorSigner::new(b"another secret").seal(&json!({ "id": "0193" }));
        for bad in [altered.as_str(), foreign.as_str(), "", "abc", "abc.def", &cursor[..cursor.len() - 2]] {
            assert!(matches!(signer.open(bad), Err(InvalidCursor)), "{bad:?} was accepted");
        }
    }
}
