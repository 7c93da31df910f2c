//! `ums`: the whole service on one machine, and the operator commands.
//!
//! `cargo run --release` serves every route group on 127.0.0.1:3000 with an embedded
//! database, a durable local job queue and an outbox folder for email.

use anyhow::Context;
use clap::{Parser, Subcommand};
use shared::{
    Config, LocalApp,
    credentials::keyset::{self, KeySet},
    events::webhooks::Endpoint,
    operator::{self, jwt_key},
};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "ums", about = "User management for the blog platform", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Manage admin accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The key set that signs access tokens, in the data directory (`new` prints one for
    /// `UMS_JWT_PRIVATE_KEY` or a secret store).
    JwtKey {
        #[command(subcommand)]
        command: jwt_key::Command,
    },
    /// The endpoints account events are delivered to, as signed webhooks (docs/events.md).
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
    },
}

#[derive(Subcommand)]
enum WebhookCommand {
    /// Add an endpoint: it receives the events made from now on. Prints its id and its secret
    /// (`whsec_...`), which its consumer verifies signatures with.
    Add {
        #[arg(long)]
        url: String,
        /// An event type it receives (repeat for more); none: every type.
        #[arg(long = "type")]
        types: Vec<String>,
    },
    /// Every endpoint: where its deliveries stand, how far behind it is, why it fails.
    List,
    /// An endpoint's log, newest first: deliveries, failures, and when it was disabled or enabled.
    Log {
        id: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Enable a disabled endpoint again: it resumes at the event it stopped at.
    Enable { id: String },
    /// Remove an endpoint (its log stays).
    Remove { id: String },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin account, active at once. The password is read from standard input
    /// when it is not a terminal, otherwise prompted for without echo.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Admin")]
        first_name: String,
        #[arg(long, default_value = "User")]
        last_name: String,
    },
    /// Remove every second factor of an account and end its sessions (a lost authenticator,
    /// with no other admin to reset it). It enrols again at its next login if it is staff.
    ResetFactors {
        #[arg(long)]
        email: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve().await,
            Command::Admin { command: AdminCommand::Create { email, first_name, last_name } } => {
                create_admin(&email, &first_name, &last_name).await
            }
            Command::Admin { command: AdminCommand::ResetFactors { email } } => {
                let app = LocalApp::build(Config::from_env()?)?;
                let user = operator::reset_factors(&app.auth, app.users.moderation.as_ref(), &email).await?;
                println!("removed every second factor of {} <{}>; its sessions ended", user.id, user.email);
                Ok(())
            }
            Command::JwtKey { command } => jwt_key(command).await,
            Command::Webhook { command } => webhook(command).await,
        }
    })
}

fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("UMS_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let addr = config.addr;
    let app = LocalApp::build(config).context("starting the service")?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    tracing::info!(
        "serving on http://{addr} (API docs at http://{addr}/apidocs), data in {}",
        app.config.data_dir.display()
    );
    app.serve(listener, async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
    .await
}

async fn create_admin(email: &str, first_name: &str, last_name: &str) -> anyhow::Result<()> {
    let password = operator::read_password()?;
    let app = LocalApp::build(Config::from_env()?)?;
    let user = operator::create_admin(&app.auth, email, first_name, last_name, password).await?;
    println!("created admin {} <{}>", user.id, user.email);
    Ok(())
}

async fn webhook(command: WebhookCommand) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let db = shared::adapters::SqliteDb::open(&config.data_dir.join(shared::app::DATABASE_FILE))?;
    let now = time::OffsetDateTime::now_utc();
    match command {
        WebhookCommand::Add { url, types } => {
            let endpoint = Endpoint::new(&url, types)?;
            db.add_endpoint(&endpoint, now).await?;
            println!("added webhook endpoint {}\nsecret: {}", endpoint.id, endpoint.secret);
        }
        WebhookCommand::List => {
            let mut endpoints = db.endpoints().await?;
            for state in &mut endpoints {
                state.endpoint.secret = "(hidden)".into();
            }
            println!("{}", serde_json::to_string_pretty(&endpoints)?);
        }
        WebhookCommand::Log { id, limit } => {
            println!("{}", serde_json::to_string_pretty(&db.endpoint_log(&id, limit).await?)?)
        }
        WebhookCommand::Enable { id } => {
            anyhow::ensure!(db.enable_endpoint(&id, now).await?, "no disabled endpoint {id}");
            println!("enabled {id}: it resumes at the event it stopped at");
        }
        WebhookCommand::Remove { id } => {
            anyhow::ensure!(db.remove_endpoint(&id, now).await?, "no endpoint {id}");
            println!("removed {id}");
        }
    }
    Ok(())
}

async fn jwt_key(command: jwt_key::Command) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    if let jwt_key::Command::New = command {
        println!("{}", KeySet::generate(now)?.to_json());
        return Ok(());
    }
    let config = Config::from_env()?;
    if config.jwt.private_key_pem.is_some() {
        anyhow::bail!(
            "the key set comes from UMS_JWT_PRIVATE_KEY: change it where it is kept (the set in the data directory is not used)"
        );
    }
    let dir = &config.data_dir;
    match command {
        jwt_key::Command::New => unreachable!("handled above"),
        jwt_key::Command::Show => print!("{}", jwt_key::show(&keyset::load_or_create_local(dir, now)?)?),
        jwt_key::Command::Rotate { cache_wait_minutes } => {
            println!("{}", jwt_key::rotate_in_dir(dir, now, cache_wait_minutes, config.jwt.access_token_ttl)?);
        }
        jwt_key::Command::Revoke { kid } => println!("{}", jwt_key::revoke_in_dir(dir, &kid, now)?),
        jwt_key::Command::RotateSealSecret => println!("{}", jwt_key::rotate_seal_secret_in_dir(dir, now)?),
        jwt_key::Command::RetireSealSecrets { cache_wait_minutes } => {
            let app = LocalApp::build(config.clone())?;
            let accounts = app.auth.accounts.as_ref();
            println!("{}", jwt_key::retire_seal_secrets_in_dir(dir, accounts, now, cache_wait_minutes).await?);
        }
    }
    Ok(())
}
