//! Second factors' secrets: TOTP codes (RFC 6238), recovery codes, and the sealing of TOTP
//! secrets at rest. Nothing here knows about accounts or HTTP.
//!
//! A TOTP secret is needed in the clear to check a code, so it cannot be hashed: it is stored
//! sealed (AES-256-GCM) with a key derived from the key set's seal secret (HKDF-SHA256 under
//! its own label), apart from the signing keys and from every other use of that secret, and
//! bound to its account (the account id is the associated data: a sealed secret copied to
//! another account does not open). Recovery codes are random enough to be stored as SHA-256.

use aes_gcm::{
    Aes256Gcm, KeyInit as _, Nonce,
    aead::{Aead as _, Payload},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::{Rng as _, RngCore as _};
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;
use totp_rs::{Algorithm, Builder, Totp};

use super::tokens::hash_token;
use crate::domain::UserId;

/// Seconds a TOTP code stands for (RFC 6238's default, what every authenticator app uses).
pub const TOTP_STEP_SECS: i64 = 30;
const TOTP_DIGITS: usize = 6;
/// Codes of one step either side of now are accepted: a phone's clock a little off, a code
/// typed as it turned.
const TOTP_SKEW_STEPS: i64 = 1;
/// 160 bits, as RFC 4226 recommends.
const TOTP_SECRET_BYTES: usize = 20;

/// How many recovery codes an enrolment (or a regeneration) hands out.
pub const RECOVERY_CODES: usize = 10;
/// Lowercase letters and digits without the ones people confuse (0/o, 1/l/i).
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
/// Ten characters of a 31-letter alphabet: about 50 bits each.
const RECOVERY_CODE_LEN: usize = 10;

/// A TOTP secret in the clear: only between its generation or unsealing and its use.
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; TOTP_SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A secret as an app has it (base32, as enrolment shows it).
    pub fn from_base32(text: &str) -> anyhow::Result<Self> {
        let secret =
            totp_rs::Secret::try_from_base32(text).map_err(|e| anyhow::anyhow!("not a base32 secret: {e:?}"))?;
        Ok(Self(secret.as_bytes().to_vec()))
    }

    /// The secret as authenticator apps take it typed in: base32 without padding.
    pub fn base32(&self) -> String {
        totp_rs::Secret::from(self.0.clone()).to_base32()
    }

    fn totp(&self, issuer: Option<&str>, account: &str) -> Totp {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(TOTP_DIGITS as u8)
            .with_skew(TOTP_SKEW_STEPS as u16)
            .with_step_duration(TOTP_STEP_SECS as u64)
            .with_secret(self.0.clone())
            .with_account_name(account)
            .with_issuer(issuer)
            .build_noncompliant()
    }

    /// The `otpauth://totp/...` URI an authenticator app scans, naming the service and the
    /// account (neither may hold a colon; one is replaced).
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> anyhow::Result<String> {
        let (issuer, account) = (issuer.replace(':', " "), account.replace(':', " "));
        Ok(self.totp(Some(&issuer), &account).to_url()?)
    }

    /// The code of the time step `step` (time / 30 s).
    pub fn code_at_step(&self, step: i64) -> String {
        self.totp(None, "").generate((step.max(0) * TOTP_STEP_SECS) as u64).to_string()
    }

    /// The time step within one step of `now` whose code `code` is, if any (each compared in
    /// constant time).
    pub fn matching_step(&self, code: &str, now: OffsetDateTime) -> Option<i64> {
        let code = code.trim();
        if code.len() != TOTP_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = step_of(now);
        (current - TOTP_SKEW_STEPS..=current + TOTP_SKEW_STEPS)
            .find(|&step| bool::from(self.code_at_step(step).as_bytes().ct_eq(code.as_bytes())))
    }
}

/// The TOTP time step `now` falls in.
pub fn step_of(now: OffsetDateTime) -> i64 {
    now.unix_timestamp().div_euclid(TOTP_STEP_SECS)
}

