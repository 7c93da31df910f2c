//! Argon2id hashing, always off the async executor, and never more at once than the machine
//! can afford: each hash holds 19 MiB and a core for tens of milliseconds.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use anyhow::Context;
use argon2::{Algorithm, Argon2, Params, Version, password_hash::SaltString};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use crate::{config::Argon2Config, domain::PasswordHash};

/// Why a hash was not computed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot is taken and the waiting line is full: try again shortly.
    #[error("password hashing is at capacity")]
    Busy,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// A hash of a random password, checked against when the email is unknown so that an
    /// unknown email costs the same time as a wrong password.
    dummy: Arc<OnceCell<PasswordHash>>,
    slots: Arc<Slots>,
}

/// `running` hashes at once; at most `max_waiting` more wait for a slot.
struct Slots {
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl Slots {
    async fn acquire(&self) -> Result<OwnedSemaphorePermit, HashError> {
        if let Ok(permit) = self.running.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(HashError::Busy);
        }
        let permit = self.running.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        permit.map_err(|_| HashError::Failed(anyhow::anyhow!("the hashing slots were closed")))
    }
}

impl PasswordHasher {
    /// A hasher running at most `concurrency` hashes at once, with `queue` more waiting.
    pub fn new(config: Argon2Config, concurrency: usize, queue: usize) -> anyhow::Result<Self> {
        let params = Params::new(config.memory_kib, config.iterations, config.parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid Argon2 parameters: {e}"))?;
        let slots = Slots {
            running: Arc::new(Semaphore::new(concurrency.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting: queue,
        };
        Ok(Self { params, dummy: Arc::new(OnceCell::new()), slots: Arc::new(slots) })
    }

    fn argon2(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    pub async fn hash(&self, password: &str) -> Result<PasswordHash, HashError> {
        let permit = self.slots.acquire().await?;
        let params = self.params.clone();
        let password = password.to_owned();
        let hash = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            use argon2::PasswordHasher as _;
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            let hash = Self::argon2(params)
                .hash_password(password.as_bytes(), &salt)
                .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
            Ok::<_, anyhow::Error>(PasswordHash(hash.to_string()))
        })
        .await
        .context("the hashing task failed")??;
        Ok(hash)
    }

    /// Checks `password` against `hash`, or against the dummy hash when there is no account,
    /// so both cases take the same time. Always false without an account.
    pub async fn verify(&self, password: &str, hash: Option<&PasswordHash>) -> Result<bool, HashError> {
        let (hash, real) = match hash {
            Some(hash) => (hash.clone(), true),
            None => (self.dummy().await?, false),
        };
        let permit = self.slots.acquire().await?;
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || {
            let _permit = permit;
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

    async fn dummy(&self) -> Result<PasswordHash, HashError> {
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
