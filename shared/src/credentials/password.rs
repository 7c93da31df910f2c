//! Argon2id hashing, always off the async executor.

use std::sync::Arc;

use anyhow::Context;
use argon2::{Algorithm, Argon2, Params, Version, password_hash::SaltString};
use tokio::sync::OnceCell;

use crate::{config::Argon2Config, domain::PasswordHash};

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// A hash of a random password, checked against when the email is unknown so that an
    /// unknown email costs the same time as a wrong password.
    dummy: Arc<OnceCell<PasswordHash>>,
}

impl PasswordHasher {
    pub fn new(config: Argon2Config) -> anyhow::Result<Self> {
        let params = Params::new(config.memory_kib, config.iterations, config.parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid Argon2 parameters: {e}"))?;
        Ok(Self { params, dummy: Arc::new(OnceCell::new()) })
    }

    fn argon2(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    pub async fn hash(&self, password: &str) -> anyhow::Result<PasswordHash> {
        let params = self.params.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            use argon2::PasswordHasher as _;
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            let hash = Self::argon2(params)
                .hash_password(password.as_bytes(), &salt)
                .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
            Ok(PasswordHash(hash.to_string()))
        })
        .await
        .context("the hashing task failed")?
    }

    /// Checks `password` against `hash`, or against the dummy hash when there is no account,
    /// so both cases take the same time. Always false without an account.
    pub async fn verify(&self, password: &str, hash: Option<&PasswordHash>) -> anyhow::Result<bool> {
        let (hash, real) = match hash {
            Some(hash) => (hash.clone(), true),
            None => (self.dummy().await?, false),
        };
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || {
            use argon2::PasswordVerifier as _;
            let parsed =
                argon2::PasswordHash::new(&hash.0).map_err(|e| anyhow::anyhow!("stored hash is malformed: {e}"))?;
            // Verification uses the parameters recorded in the hash itself.
            Ok::<_, anyhow::Error>(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
        .context("the verification task failed")??;
        Ok(matches && real)
    }

    async fn dummy(&self) -> anyhow::Result<PasswordHash> {
        self.dummy
            .get_or_try_init(|| async {
                use rand::Rng as _;
                let random: [u8; 16] = rand::thread_rng().r#gen();
                self.hash(&base64_url(&random)).await
            })
            .await
            .cloned()
    }
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