/// A QR code of `text` as a PNG, as a `data:` URI an `<img>` shows.
pub fn qr_code_png(text: &str) -> anyhow::Result<String> {
    let code = qrcode::QrCode::new(text.as_bytes())?;
    let (modules, colors) = (code.width(), code.to_colors());
    // The quiet zone of four modules each side that readers need, at a whole number of pixels
    // per module, at least 200 pixels across. Written with `png` alone: the auth function
    // links no image library for this one picture.
    let side = modules + 2 * QR_QUIET_ZONE;
    let scale = QR_MIN_PIXELS.div_ceil(side);
    let pixels_across = side * scale;
    let mut pixels = vec![255u8; pixels_across * pixels_across];
    for (i, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = ((i % modules + QR_QUIET_ZONE) * scale, (i / modules + QR_QUIET_ZONE) * scale);
            for row in y..y + scale {
                pixels[row * pixels_across + x..row * pixels_across + x + scale].fill(0);
            }
        }
    }
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, pixels_across as u32, pixels_across as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png)))
}

const QR_QUIET_ZONE: usize = 4;
const QR_MIN_PIXELS: usize = 200;

/// Seals TOTP secrets at rest (see the module's comment).
pub struct FactorSealer {
    /// The key that seals first, then older seal secrets' keys (they open only).
    keys: Vec<[u8; 32]>,
    /// Made at the first seal or open: most requests (and every cold start) need none.
    ciphers: std::sync::OnceLock<Vec<Aes256Gcm>>,
    decoys: [u8; 32],
}

const SEAL_LABEL: &[u8] = b"ums second-factor secrets v1";
const DECOY_LABEL: &[u8] = b"ums passkey decoys v1";
const SEALED_PREFIX: &str = "v1.";

impl FactorSealer {
    /// The sealer whose key is derived from `seal_secret` (the key set's).
    pub fn new(seal_secret: &[u8]) -> Self {
        Self::with_older(&[seal_secret])
    }

    /// A sealer that seals with a key from the first secret and opens with any (the key set's
    /// seal secret and the older ones not yet retired). Decoys come from the first.
    pub fn with_older(seal_secrets: &[impl AsRef<[u8]>]) -> Self {
        let derive = |secret: &[u8], label: &[u8]| {
            let mut key = [0u8; 32];
            let hkdf = hkdf::Hkdf::<sha2::Sha256>::new(None, secret);
            hkdf.expand(label, &mut key).expect("32 bytes is a valid HKDF-SHA256 output length");
            key
        };
        let keys: Vec<[u8; 32]> = seal_secrets.iter().map(|secret| derive(secret.as_ref(), SEAL_LABEL)).collect();
        let decoys = derive(seal_secrets.first().expect("a sealer has a secret to seal with").as_ref(), DECOY_LABEL);
        Self { keys, ciphers: std::sync::OnceLock::new(), decoys }
    }

    /// The sealing cipher first.
    fn ciphers(&self) -> &[Aes256Gcm] {
        self.ciphers.get_or_init(|| self.keys.iter().map(|key| Aes256Gcm::new(&(*key).into())).collect())
    }

    /// Credential ids for an address without passkeys (or without an account), as
    /// `webauthn-rs`'s generator makes them from this key: the same for the same address every
    /// time, and nobody without the key can tell them from real ones.
    pub fn decoy_credential_ids(&self, email_key: &str) -> anyhow::Result<Vec<Vec<u8>>> {
        use webauthn_rs::fake::{FakePasskeyDistribution, WebauthnFakeCredentialGenerator};
        let generator = WebauthnFakeCredentialGenerator::<FakePasskeyDistribution>::new(&self.decoys)
            .map_err(|e| anyhow::anyhow!("decoy credentials: {e}"))?;
        generator.generate(email_key.as_bytes()).map_err(|e| anyhow::anyhow!("decoy credentials: {e}"))
    }

