//! Does a login reveal whether an email has an account by how long it takes? Times wrong
//! passwords for a real account against logins for unknown emails, through the real router on
//! the embedded store, and prints both medians.
//!
//! `cargo run --release -p shared --example login_timing [rounds]`

use std::time::{Duration, Instant};

use axum::body::Body;
use shared::{
    Config, LocalApp,
    domain::Role,
    identity::{NewAccount, Registrar, password},
};
use tower::ServiceExt as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(40);
    let dir = tempfile::tempdir()?;
    let mut config = Config::local(dir.path().to_path_buf(), "127.0.0.1:3000".parse()?);
    // Backoff would turn the attempts into 429s: this measures the checks themselves.
    config.limits.login_failures_before_backoff = u32::MAX;
    let app = LocalApp::build(config)?;
    let new = NewAccount {
        email: "ada@example.com".into(),
        password: "correct horse battery staple".into(),
        first_name: "Ada".into(),
        last_name: "L".into(),
        ..Default::default()
    };
    password::register(&app.auth, new, Role::Reader, Registrar::Operator).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let router = app.router();

    let login = |email: String| {
        let router = router.clone();
        async move {
            let body = format!(r#"{{"email":"{email}","password":"not the password"}}"#);
            let request = axum::http::Request::post("/api/v1/auth/login")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap();
            let start = Instant::now();
            let response = router.oneshot(request).await.unwrap();
            assert_eq!(response.status(), 401);
            start.elapsed()
        }
    };
    login("warm-up@example.com".into()).await;

    let (mut known, mut unknown): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        // Interleaved, so drift in the machine's load hits both alike.
        known.push(login("ada@example.com".into()).await);
        unknown.push(login(format!("nobody{i}@example.com")).await);
    }
    let median = |mut times: Vec<Duration>| {
        times.sort();
        times[times.len() / 2].as_secs_f64() * 1000.0
    };
    let (known, unknown) = (median(known), median(unknown));
    println!(
        "login over {rounds} rounds each: wrong password median {known:.2} ms, unknown email median {unknown:.2} ms, difference {:.2} ms",
        (known - unknown).abs()
    );
    Ok(())
}
