//! How long one login's password check takes with the configured Argon2id cost, on this
//! machine: the number that sizes the auth function's memory (Lambda's CPU share grows with
//! memory; at 1769 MB a function has one full vCPU, and Argon2id with one lane uses one).
//!
//! `cargo run --release -p shared --example argon2_cost [rounds]`

use std::time::{Duration, Instant};

use shared::{config::Argon2Config, credentials::PasswordHasher};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(30);
    let config = Argon2Config::default();
    let hasher = PasswordHasher::new(config, 1, 0)?;
    let hash = hasher.hash("correct horse battery staple").await?;
    hasher.verify("warm-up", Some(&hash)).await?;

    let mut times: Vec<Duration> = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        hasher.verify("correct horse battery staple", Some(&hash)).await?;
        times.push(start.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "argon2id m={} KiB t={} p={}: verify over {rounds} rounds: median {:.1} ms, p90 {:.1} ms, min {:.1} ms",
        config.memory_kib,
        config.iterations,
        config.parallelism,
        ms(times[rounds / 2]),
        ms(times[rounds * 9 / 10]),
        ms(times[0]),
    );
    Ok(())
}