    /// `v1.` and base64url of a random nonce and the ciphertext.
    pub fn seal(&self, secret: &TotpSecret, owner: &UserId) -> String {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self.ciphers()[0]
            .encrypt(&Nonce::from(nonce), Payload { msg: &secret.0, aad: owner.0.as_bytes() })
            .expect("AES-GCM encrypts any message this short");
        format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode([nonce.as_slice(), &sealed].concat()))
    }

    /// The secret `sealed` holds, if it was sealed by one of these keys for this account.
    pub fn open(&self, sealed: &str, owner: &UserId) -> anyhow::Result<TotpSecret> {
        self.open_with_age(sealed, owner).map(|(secret, _)| secret)
    }

    /// `sealed` sealed again with the newest key, when an older one sealed it (what
    /// `seal-secret retire` does to every account before the older secrets go).
    pub fn sealed_again(&self, sealed: &str, owner: &UserId) -> anyhow::Result<Option<String>> {
        let (secret, by_older) = self.open_with_age(sealed, owner)?;
        Ok(by_older.then(|| self.seal(&secret, owner)))
    }

    /// The secret, and whether an older key sealed it.
    fn open_with_age(&self, sealed: &str, owner: &UserId) -> anyhow::Result<(TotpSecret, bool)> {
        let bytes = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
            .filter(|bytes| bytes.len() > 12)
            .ok_or_else(|| anyhow::anyhow!("a sealed factor secret is malformed"))?;
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into()?;
        let payload = || Payload { msg: ciphertext, aad: owner.0.as_bytes() };
        let opened = self
            .ciphers()
            .iter()
            .enumerate()
            .find_map(|(age, cipher)| Some((cipher.decrypt(&Nonce::from(nonce), payload()).ok()?, age > 0)));
        let (secret, by_older) = opened
            .ok_or_else(|| anyhow::anyhow!("a sealed factor secret does not open with this key set's seal secrets"))?;
        Ok((TotpSecret(secret), by_older))
    }
}

