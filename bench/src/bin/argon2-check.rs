//! How long one Argon2id check takes here, with the service's own parameters (from the same
//! environment the server reads): the unit login throughput is measured in. Prints the median
//! of `runs` checks in milliseconds.
//!
//!     argon2-check [runs]

use std::time::Instant;

use shared::{Config, credentials::PasswordHasher};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs: usize = std::env::args().nth(1).map_or(Ok(21), |n| n.parse())?;
    let config = Config::from_env()?;
    let hasher = PasswordHasher::new(config.argon2, 1, 1)?;
    let hash = hasher.hash("a benchmark passphrase").await?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        assert!(hasher.verify("a benchmark passphrase", Some(&hash)).await?);
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!("{:.2}", times[runs / 2]);
    Ok(())
}
