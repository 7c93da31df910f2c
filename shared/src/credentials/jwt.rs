//! Access tokens: ES256 (ECDSA on P-256) JWTs with a `kid`, issuer and audience, verified with
//! the algorithm pinned. Other services verify them with our JWKS and never call us; ES256 is
//! what API Gateway's JWT authorizers and every mainstream JWT library accept.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use super::keyset::generate_pem;
use super::{
    factors::FactorSealer,
    keyset::{self, KeyEntry, KeySet},
};
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
    /// When the session's holder last proved who they were (a login, a second factor, a
    /// step-up), as OpenID Connect names it: sensitive actions need it recent.
    #[serde(default)]
    pub auth_time: i64,
    /// How they proved it (RFC 8176: `pwd`, `otp`, `mfa`).
    #[serde(default)]
    pub amr: Vec<String>,
}

/// What an access token lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything the role allows.
    Full,
    /// Only enrol a second factor (a staff account signed in with a password alone). Such a
    /// token has its own audience (`<audience>:factor-enrolment`), so no other service that
    /// checks the audience (every JWT library, API Gateway's authorizer) accepts it.
    FactorEnrolment,
}

/// What an access token is issued for.
pub struct Grant<'a> {
    pub user: &'a UserId,
    pub session_id: &'a str,
    pub role: Role,
    pub auth_time: OffsetDateTime,
    pub amr: &'a [String],
    pub scope: Scope,
}

/// Where a key set is kept, read again as it rotates.
#[async_trait::async_trait]
pub trait KeySetSource: Send + Sync {
    async fn read(&self) -> anyhow::Result<String>;
}

/// The laptop's key set file.
pub struct KeySetFile(pub PathBuf);

#[async_trait::async_trait]
impl KeySetSource for KeySetFile {
    async fn read(&self) -> anyhow::Result<String> {
        tokio::fs::read_to_string(&self.0).await.with_context(|| format!("reading {}", self.0.display()))
    }
}

/// A reload of the key set waits at most this long; past it the keys in use stay, and the
/// next reload is due as usual.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(1);

pub struct JwtKeys {
    ring: RwLock<Arc<KeyRing>>,
    /// Where the set is read again when `reload_every` has passed (none: a set given whole).
    source: Option<Box<dyn KeySetSource>>,
    reload_every: Duration,
    next_reload: Mutex<Instant>,
    issuer: String,
    audience: String,
    access_ttl: Duration,
    step_up_max_age: Duration,
    /// Tokens whose signature was checked, by their whole text (signature included, so nothing
    /// unsigned can match): a client sends one token with every request until it expires, and
    /// checking the same signature again buys nothing. Expiry is still checked each time, and
    /// the session behind a token is still read each time (`AuthUser`). Emptied when the key
    /// set changes.
    verified: Mutex<HashMap<String, AccessClaims>>,
}

/// The keys of one key set, ready to sign and verify.
struct KeyRing {
    set: KeySet,
    encoding: EncodingKey,
    kid: String,
    /// Every published key (next, signing, retired) by `kid`.
    decoding: HashMap<String, DecodingKey>,
    jwks: serde_json::Value,
    /// Seals list cursors, unsubscribe links and upload forms with the set's seal secrets (apart
    /// from the signing keys: a key rotation leaves every sent link working).
    cursors: Arc<CursorSigner>,
    /// Seals TOTP secrets, with keys derived from the set's seal secrets under their own label.
    factors: Arc<FactorSealer>,
}

impl KeyRing {
    /// No scalar multiplication here: the set lists every public point.
    fn new(set: KeySet) -> anyhow::Result<Self> {
        es256_only::install();
        let (mut signing, mut decoding, mut jwks) = (None, HashMap::new(), Vec::new());
        for key in &set.keys {
            let ((x, y), kid) = (key.point(), key.kid());
            if let KeyEntry::Signing { private_key, .. } = key {
                let encoding =
                    EncodingKey::from_ec_pem(private_key.trim().as_bytes()).context("reading the signing key")?;
                signing = Some((encoding, kid.clone()));
            }
            decoding.insert(kid.clone(), DecodingKey::from_ec_components(x, y).context("reading a public key")?);
            jwks.push(serde_json::json!({
                "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig",
            }));
        }
        let (encoding, kid) = signing.context("a key set has a signing key")?;
        let seal_secrets = set.seal_secrets();
        let cursors = Arc::new(CursorSigner::with_older(&seal_secrets));
        let factors = Arc::new(FactorSealer::with_older(&seal_secrets));
        Ok(Self { set, encoding, kid, decoding, jwks: serde_json::json!({ "keys": jwks }), cursors, factors })
    }
}

