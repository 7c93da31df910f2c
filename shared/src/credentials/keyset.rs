//! The signing key set: what rotates, and how one step moves it.
//!
//! A set holds the key that signs, the next one (published in the JWKS ahead of signing, so the
//! platform's caches have it when it starts), and retired ones (public halves only, published
//! until every token they signed has expired). A seal secret, apart from the signing keys and
//! never rotated with them, keys what outlives a token: list cursors, the unsubscribe links in
//! sent emails, upload forms, the authenticator apps' secrets at rest. It rotates on its own
//! (`seal-secret rotate`): the new one seals, the older ones still open what they sealed until
//! the operator retires them (`seal-secret retire`, once the app secrets are sealed again).
//!
//! It is stored as JSON (an SSM SecureString on AWS, `jwt-keys.json` in the laptop's data
//! directory). A lone PEM, the format before key sets, still reads as a set of one signing key
//! whose seal secret is what sealed with that key before, so no sent link breaks.

use std::{path::Path, time::Duration};

use anyhow::{Context, bail, ensure};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use p256::{
    ecdsa::SigningKey,
    pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The file the local server keeps its key set in.
pub const LOCAL_KEY_SET_FILE: &str = "jwt-keys.json";
/// The local key file before key sets, read once into a set.
pub const LEGACY_KEY_FILE: &str = "jwt-signing-key.pem";

/// How long a published key waits before it may sign, by default: API Gateway's JWT
/// authorizers and most JWKS clients cache keys for up to an hour.
pub const CACHE_WAIT: Duration = Duration::from_secs(3600);

/// A retired key stays published this long past the access token lifetime (clock skew).
const RETIRED_MARGIN: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeySet {
    /// 32 random bytes, base64url: what seals now.
    pub seal_secret: String,
    /// Seal secrets rotated out, newest first: they open what they sealed, and seal nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub older_seal_secrets: Vec<OlderSealSecret>,
    pub keys: Vec<KeyEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OlderSealSecret {
    pub secret: String,
    /// When it stopped sealing (instances that had not read the set again sealed with it a
    /// little longer: see `retire_older_seal_secrets`).
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
}

/// Every key carries its public point (`x`, `y`, base64url) beside its private half: a cold
/// start reads the set without a scalar multiplication (each costs about a millisecond there).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum KeyEntry {
    /// Published, not yet signing.
    Next {
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
        private_key: String,
        x: String,
        y: String,
    },
    Signing {
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
        private_key: String,
        x: String,
        y: String,
    },
    /// Signs no more; its public point (base64url) is published while its tokens may live.
    Retired {
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
        x: String,
        y: String,
    },
}

/// What one rotation step did, by key id.
#[derive(Debug, PartialEq, Eq)]
pub struct Rotation {
    pub signing: String,
    pub published: String,
    pub retired: String,
    pub dropped: Vec<String>,
}

impl KeySet {
    /// A new set: a signing key, the next one, a seal secret.
    pub fn generate(now: OffsetDateTime) -> anyhow::Result<Self> {
        Ok(Self {
            seal_secret: new_seal_secret(),
            older_seal_secrets: vec![],
            keys: vec![new_key(now, KeyState::Next)?, new_key(now, KeyState::Signing)?],
        })
    }

    /// A set from its JSON, or from a lone P-256 PEM (the format before sets).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let text = text.trim();
        if text.starts_with("-----BEGIN") {
            let key = SigningKey::from_pkcs8_pem(text).context(NOT_P256)?;
            let (x, y) = point_of(&key)?;
            return Ok(Self {
                // What sealed cursors and unsubscribe links while this key was the only secret.
                seal_secret: URL_SAFE_NO_PAD.encode(key.to_bytes()),
                older_seal_secrets: vec![],
                keys: vec![KeyEntry::Signing {
                    since: OffsetDateTime::UNIX_EPOCH,
                    private_key: text.to_string(),
                    x,
                    y,
                }],
            });
        }
        let set: Self = serde_json::from_str(text)
            .context("the JWT key set is neither a key set (JSON, `ums jwt-key new`) nor a P-256 PEM")?;
        set.check()?;
        Ok(set)
    }

    fn check(&self) -> anyhow::Result<()> {
        let older = self.older_seal_secrets.iter().map(|older| &older.secret);
        for secret in std::iter::once(&self.seal_secret).chain(older) {
            let secret = URL_SAFE_NO_PAD.decode(secret).context("a seal secret is not base64url")?;
            ensure!(secret.len() >= 32, "a seal secret is shorter than 32 bytes");
        }
        let count = |wanted: fn(&KeyEntry) -> bool| self.keys.iter().filter(|k| wanted(k)).count();
        ensure!(count(|k| matches!(k, KeyEntry::Signing { .. })) == 1, "a key set has exactly one signing key");
        ensure!(count(|k| matches!(k, KeyEntry::Next { .. })) <= 1, "a key set has at most one next key");
        Ok(())
    }

    /// Every private key is a P-256 key whose public point is the one the set lists: what
    /// the operator commands check before they write a set (a cold start trusts it).
    pub fn verify_keys(&self) -> anyhow::Result<()> {
        for key in &self.keys {
            if let KeyEntry::Next { private_key, x, y, .. } | KeyEntry::Signing { private_key, x, y, .. } = key {
                let point = public_point(private_key)?;
                ensure!(point == (x.clone(), y.clone()), "a key's listed public point is not its private key's");
            }
        }
        Ok(())
    }

    /// Next, signing, then retired keys newest first: the order the JWKS lists them in.
    fn sort(&mut self) {
        self.keys.sort_by_key(|key| match key {
            KeyEntry::Next { .. } => (0, 0),
            KeyEntry::Signing { .. } => (1, 0),
            KeyEntry::Retired { since, .. } => (2, -since.unix_timestamp()),
        });
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a key set serializes")
    }

    /// The secret that seals now.
    pub fn seal_secret(&self) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(&self.seal_secret).expect("checked when parsed")
    }

    /// Every seal secret, the one that seals first: each opens what it sealed.
    pub fn seal_secrets(&self) -> Vec<Vec<u8>> {
        let older = self.older_seal_secrets.iter().map(|older| &older.secret);
        std::iter::once(&self.seal_secret)
            .chain(older)
            .map(|secret| URL_SAFE_NO_PAD.decode(secret).expect("checked when parsed"))
            .collect()
    }

    /// A new seal secret seals from now on; the one before opens what it sealed until retired.
    pub fn rotate_seal_secret(&mut self, now: OffsetDateTime) {
        let before = std::mem::replace(&mut self.seal_secret, new_seal_secret());
        self.older_seal_secrets.insert(0, OlderSealSecret { secret: before, until: now });
    }

    /// Drops the older seal secrets: what they sealed (unsubscribe links in sent emails,
    /// cursors, upload forms) opens no more. Refused while one stopped sealing less than
    /// `cache_wait` ago: an instance that had not read the set again may have sealed an app
    /// secret with it after the operator sealed them all again. How many were dropped.
    pub fn retire_older_seal_secrets(&mut self, now: OffsetDateTime, cache_wait: Duration) -> anyhow::Result<usize> {
        if let Some(newest) = self.older_seal_secrets.first()
            && now - newest.until < cache_wait
        {
            bail!(
                "the seal secret was rotated {} s ago; instances read the set again within {} s, so retire from {}",
                (now - newest.until).whole_seconds().max(0),
                cache_wait.as_secs(),
                newest.until + cache_wait
            );
        }
        Ok(std::mem::take(&mut self.older_seal_secrets).len())
    }

    /// One step: the next key signs, the signing key retires, a new next key is published,
    /// and retired keys whose tokens have all expired are dropped. Refused while the next key
    /// is younger than `cache_wait`: verifiers that cached the JWKS before it was published
    /// would refuse its tokens.
    pub fn rotate(
        &mut self,
        now: OffsetDateTime,
        cache_wait: Duration,
        access_ttl: Duration,
    ) -> anyhow::Result<Rotation> {
        let published_at = self.keys.iter().find_map(|k| match k {
            KeyEntry::Next { since, .. } => Some(*since),
            _ => None,
        });
        let Some(published_at) = published_at else {
            // A set from a lone PEM: publish a next key first; it may sign after the wait.
            bail!("this key set has no next key yet: `publish` one, and rotate once caches have it");
        };
        let age = now - published_at;
        if age < cache_wait {
            bail!(
                "the next key was published {} s ago; verifiers may cache the key set for {} s, so it may sign from {}",
                age.whole_seconds().max(0),
                cache_wait.as_secs(),
                published_at + cache_wait
            );
        }
        let keep_retired = access_ttl + RETIRED_MARGIN;
        let mut rotation =
            Rotation { signing: String::new(), published: String::new(), retired: String::new(), dropped: vec![] };
        let mut keys = Vec::with_capacity(self.keys.len() + 1);
        for key in std::mem::take(&mut self.keys) {
            match key {
                KeyEntry::Next { private_key, x, y, .. } => {
                    rotation.signing = thumbprint(&x, &y);
                    keys.push(KeyEntry::Signing { since: now, private_key, x, y });
                }
                KeyEntry::Signing { x, y, .. } => {
                    rotation.retired = thumbprint(&x, &y);
                    keys.push(KeyEntry::Retired { since: now, x, y });
                }
                KeyEntry::Retired { since, x, y } => {
                    if now - since >= keep_retired {
                        rotation.dropped.push(thumbprint(&x, &y));
                    } else {
                        keys.push(KeyEntry::Retired { since, x, y });
                    }
                }
            }
        }
        let next = new_key(now, KeyState::Next)?;
        rotation.published = next.kid();
        keys.push(next);
        self.keys = keys;
        self.sort();
        Ok(rotation)
    }

    /// Removes a key at once (it leaked): no longer published, so its tokens are refused at each
    /// instance's next reload of the set. The signing key revoked, the next key signs at once
    /// (without the cache wait: verifiers that cached the set before it was published refuse
    /// its tokens until they read it again, which beats accepting a leaked key's) or, without
    /// one, a new key; a revoked or promoted next key is replaced by a new one. What it did.
    pub fn revoke(&mut self, kid: &str, now: OffsetDateTime) -> anyhow::Result<String> {
        let position = self.keys.iter().position(|k| k.kid() == kid);
        let Some(position) = position else { bail!("no key {kid} in the set (`jwt-key show` lists them)") };
        let revoked = self.keys.remove(position);
        let mut report = format!("revoked {kid}: no longer published");
        if matches!(revoked, KeyEntry::Signing { .. }) {
            let next = self.keys.iter().position(|k| matches!(k, KeyEntry::Next { .. }));
            let signing = match next.map(|i| self.keys.remove(i)) {
                Some(KeyEntry::Next { private_key, x, y, .. }) => KeyEntry::Signing { since: now, private_key, x, y },
                _ => new_key(now, KeyState::Signing)?,
            };
            report.push_str(&format!("; signing with {}", signing.kid()));
            self.keys.push(signing);
        }
        if !self.keys.iter().any(|k| matches!(k, KeyEntry::Next { .. })) {
            let next = new_key(now, KeyState::Next)?;
            report.push_str(&format!("; published {} to sign at the next rotation", next.kid()));
            self.keys.push(next);
        }
        self.sort();
        self.check()?;
        Ok(report)
    }

    /// Publishes a next key where there is none (a set read from a lone PEM); the key id.
    pub fn publish_next(&mut self, now: OffsetDateTime) -> anyhow::Result<Option<String>> {
        if self.keys.iter().any(|k| matches!(k, KeyEntry::Next { .. })) {
            return Ok(None);
        }
        let next = new_key(now, KeyState::Next)?;
        let kid = next.kid();
        self.keys.insert(0, next);
        Ok(Some(kid))
    }

    /// Each key's id, status and since, for an operator (no private part).
    pub fn describe(&self) -> anyhow::Result<Vec<(String, &'static str, OffsetDateTime)>> {
        Ok(self
            .keys
            .iter()
            .map(|key| match key {
                KeyEntry::Next { since, .. } => (key.kid(), "next", *since),
                KeyEntry::Signing { since, .. } => (key.kid(), "signing", *since),
                KeyEntry::Retired { since, .. } => (key.kid(), "retired", *since),
            })
            .collect())
    }
}

