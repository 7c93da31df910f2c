//! Access tokens: ES256 (ECDSA on P-256) JWTs with a `kid`, issuer and audience, verified with
//! the algorithm pinned. Other services verify them with our JWKS and never call us; ES256 is
//! what API Gateway's JWT authorizers and every mainstream JWT library accept.

use std::{path::Path, time::Duration};

use anyhow::Context;
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use p256::{
    ecdsa::SigningKey,
    pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::{
    config::JwtConfig,
    domain::{Role, UserId},
    pagination::CursorSigner,
};

/// The claims of an access token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: String,
    /// The session the token belongs to: ending the session ends the token at once.
    pub sid: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    /// The public point's coordinates, base64url.
    public_x: String,
    public_y: String,
    issuer: String,
    audience: String,
    access_ttl: Duration,
    /// Seals list cursors; keyed from the private key, so a key rotation retires them too.
    cursors: CursorSigner,
    /// Tokens whose signature was checked, by their whole text (signature included, so nothing
    /// unsigned can match): a client sends one token with every request until it expires, and
    /// checking the same signature again buys nothing. Expiry is still checked each time, and
    /// the session behind a token is still read each time (`AuthUser`).
    verified: std::sync::Mutex<std::collections::HashMap<String, AccessClaims>>,
}

/// Verified tokens remembered at most; the memory starts over when full.
const VERIFIED_TOKENS: usize = 4096;

/// The file the local server keeps its generated signing key in.
pub const LOCAL_KEY_FILE: &str = "jwt-signing-key.pem";

impl JwtKeys {
    /// The key from configuration, or else the one in the data directory, generated there on
    /// first run.
    pub fn load(config: &JwtConfig, data_dir: &Path) -> anyhow::Result<Self> {
        let pem = match &config.private_key_pem {
            Some(pem) => pem.clone(),
            None => load_or_generate_local_key(&data_dir.join(LOCAL_KEY_FILE))?,
        };
        Self::from_pem(&pem, config)
    }

    pub fn from_pem(pem: &str, config: &JwtConfig) -> anyhow::Result<Self> {
        es256_only::install();
        let signing = SigningKey::from_pkcs8_pem(pem.trim()).context(
            "the JWT signing key must be a P-256 (ES256) private key in PKCS#8 PEM: `ums generate-jwt-key` prints one",
        )?;
        let point = signing.verifying_key().to_encoded_point(false);
        let (x, y) = point.x().zip(point.y()).context("the public key is not a full point")?;
        let (public_x, public_y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        let encoding = EncodingKey::from_ec_pem(pem.trim().as_bytes()).context("reading the signing key")?;
        let decoding = DecodingKey::from_ec_components(&public_x, &public_y).context("reading the public key")?;
        // RFC 7638 thumbprint: members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{public_x}","y":"{public_y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Ok(Self {
            encoding,
            decoding,
            kid,
            public_x,
            public_y,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            access_ttl: config.access_token_ttl,
            cursors: CursorSigner::new(&signing.to_bytes()),
            verified: Default::default(),
        })
    }

    /// The one algorithm tokens are signed and checked with, as JOSE names it.
    pub fn algorithm(&self) -> &'static str {
        "ES256"
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The signer of this service's list cursors.
    pub fn cursor_signer(&self) -> &CursorSigner {
        &self.cursors
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// The public keys as a JWK Set.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "EC",
                "crv": "P-256",
                "x": self.public_x,
                "y": self.public_y,
                "kid": self.kid,
                "alg": "ES256",
                "use": "sig",
            }]
        })
    }

    pub fn issue(&self, user: &UserId, session_id: &str, role: Role, now: OffsetDateTime) -> anyhow::Result<String> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.0.clone(),
            sid: session_id.to_string(),
            role,
            iat: now.unix_timestamp(),
            exp: now.unix_timestamp() + self.access_ttl.as_secs() as i64,
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding).context("signing an access token")
    }

    /// The claims of a token we signed, unexpired at `now`; `None` for anything else.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Option<AccessClaims> {
        let remembered = self.verified.lock().unwrap_or_else(|e| e.into_inner()).get(token).cloned();
        let claims = match remembered {
            Some(claims) => claims,
            None => {
                let claims = self.verify_signature(token)?;
                let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
                if verified.len() >= VERIFIED_TOKENS {
                    verified.clear();
                }
                verified.insert(token.to_string(), claims.clone());
                claims
            }
        };
        let now = now.unix_timestamp();
        (claims.exp > now && claims.iat <= now + 60).then_some(claims)
    }

    /// The claims of a token signed with our key for our issuer and audience (expiry aside).
    fn verify_signature(&self, token: &str) -> Option<AccessClaims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::ES256 || header.kid.as_deref() != Some(self.kid.as_str()) {
            return None;
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Expiry is checked by `verify` against the service's clock, so tests can move time.
        validation.validate_exp = false;
        Some(jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &validation).ok()?.claims)
    }
}