/// Verified tokens remembered at most; the memory starts over when full.
const VERIFIED_TOKENS: usize = 4096;

impl JwtKeys {
    /// The set from configuration (given whole), or else the laptop's in the data directory,
    /// made there on first run and read again as it rotates (`ums jwt-key rotate`).
    pub fn load(config: &JwtConfig, data_dir: &Path) -> anyhow::Result<Self> {
        if let Some(text) = &config.private_key_pem {
            return Self::fixed(text, config);
        }
        let set = keyset::load_or_create_local(data_dir, OffsetDateTime::now_utc())?;
        let file = KeySetFile(data_dir.join(keyset::LOCAL_KEY_SET_FILE));
        Self::new(set, Some(Box::new(file)), config)
    }

    /// A key set (JSON) or a lone P-256 PEM, never read again.
    pub fn fixed(text: &str, config: &JwtConfig) -> anyhow::Result<Self> {
        Self::new(KeySet::parse(text)?, None, config)
    }

    /// A set read from `source`, and read again from it every `config.keys_reload`.
    pub fn new(set: KeySet, source: Option<Box<dyn KeySetSource>>, config: &JwtConfig) -> anyhow::Result<Self> {
        Ok(Self {
            ring: RwLock::new(Arc::new(KeyRing::new(set)?)),
            source,
            reload_every: config.keys_reload,
            next_reload: Mutex::new(Instant::now() + config.keys_reload),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            access_ttl: config.access_token_ttl,
            step_up_max_age: config.step_up_max_age,
            verified: Default::default(),
        })
    }

    /// The one algorithm tokens are signed and checked with, as JOSE names it.
    pub fn algorithm(&self) -> &'static str {
        "ES256"
    }

    fn ring(&self) -> Arc<KeyRing> {
        self.ring.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The id of the key that signs now.
    pub async fn kid(&self) -> String {
        self.refresh_if_due().await;
        self.ring().kid.clone()
    }

    /// The signer of this service's list cursors and links, with the set's seal secrets (read
    /// again when due: a retired secret opens nothing on an instance that only opens links).
    pub async fn cursor_signer(&self) -> Arc<CursorSigner> {
        self.refresh_if_due().await;
        self.ring().cursors.clone()
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// Reads the set again when `keys_reload` has passed since the last read: the one caller
    /// that finds it due reads (for at most a second), the others go on with the keys in use.
    /// A read that fails keeps them too: a rotation reaches this instance at the next read.
    pub async fn refresh_if_due(&self) {
        let Some(source) = &self.source else { return };
        {
            let mut next = self.next_reload.lock().unwrap_or_else(|e| e.into_inner());
            if Instant::now() < *next {
                return;
            }
            *next = Instant::now() + self.reload_every;
        }
        let read = match tokio::time::timeout(RELOAD_TIMEOUT, source.read()).await {
            Ok(read) => read.and_then(|text| KeySet::parse(&text)),
            Err(_) => Err(anyhow::anyhow!("no answer in {RELOAD_TIMEOUT:?}")),
        };
        match read {
            Ok(set) if set != self.ring().set => match KeyRing::new(set) {
                Ok(ring) => {
                    tracing::info!(kid = %ring.kid, "the JWT key set changed");
                    *self.ring.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ring);
                    self.verified.lock().unwrap_or_else(|e| e.into_inner()).clear();
                }
                Err(error) => tracing::warn!(
                    error = format!("{error:#}"),
                    "the JWT key set read is unusable; the keys in use stay"
                ),
            },
            Ok(_) => {}
            Err(error) => tracing::warn!(
                error = format!("{error:#}"),
                "reading the JWT key set again failed; the keys in use stay"
            ),
        }
    }

    /// Every published key (next, signing, retired) as a JWK Set.
    pub async fn jwks(&self) -> serde_json::Value {
        self.refresh_if_due().await;
        self.ring().jwks.clone()
    }

    pub async fn issue(&self, grant: Grant<'_>, now: OffsetDateTime) -> anyhow::Result<String> {
        self.refresh_if_due().await;
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: match grant.scope {
                Scope::Full => self.audience.clone(),
                Scope::FactorEnrolment => self.enrolment_audience(),
            },
            sub: grant.user.0.clone(),
            sid: grant.session_id.to_string(),
            role: grant.role,
            iat: now.unix_timestamp(),
            exp: now.unix_timestamp() + self.access_ttl.as_secs() as i64,
            auth_time: grant.auth_time.unix_timestamp(),
            amr: grant.amr.to_vec(),
        };
        let ring = self.ring();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(ring.kid.clone());
        jsonwebtoken::encode(&header, &claims, &ring.encoding).context("signing an access token")
    }

    fn enrolment_audience(&self) -> String {
        format!("{}:factor-enrolment", self.audience)
    }

    /// What a token's claims let its holder do.
    pub fn scope_of(&self, claims: &AccessClaims) -> Scope {
        if claims.aud == self.audience { Scope::Full } else { Scope::FactorEnrolment }
    }

    /// How recent an authentication a sensitive action needs.
    pub fn step_up_max_age(&self) -> Duration {
        self.step_up_max_age
    }

    /// Seals the accounts' TOTP secrets at rest, with the set's seal secrets (read again when
    /// due: a login's second step may be the first thing an instance does after a retirement).
    pub async fn factor_sealer(&self) -> Arc<FactorSealer> {
        self.refresh_if_due().await;
        self.ring().factors.clone()
    }

    /// The claims of a token we signed, unexpired at `now`; `None` for anything else.
    pub async fn verify(&self, token: &str, now: OffsetDateTime) -> Option<AccessClaims> {
        self.refresh_if_due().await;
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

    /// The claims of a token signed with a published key of ours, named by its `kid`, for our
    /// issuer and audience (expiry aside).
    fn verify_signature(&self, token: &str) -> Option<AccessClaims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::ES256 {
            return None;
        }
        let ring = self.ring();
        let key = ring.decoding.get(header.kid.as_deref()?)?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[self.audience.clone(), self.enrolment_audience()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Expiry is checked by `verify` against the service's clock, so tests can move time.
        validation.validate_exp = false;
        Some(jsonwebtoken::decode::<AccessClaims>(token, key, &validation).ok()?.claims)
    }
}