/// Ten fresh recovery codes, as shown to their owner (`xxxxx-xxxxx`).
pub fn generate_recovery_codes() -> Vec<String> {
    let mut rng = rand::rngs::OsRng;
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: String = (0..RECOVERY_CODE_LEN)
                .map(|_| RECOVERY_ALPHABET[rng.gen_range(0..RECOVERY_ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// What a recovery code is stored as: SHA-256 of its canonical form (lowercase, without the
/// dash or spaces people type), so `ABCDE FGHJK` finds `abcde-fghjk`. `None` for what cannot be
/// one (checked before anything is counted or looked up).
pub fn recovery_code_hash(code: &str) -> Option<String> {
    let canonical: String = code.chars().filter(|c| !matches!(c, '-' | ' ')).map(|c| c.to_ascii_lowercase()).collect();
    let well_formed = canonical.len() == RECOVERY_CODE_LEN && canonical.bytes().all(|b| RECOVERY_ALPHABET.contains(&b));
    well_formed.then(|| hash_token(&canonical))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B: the SHA-1 secret "12345678901234567890", eight digits there; six
    /// here are the same codes' last six digits.
    #[test]
    fn codes_are_rfc_6238s() {
        let secret = TotpSecret(b"12345678901234567890".to_vec());
        for (time, eight_digits) in [(59, "94287082"), (1111111109, "07081804"), (1234567890, "89005924")] {
            assert_eq!(secret.code_at_step(time / TOTP_STEP_SECS), &eight_digits[2..], "at {time}");
        }
    }

    #[test]
    fn a_code_matches_its_step_and_one_either_side_only() {
        let secret = TotpSecret::generate();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_015).unwrap();
        let step = step_of(now);
        for offset in -1..=1 {
            assert_eq!(secret.matching_step(&secret.code_at_step(step + offset), now), Some(step + offset));
        }
        for offset in [-3, -2, 2, 3] {
            let code = secret.code_at_step(step + offset);
            let also_near = (-1..=1).any(|o| secret.code_at_step(step + o) == code);
            assert!(also_near || secret.matching_step(&code, now).is_none(), "offset {offset}");
        }
        assert_eq!(secret.matching_step("12345", now), None);
        assert_eq!(secret.matching_step("12345a", now), None);
    }

    #[test]
    fn the_otpauth_uri_carries_the_base32_secret_issuer_and_account() {
        let secret = TotpSecret::generate();
        let uri = secret.otpauth_uri("Blog", "ada@example.com").unwrap();
        assert!(uri.starts_with("otpauth://totp/Blog:ada%40example.com?"), "{uri}");
        assert!(uri.contains(&format!("secret={}", secret.base32())), "{uri}");
        assert!(uri.contains("issuer=Blog"), "{uri}");
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_account_and_key() {
        let sealer = FactorSealer::new(&[7u8; 32]);
        let (ada, bob) = (UserId("ada".into()), UserId("bob".into()));
        let secret = TotpSecret::generate();
        let sealed = sealer.seal(&secret, &ada);
        assert!(!sealed.contains(&secret.base32()));
        assert_eq!(sealer.open(&sealed, &ada).unwrap().0, secret.0);
        assert!(sealer.open(&sealed, &bob).is_err(), "bound to its account");
        assert!(FactorSealer::new(&[8u8; 32]).open(&sealed, &ada).is_err(), "bound to its key");
        assert_ne!(sealer.seal(&secret, &ada), sealed, "a fresh nonce each time");
    }

    #[test]
    fn after_a_rotation_an_older_seal_opens_and_is_sealed_again_with_the_newest() {
        let ada = UserId("ada".into());
        let secret = TotpSecret::generate();
        let sealed = FactorSealer::new(&[7u8; 32]).seal(&secret, &ada);
        let rotated = FactorSealer::with_older(&[[8u8; 32], [7u8; 32]]);
        assert_eq!(rotated.open(&sealed, &ada).unwrap().0, secret.0, "the older secret opens it");
        let again = rotated.sealed_again(&sealed, &ada).unwrap().expect("sealed by an older secret");
        assert_eq!(FactorSealer::new(&[8u8; 32]).open(&again, &ada).unwrap().0, secret.0, "the newest alone opens it");
        assert_eq!(rotated.sealed_again(&again, &ada).unwrap(), None, "already the newest's");
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_found_however_typed() {
        let codes = generate_recovery_codes();
        assert_eq!(codes.len(), 10);
        assert_eq!(codes.iter().collect::<std::collections::HashSet<_>>().len(), 10);
        let code = &codes[0];
        let hash = recovery_code_hash(code).unwrap();
        assert_eq!(recovery_code_hash(&code.to_uppercase().replace('-', " ")), Some(hash));
        assert_eq!(recovery_code_hash("abc"), None);
        assert_eq!(recovery_code_hash("00000-00000"), None, "not of the alphabet");
    }

    #[test]
    fn the_qr_code_is_a_png_data_uri() {
        let uri = qr_code_png("otpauth://totp/Blog:ada?secret=ABC").unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(uri.strip_prefix("data:image/png;base64,").unwrap())
            .unwrap();
        let picture = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap().into_luma8();
        assert!(picture.width() >= 200 && picture.width() == picture.height(), "{}", picture.width());
        let ink = |x, y| picture.get_pixel(x, y).0[0] == 0;
        assert!(!ink(0, 0) && !ink(picture.width() - 1, picture.height() - 1), "a quiet zone around it");
        let (w, h) = (picture.width() as usize, picture.height() as usize);
        let mut prepared =
            rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| picture.get_pixel(x as u32, y as u32).0[0]);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code, found by a reader that did not write it");
        let (_, text) = grids[0].decode().unwrap();
        assert_eq!(text, "otpauth://totp/Blog:ada?secret=ABC");
    }
}