impl KeyEntry {
    /// The key's public point, base64url.
    pub fn point(&self) -> (&str, &str) {
        match self {
            KeyEntry::Next { x, y, .. } | KeyEntry::Signing { x, y, .. } | KeyEntry::Retired { x, y, .. } => (x, y),
        }
    }

    /// Its `kid`: the RFC 7638 thumbprint of its public key.
    pub fn kid(&self) -> String {
        let (x, y) = self.point();
        thumbprint(x, y)
    }
}

fn new_seal_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

enum KeyState {
    Next,
    Signing,
}

/// A fresh key in the state given, with its public point.
fn new_key(now: OffsetDateTime, state: KeyState) -> anyhow::Result<KeyEntry> {
    let private_key = generate_pem()?;
    let (x, y) = public_point(&private_key)?;
    Ok(match state {
        KeyState::Next => KeyEntry::Next { since: now, private_key, x, y },
        KeyState::Signing => KeyEntry::Signing { since: now, private_key, x, y },
    })
}

const NOT_P256: &str =
    "a JWT signing key must be a P-256 (ES256) private key in PKCS#8 PEM: `ums jwt-key new` prints a key set";

/// A fresh P-256 key in PKCS#8 PEM.
pub fn generate_pem() -> anyhow::Result<String> {
    let key = SigningKey::random(&mut rand::rngs::OsRng);
    Ok(key.to_pkcs8_pem(LineEnding::LF).context("encoding the key")?.to_string())
}