/// A JWT of `claims` signed ES256 with a PKCS#8 PEM key named `kid` (a provider's client
/// secret, as Apple asks for one).
pub fn sign_es256(private_key_pem: &str, kid: &str, claims: &impl serde::Serialize) -> anyhow::Result<String> {
    es256_only::install();
    let key = EncodingKey::from_ec_pem(private_key_pem.trim().as_bytes()).context("reading an ES256 key")?;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &key).context("signing a JWT")
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
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

    use super::*;

    fn grant<'a>(user: &'a UserId, session_id: &'a str) -> Grant<'a> {
        Grant {
            user,
            session_id,
            role: Role::Reader,
            auth_time: OffsetDateTime::now_utc(),
            amr: &[],
            scope: Scope::Full,
        }
    }

    fn config() -> JwtConfig {
        JwtConfig {
            issuer: "https://users.blog.example".into(),
            audience: "blog-platform".into(),
            private_key_pem: None,
            access_token_ttl: Duration::from_secs(900),
            refresh_token_ttl: Duration::from_secs(3600),
            keys_reload: Duration::ZERO,
            step_up_max_age: Duration::from_secs(300),
        }
    }

    fn kid_of(token: &str) -> String {
        jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
    }

    #[tokio::test]
    async fn a_local_ed25519_key_from_before_es256_is_set_aside_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        // RFC 8410's example Ed25519 private key.
        let old = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        std::fs::write(dir.path().join(keyset::LEGACY_KEY_FILE), old).unwrap();

        let keys = JwtKeys::load(&config(), dir.path()).unwrap();

        assert_eq!(std::fs::read_to_string(dir.path().join("jwt-signing-key.pem.ed25519")).unwrap(), old);
        let now = OffsetDateTime::now_utc();
        let token = keys.issue(grant(&UserId("u1".into()), "s1"), now).await.unwrap();
        assert_eq!(jsonwebtoken::decode_header(&token).unwrap().alg, Algorithm::ES256);
        let again = JwtKeys::load(&config(), dir.path()).unwrap();
        assert_eq!(again.kid().await, keys.kid().await, "the new set is kept");
        assert!(JwtKeys::fixed(old, &config()).is_err(), "an operator's Ed25519 key is refused, not replaced");
    }

    #[tokio::test]
    async fn a_rotated_set_is_read_again_and_old_tokens_verify_until_they_expire() {
        let dir = tempfile::tempdir().unwrap();
        let keys = JwtKeys::load(&config(), dir.path()).unwrap();
        let now = OffsetDateTime::now_utc();
        let before = keys.issue(grant(&UserId("u1".into()), "s1"), now).await.unwrap();
        let cursor = keys.cursor_signer().await.seal(&serde_json::json!({ "id": "0193" }));

        let mut set = keyset::load_or_create_local(dir.path(), now).unwrap();
        let step = set.rotate(now, Duration::ZERO, keys.access_ttl()).unwrap();
        keyset::save_local(dir.path(), &set).unwrap();

        let after = keys.issue(grant(&UserId("u1".into()), "s2"), now).await.unwrap();
        assert_eq!(kid_of(&after), step.signing, "signed with the key published ahead");
        assert_eq!(kid_of(&before), step.retired);
        assert_eq!(keys.verify(&before, now).await.unwrap().sid, "s1", "the retired key still verifies");
        assert_eq!(keys.verify(&after, now).await.unwrap().sid, "s2");
        let published: Vec<_> =
            keys.jwks().await["keys"].as_array().unwrap().iter().map(|k| k["kid"].clone()).collect();
        assert_eq!(published, [step.published.as_str(), step.signing.as_str(), step.retired.as_str()]);
        assert!(keys.cursor_signer().await.open(&cursor).is_ok(), "a cursor outlives the rotation");
        assert!(keys.verify(&before, now + time::Duration::minutes(16)).await.is_none(), "until it expires");
    }

    #[tokio::test]
    async fn a_set_that_cannot_be_read_again_leaves_the_keys_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let keys = JwtKeys::load(&config(), dir.path()).unwrap();
        let kid = keys.kid().await;
        std::fs::write(dir.path().join(keyset::LOCAL_KEY_SET_FILE), "{ half a set").unwrap();
        assert_eq!(keys.kid().await, kid);
        std::fs::remove_file(dir.path().join(keyset::LOCAL_KEY_SET_FILE)).unwrap();
        assert_eq!(keys.kid().await, kid);
    }

    #[tokio::test]
    async fn list_cursors_are_keyed_by_the_seal_secret_not_the_signing_key() {
        let now = OffsetDateTime::now_utc();
        let set = KeySet::generate(now).unwrap();
        let mut rotated = set.clone();
        rotated.rotate(now, Duration::ZERO, Duration::from_secs(900)).unwrap();
        let first = JwtKeys::fixed(&set.to_json(), &config()).unwrap();
        let other = JwtKeys::fixed(&KeySet::generate(now).unwrap().to_json(), &config()).unwrap();
        let cursor = first.cursor_signer().await.seal(&serde_json::json!({ "id": "0193" }));

        assert!(JwtKeys::fixed(&rotated.to_json(), &config()).unwrap().cursor_signer().await.open(&cursor).is_ok());
        assert!(other.cursor_signer().await.open(&cursor).is_err(), "another set's seal secret does not open it");
    }

    #[tokio::test]
    async fn a_remembered_token_still_expires_and_nothing_else_matches_it() {
        let keys = JwtKeys::fixed(&generate_pem().unwrap(), &config()).unwrap();
        let now = OffsetDateTime::now_utc();
        let token = keys.issue(grant(&UserId("u1".into()), "s1"), now).await.unwrap();
        assert_eq!(keys.verify(&token, now).await.unwrap().sid, "s1");
        assert_eq!(keys.verify(&token, now).await.unwrap().sid, "s1", "remembered");

        let mut tampered = token.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(keys.verify(&tampered, now).await.is_none(), "another signature is checked afresh");
        let (head, _) = token.rsplit_once('.').unwrap();
        let (header, _) = head.split_once('.').unwrap();
        let forged_claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin","role":"admin"}"#);
        let forged = format!("{header}.{forged_claims}.{}", token.rsplit_once('.').unwrap().1);
        assert!(keys.verify(&forged, now).await.is_none(), "the signature of other claims");
        assert!(keys.verify(&token, now + time::Duration::minutes(16)).await.is_none(), "expired, remembered or not");
    }
}