/// Reads the key file, or creates it (owner-only permissions) with a fresh key. A key of the
/// algorithm before ES256 (Ed25519) is set aside (`.ed25519`) and replaced: sessions go on (a
/// refresh gets a token under the new key).
fn load_or_generate_local_key(path: &Path) -> anyhow::Result<String> {
    if path.exists() {
        let pem = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        if SigningKey::from_pkcs8_pem(pem.trim()).is_ok() {
            return Ok(pem);
        }
        let aside = path.with_extension("pem.ed25519");
        std::fs::rename(path, &aside).with_context(|| format!("setting {} aside", path.display()))?;
        tracing::warn!(old = %aside.display(), "the signing key was not a P-256 key; a new one replaces it");
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let pem = generate_pem()?;
    write_private(path, pem.as_bytes())?;
    tracing::info!(path = %path.display(), "generated a new JWT signing key");
    Ok(pem)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::{io::Write as _, os::unix::fs::OpenOptionsExt as _};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if path.exists() {
        anyhow::bail!("{} already exists", path.display());
    }
    std::fs::write(path, bytes).with_context(|| format!("creating {}", path.display()))
}

/// A fresh P-256 key in PKCS#8 PEM (also what operators put in `UMS_JWT_PRIVATE_KEY`).
pub fn generate_pem() -> anyhow::Result<String> {
    let key = SigningKey::random(&mut rand::rngs::OsRng);
    Ok(key.to_pkcs8_pem(LineEnding::LF).context("encoding the key")?.to_string())
}

/// jsonwebtoken's cryptography, for the one algorithm this service signs and accepts. The
/// crate's RustCrypto provider would link RSA, EdDSA and HMAC into every function for nothing;
/// with this one, a token of any other algorithm cannot even be checked.
mod es256_only {
    use jsonwebtoken::{
        Algorithm, DecodingKey, EncodingKey,
        crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier},
        errors::{ErrorKind, Result},
    };
    use p256::{
        ecdsa::{Signature, SigningKey, VerifyingKey, signature},
        pkcs8::DecodePrivateKey as _,
    };

    static PROVIDER: CryptoProvider =
        CryptoProvider { signer_factory: signer, verifier_factory: verifier, jwk_utils: JwkUtils::new_unimplemented() };

    /// Makes this the process's provider (once; later calls change nothing).
    pub fn install() {
        let _ = PROVIDER.install_default();
    }

    struct Es256Signer(SigningKey);

    impl signature::Signer<Vec<u8>> for Es256Signer {
        fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
            // JWS wants the fixed-size r || s (RFC 7518, 3.4), not DER.
            let signature: Signature = self.0.try_sign(message)?;
            Ok(signature.to_bytes().to_vec())
        }
    }

    impl JwtSigner for Es256Signer {
        fn algorithm(&self) -> Algorithm {
            Algorithm::ES256
        }
    }

    struct Es256Verifier(VerifyingKey);

    impl signature::Verifier<Vec<u8>> for Es256Verifier {
        fn verify(&self, message: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
            self.0.verify(message, &Signature::from_slice(signature)?)
        }
    }

    impl JwtVerifier for Es256Verifier {
        fn algorithm(&self) -> Algorithm {
            Algorithm::ES256
        }
    }

    fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
        if *algorithm != Algorithm::ES256 {
            return Err(ErrorKind::InvalidAlgorithm.into());
        }
        let key = SigningKey::from_pkcs8_der(key.inner()).map_err(|_| ErrorKind::InvalidEcdsaKey)?;
        Ok(Box::new(Es256Signer(key)))
    }

    fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
        if *algorithm != Algorithm::ES256 {
            return Err(ErrorKind::InvalidAlgorithm.into());
        }
        // The uncompressed point `from_ec_components` made: 0x04 || x || y.
        let key = VerifyingKey::from_sec1_bytes(key.as_bytes()).map_err(|_| ErrorKind::InvalidEcdsaKey)?;
        Ok(Box::new(Es256Verifier(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> JwtConfig {
        JwtConfig {
            issuer: "https://users.blog.example".into(),
            audience: "blog-platform".into(),
            private_key_pem: None,
            access_token_ttl: Duration::from_secs(900),
            refresh_token_ttl: Duration::from_secs(3600),
        }
    }

    #[test]
    fn a_local_ed25519_key_from_before_es256_is_set_aside_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        // RFC 8410's example Ed25519 private key.
        let old = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        std::fs::write(dir.path().join(LOCAL_KEY_FILE), old).unwrap();

        let keys = JwtKeys::load(&config(), dir.path()).unwrap();

        assert_eq!(std::fs::read_to_string(dir.path().join("jwt-signing-key.pem.ed25519")).unwrap(), old);
        let now = OffsetDateTime::now_utc();
        let token = keys.issue(&UserId("u1".into()), "s1", Role::Reader, now).unwrap();
        assert_eq!(jsonwebtoken::decode_header(&token).unwrap().alg, Algorithm::ES256);
        let again = JwtKeys::load(&config(), dir.path()).unwrap();
        assert_eq!(again.kid(), keys.kid(), "the new key is kept");
        assert!(JwtKeys::from_pem(old, &config()).is_err(), "an operator's Ed25519 key is refused, not replaced");
    }

    #[test]
    fn list_cursors_are_keyed_by_the_signing_key() {
        let pem = generate_pem().unwrap();
        let (first, again) = (JwtKeys::from_pem(&pem, &config()).unwrap(), JwtKeys::from_pem(&pem, &config()).unwrap());
        let other = JwtKeys::from_pem(&generate_pem().unwrap(), &config()).unwrap();
        let cursor = first.cursor_signer().seal(&serde_json::json!({ "id": "0193" }));

        assert!(again.cursor_signer().open(&cursor).is_ok(), "another instance with the same key opens it");
        assert!(other.cursor_signer().open(&cursor).is_err(), "a rotated key retires it");
    }

    #[test]
    fn a_remembered_token_still_expires_and_nothing_else_matches_it() {
        let keys = JwtKeys::from_pem(&generate_pem().unwrap(), &config()).unwrap();
        let now = OffsetDateTime::now_utc();
        let token = keys.issue(&UserId("u1".into()), "s1", Role::Reader, now).unwrap();
        assert_eq!(keys.verify(&token, now).unwrap().sid, "s1");
        assert_eq!(keys.verify(&token, now).unwrap().sid, "s1", "remembered");

        let mut tampered = token.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(keys.verify(&tampered, now).is_none(), "another signature is checked afresh");
        let (head, _) = token.rsplit_once('.').unwrap();
        let (header, _) = head.split_once('.').unwrap();
        let forged_claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin","role":"admin"}"#);
        let forged = format!("{header}.{forged_claims}.{}", token.rsplit_once('.').unwrap().1);
        assert!(keys.verify(&forged, now).is_none(), "the signature of other claims");
        assert!(keys.verify(&token, now + time::Duration::minutes(16)).is_none(), "expired, remembered or not");
    }
}