/// The public point of a private key, base64url `x` and `y`.
pub fn public_point(pem: &str) -> anyhow::Result<(String, String)> {
    point_of(&SigningKey::from_pkcs8_pem(pem.trim()).context(NOT_P256)?)
}

fn point_of(key: &SigningKey) -> anyhow::Result<(String, String)> {
    let point = key.verifying_key().to_encoded_point(false);
    let (x, y) = point.x().zip(point.y()).context("the public key is not a full point")?;
    Ok((URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y)))
}

/// The RFC 7638 thumbprint of a P-256 public key: its `kid`.
pub fn thumbprint(x: &str, y: &str) -> String {
    use sha2::{Digest as _, Sha256};
    // Members in lexicographic order, no whitespace.
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
fn kid_of_pem(pem: &str) -> anyhow::Result<String> {
    let (x, y) = public_point(pem)?;
    Ok(thumbprint(&x, &y))
}

/// The laptop's key set: read from the data directory, made there on first run (from the key
/// file before sets when there is one, else new).
pub fn load_or_create_local(dir: &Path, now: OffsetDateTime) -> anyhow::Result<KeySet> {
    let path = dir.join(LOCAL_KEY_SET_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        return KeySet::parse(&text).with_context(|| format!("reading {}", path.display()));
    }
    let legacy = dir.join(LEGACY_KEY_FILE);
    let mut set = match std::fs::read_to_string(&legacy) {
        Ok(pem) if SigningKey::from_pkcs8_pem(pem.trim()).is_ok() => KeySet::parse(&pem)?,
        Ok(_) => {
            // An Ed25519 key from before ES256: set aside; sessions go on (a refresh gets a
            // token under the new key).
            let aside = legacy.with_extension("pem.ed25519");
            std::fs::rename(&legacy, &aside).with_context(|| format!("setting {} aside", legacy.display()))?;
            tracing::warn!(old = %aside.display(), "the signing key was not a P-256 key; a new key set replaces it");
            KeySet::generate(now)?
        }
        Err(_) => KeySet::generate(now)?,
    };
    set.publish_next(now)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    save_local(dir, &set)?;
    if legacy.exists() {
        // Its key is the set's signing key now; a second copy of a private key helps nobody.
        std::fs::remove_file(&legacy).with_context(|| format!("removing {}", legacy.display()))?;
    }
    tracing::info!(path = %path.display(), "wrote the JWT key set");
    Ok(set)
}

/// Writes the laptop's key set whole (owner-only), replacing the file in one rename so the
/// running server never reads half of it.
pub fn save_local(dir: &Path, set: &KeySet) -> anyhow::Result<()> {
    let path = dir.join(LOCAL_KEY_SET_FILE);
    let temporary = dir.join(format!(".{LOCAL_KEY_SET_FILE}.{}", std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    write_private(&temporary, set.to_json().as_bytes())?;
    std::fs::rename(&temporary, &path).with_context(|| format!("replacing {}", path.display()))
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
    file.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("creating {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(900);

    fn statuses(set: &KeySet) -> Vec<&'static str> {
        set.describe().unwrap().into_iter().map(|(_, status, _)| status).collect()
    }

    #[test]
    fn a_step_signs_with_the_published_key_and_keeps_the_old_one_until_its_tokens_expire() {
        let start = OffsetDateTime::now_utc();
        let mut set = KeySet::generate(start).unwrap();
        let before = set.describe().unwrap();
        let kid = |status| before.iter().find(|(_, s, _)| *s == status).unwrap().0.clone();
        let (signing, next) = (kid("signing"), kid("next"));

        let refused = set.rotate(start + time::Duration::minutes(59), CACHE_WAIT, TTL).unwrap_err();
        assert!(refused.to_string().contains("published 3540 s ago"), "{refused}");

        let one_hour = start + time::Duration::hours(1);
        let step = set.rotate(one_hour, CACHE_WAIT, TTL).unwrap();
        assert_eq!((step.signing.as_str(), step.retired.as_str()), (next.as_str(), signing.as_str()));
        assert_eq!(statuses(&set), ["next", "signing", "retired"]);

        let step = set.rotate(one_hour + time::Duration::minutes(10), Duration::ZERO, TTL).unwrap();
        assert!(step.dropped.is_empty(), "tokens of the first key may live 15 minutes after it retired");
        assert_eq!(statuses(&set), ["next", "signing", "retired", "retired"]);

        let step = set.rotate(one_hour + time::Duration::minutes(17), Duration::ZERO, TTL).unwrap();
        assert_eq!(step.dropped, std::slice::from_ref(&signing));
        assert_eq!(statuses(&set), ["next", "signing", "retired", "retired"]);
        assert!(set.describe().unwrap().iter().all(|(kid, _, _)| *kid != signing), "no trace of the dropped key");
    }

    #[test]
    fn a_revoked_key_leaves_the_set_at_once_and_the_set_still_signs_and_rotates() {
        let now = OffsetDateTime::now_utc();
        let mut set = KeySet::generate(now).unwrap();
        set.rotate(now, Duration::ZERO, TTL).unwrap();
        let kid = |set: &KeySet, status| set.describe().unwrap().into_iter().find(|(_, s, _)| *s == status).unwrap().0;
        let (retired, signing, next) = (kid(&set, "retired"), kid(&set, "signing"), kid(&set, "next"));

        let report = set.revoke(&retired, now).unwrap();
        assert_eq!(report, format!("revoked {retired}: no longer published"));
        assert_eq!(statuses(&set), ["next", "signing"]);

        // The signing key leaked: the published next key signs at once, a new one is published.
        let report = set.revoke(&signing, now).unwrap();
        assert!(report.contains(&format!("signing with {next}")), "{report}");
        assert_eq!(statuses(&set), ["next", "signing"]);
        assert_eq!(kid(&set, "signing"), next);
        assert!(set.describe().unwrap().iter().all(|(k, _, _)| *k != signing && *k != retired));
        let again = KeySet::parse(&set.to_json()).unwrap();
        again.verify_keys().unwrap();

        let unknown = set.revoke("no-such-kid", now).unwrap_err();
        assert!(unknown.to_string().contains("no key no-such-kid"), "{unknown}");
        let next = kid(&set, "next");
        assert!(set.revoke(&next, now).unwrap().contains("published"), "a revoked next key is replaced");
        assert_eq!(statuses(&set), ["next", "signing"]);
        set.rotate(now, Duration::ZERO, TTL).unwrap();
    }

    #[test]
    fn the_seal_secret_outlives_every_rotation_and_a_lone_pem_keeps_its_seals() {
        let now = OffsetDateTime::now_utc();
        let mut set = KeySet::generate(now).unwrap();
        let secret = set.seal_secret();
        set.rotate(now, Duration::ZERO, TTL).unwrap();
        assert_eq!(set.seal_secret(), secret);

        let pem = generate_pem().unwrap();
        let legacy = KeySet::parse(&pem).unwrap();
        let key = SigningKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(legacy.seal_secret(), key.to_bytes().to_vec(), "what sealed links before sets");
        assert_eq!(statuses(&legacy), ["signing"]);
    }

    #[test]
    fn a_rotated_seal_secret_opens_until_it_is_retired_after_the_wait() {
        let now = OffsetDateTime::now_utc();
        let mut set = KeySet::generate(now).unwrap();
        let first = set.seal_secret();
        set.rotate_seal_secret(now);
        assert_ne!(set.seal_secret(), first, "a new one seals");
        assert_eq!(set.seal_secrets(), [set.seal_secret(), first.clone()], "the one before still opens");
        let read_back = KeySet::parse(&set.to_json()).unwrap();
        assert_eq!(read_back, set);

        let early = set.retire_older_seal_secrets(now + time::Duration::minutes(5), CACHE_WAIT).unwrap_err();
        assert!(early.to_string().contains("rotated 300 s ago"), "{early}");
        assert_eq!(set.retire_older_seal_secrets(now + time::Duration::hours(1), CACHE_WAIT).unwrap(), 1);
        assert_eq!(set.seal_secrets(), [set.seal_secret()]);
        assert!(!set.to_json().contains("older_seal_secrets"), "a set without older secrets reads as before");
    }

    #[test]
    fn a_set_that_could_sign_with_two_keys_or_none_is_refused() {
        let now = OffsetDateTime::now_utc();
        let mut set = KeySet::generate(now).unwrap();
        set.keys.push(new_key(now, KeyState::Signing).unwrap());
        assert!(KeySet::parse(&set.to_json()).is_err());
        set.keys.retain(|k| !matches!(k, KeyEntry::Signing { .. }));
        assert!(KeySet::parse(&set.to_json()).is_err());
        assert!(KeySet::parse("{}").is_err());

        let mut mismatched = KeySet::generate(now).unwrap();
        if let KeyEntry::Next { x, .. } = &mut mismatched.keys[0] {
            x.replace_range(..2, "AA");
        }
        assert!(mismatched.verify_keys().is_err(), "a listed public point that is not the private key's");
    }

    #[test]
    fn a_local_set_is_made_from_the_key_file_before_sets() {
        let dir = tempfile::tempdir().unwrap();
        let pem = generate_pem().unwrap();
        std::fs::write(dir.path().join(LEGACY_KEY_FILE), &pem).unwrap();
        let now = OffsetDateTime::now_utc();

        let set = load_or_create_local(dir.path(), now).unwrap();

        assert_eq!(statuses(&set), ["next", "signing"]);
        assert_eq!(set.describe().unwrap()[1].0, kid_of_pem(&pem).unwrap(), "the same key signs");
        assert!(!dir.path().join(LEGACY_KEY_FILE).exists());
        assert_eq!(load_or_create_local(dir.path(), now).unwrap(), set, "read back, not made again");
    }
}
