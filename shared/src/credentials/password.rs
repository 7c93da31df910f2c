//! Argon2id hashing, always off the async executor, and never more at once than the machine
//! can afford: each hash holds 19 MiB and a core for tens of milliseconds.
//!
//! Hashes run on a few threads of their own, one per slot, each reusing one Argon2 memory
//! block. Allocated afresh per hash on the blocking pool, those 19 MiB blocks were kept by the
//! allocator long after use: 200 concurrent logins once held 3.6 GiB after they were done.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use anyhow::Context;
use std::cell::RefCell;

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::{Output, ParamsString, SaltString},
};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore, oneshot};

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
    threads: Arc<HashingThreads>,
}

type HashJob = Box<dyn FnOnce() + Send>;

/// The threads hashes run on: as many as there are slots, fed from one queue, started at the
/// first hash (a function that never hashes, or not yet, spends nothing on them).
struct HashingThreads {
    count: usize,
    jobs: std::sync::OnceLock<Result<std::sync::Mutex<std::sync::mpsc::Sender<HashJob>>, String>>,
}

impl HashingThreads {
    fn new(count: usize) -> Self {
        Self { count, jobs: std::sync::OnceLock::new() }
    }

    fn start(count: usize) -> anyhow::Result<std::sync::Mutex<std::sync::mpsc::Sender<HashJob>>> {
        let (sender, receiver) = std::sync::mpsc::channel::<HashJob>();
        let receiver = Arc::new(std::sync::Mutex::new(receiver));
        for i in 0..count {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        let job = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return, // the hasher is gone
                        }
                    }
                })
                .context("starting a hashing thread")?;
        }
        Ok(std::sync::Mutex::new(sender))
    }

    /// Runs `work` on a hashing thread (the caller holds a slot, so one is free).
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
        let (done, result) = oneshot::channel();
        let job: HashJob = Box::new(move || {
            let _ = done.send(work());
        });
        let jobs = self.jobs.get_or_init(|| Self::start(self.count).map_err(|e| format!("{e:#}")));
        let jobs = jobs.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
        jobs.lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| anyhow::anyhow!("the hashing threads stopped"))?;
        result.await.context("a hashing thread failed")
    }
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
        let threads = HashingThreads::new(concurrency.max(1));
        Ok(Self { params, dummy: Arc::new(OnceCell::new()), slots: Arc::new(slots), threads: Arc::new(threads) })
    }

    pub async fn hash(&self, password: &str) -> Result<PasswordHash, HashError> {
        let permit = self.slots.acquire().await?;
        let params = self.params.clone();
        let password = password.to_owned();
        let hash = self
            .threads
            .run(move || {
                let _permit = permit;
                hash_phc(params, &password).map(PasswordHash)
            })
            .await??;
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
        let matches = self
            .threads
            .run(move || {
                let _permit = permit;
                verify_phc(&hash.0, &password)
            })
            .await??;
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

thread_local! {
    /// This hashing thread's Argon2 memory, kept between hashes.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Argon2 of `password` and `salt` into `out`, in this thread's reusable memory.
fn argon2_into(argon2: &Argon2<'_>, password: &[u8], salt: &[u8], out: &mut [u8]) -> anyhow::Result<()> {
    MEMORY.with_borrow_mut(|blocks| {
        let needed = argon2.params().block_count();
        if blocks.len() < needed {
            blocks.resize(needed, Block::default());
        }
        argon2
            .hash_password_into_with_memory(password, salt, out, &mut blocks[..needed])
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
    })
}

/// A new Argon2id hash of `password` with a random salt, as a PHC string.
fn hash_phc(params: Params, password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    argon2_into(&argon2, password.as_bytes(), salt_bytes, &mut out)?;
    let phc = argon2::PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| anyhow::anyhow!("{e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("{e}"))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `phc`, computed with the parameters recorded in
/// it and compared in constant time.
fn verify_phc(phc: &str, password: &str) -> anyhow::Result<bool> {
    let malformed = |e: argon2::password_hash::Error| anyhow::anyhow!("stored hash is malformed: {e}");
    let parsed = argon2::PasswordHash::new(phc).map_err(malformed)?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(malformed)?;
    let version =
        parsed.version.map(Version::try_from).transpose().map_err(|e| anyhow::anyhow!("{e}"))?.unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(malformed)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        anyhow::bail!("stored hash has no salt or no hash");
    };
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(malformed)?;
    let mut out = vec![0u8; expected.len()];
    argon2_into(&Argon2::new(algorithm, version, params), password.as_bytes(), salt_bytes, &mut out)?;
    // `Output`'s equality is constant-time.
    Ok(Output::new(&out).map_err(malformed)? == expected)
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> PasswordHasher {
        PasswordHasher::new(Argon2Config { memory_kib: 1024, iterations: 1, parallelism: 1 }, 1, 4).unwrap()
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let hasher = hasher();
        let hash = hasher.hash("correct horse battery staple").await.unwrap();

        assert!(hash.0.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{}", hash.0);
        assert!(hasher.verify("correct horse battery staple", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("correct horse battery stapler", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("correct horse battery staple", None).await.unwrap(), "no account, no match");
    }

    #[tokio::test]
    async fn hashes_made_by_the_reference_implementation_verify() {
        use argon2::PasswordHasher as _;
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let params = Params::new(2048, 2, 1, None).unwrap();
        let reference =
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params).hash_password(b"a passphrase", &salt).unwrap();

        let ours = PasswordHash(reference.to_string());
        assert!(hasher().verify("a passphrase", Some(&ours)).await.unwrap());
        assert!(!hasher().verify("another passphrase", Some(&ours)).await.unwrap());
    }
}
