//! `ums-aws`: the operator commands on the AWS path, against the resources the environment
//! names (as the functions read them). `scripts/aws-local admin create ...` runs it against the
//! emulator; with real credentials and `UMS_TABLE_NAME`, `UMS_EMAIL_QUEUE_URL` and
//! `UMS_JWT_KEY_PARAMETER` set, it works on a deployment too. `ums-aws jwt-key rotate` moves the
//! key set in SSM one step (`scripts/aws-local jwt-key rotate` on the emulator).

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::time::Duration;

use shared::ports::WebhookDirectory;
use shared::{
    credentials::keyset::KeySet,
    events::webhooks::Endpoint,
    operator::{self, jwt_key},
};
use ums_aws::{
    DynamoStore,
    lambda::{Aws, KeySetParameter},
    webhooks::EndpointsParameter,
};

#[derive(Parser)]
#[command(name = "ums-aws", about = "Operator commands for the AWS deployment", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage admin accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The key set that signs access tokens, in the SSM parameter `UMS_JWT_KEY_PARAMETER`
    /// (running functions read it again within `UMS_JWT_KEYS_RELOAD_SECS`).
    JwtKey {
        #[command(subcommand)]
        command: jwt_key::Command,
    },
    /// The endpoints account events are delivered to as signed webhooks, in the SSM parameter
    /// `UMS_WEBHOOK_ENDPOINTS_PARAMETER` (the webhook worker reads it again within a minute).
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
    },
}

#[derive(Subcommand)]
enum WebhookCommand {
    /// Add an endpoint; prints its id and its secret (`whsec_...`), which its consumer
    /// verifies signatures with.
    Add {
        #[arg(long)]
        url: String,
        /// An event type it receives (repeat for more); none: every type.
        #[arg(long = "type")]
        types: Vec<String>,
    },
    /// Every endpoint (secrets hidden) and where its deliveries stand.
    List,
    /// Enable an endpoint the worker disabled for failing a whole day (the events it missed
    /// meanwhile are in the bus's archive, for a replay).
    Enable { id: String },
    /// Remove an endpoint.
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Admin { command: AdminCommand::Create { email, first_name, last_name } } => {
            let password = operator::read_password()?;
            let aws = Aws::from_sdk(ums_aws::lambda::operator_sdk_config().await)?;
            let user =
                operator::create_admin(&aws.auth_state().await?, &email, &first_name, &last_name, password).await?;
            println!("created admin {} <{}>", user.id, user.email);
        }
        Command::Admin { command: AdminCommand::ResetFactors { email } } => {
            let aws = Aws::from_sdk(ums_aws::lambda::operator_sdk_config().await)?;
            let users = aws.users_state().await?;
            let user = operator::reset_factors(&users.identity, users.moderation.as_ref(), &email).await?;
            println!("removed every second factor of {} <{}>; its sessions ended", user.id, user.email);
        }
        Command::JwtKey { command } => jwt_key(command).await?,
        Command::Webhook { command } => webhook(command).await?,
    }
    Ok(())
}

async fn webhook(command: WebhookCommand) -> anyhow::Result<()> {
    let name =
        std::env::var("UMS_WEBHOOK_ENDPOINTS_PARAMETER").context("UMS_WEBHOOK_ENDPOINTS_PARAMETER is not set")?;
    let sdk = ums_aws::lambda::operator_sdk_config().await;
    let parameter = EndpointsParameter::new(aws_sdk_ssm::Client::new(&sdk).into(), name, Duration::ZERO);
    // The delivery state admins read (`GET admin/webhooks`), beside the secrets in SSM.
    let table = std::env::var("UMS_TABLE_NAME").context("UMS_TABLE_NAME is not set")?;
    let store = DynamoStore::new(ums_aws::lambda::dynamo_client(&sdk, None), table);
    let (mut endpoints, version) = parameter.read().await?;
    match command {
        WebhookCommand::Add { url, types } => {
            let endpoint = Endpoint::new(&url, types)?;
            endpoints.push(endpoint.clone());
            parameter.write_over(&endpoints, version).await?;
            store.webhook_added(&endpoint).await?;
            println!("added webhook endpoint {}\nsecret: {}", endpoint.id, endpoint.secret);
        }
        WebhookCommand::List => println!("{}", serde_json::to_string_pretty(&store.webhook_statuses().await?)?),
        WebhookCommand::Enable { id } => {
            anyhow::ensure!(store.webhook_enabled(&id).await?, "no disabled endpoint {id}");
            println!("enabled {id}: it takes the events from now on");
        }
        WebhookCommand::Remove { id } => {
            let before = endpoints.len();
            endpoints.retain(|endpoint| endpoint.id != id);
            anyhow::ensure!(endpoints.len() < before, "no endpoint {id}");
            parameter.write_over(&endpoints, version).await?;
            store.webhook_removed(&id).await?;
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
    let name = std::env::var("UMS_JWT_KEY_PARAMETER").context("UMS_JWT_KEY_PARAMETER is not set")?;
    let sdk = ums_aws::lambda::operator_sdk_config().await;
    let parameter = KeySetParameter { client: aws_sdk_ssm::Client::new(&sdk), name };
    let (text, version) = parameter.read_versioned().await?;
    let mut set = KeySet::parse(&text)?;
    match command {
        jwt_key::Command::New => unreachable!("handled above"),
        jwt_key::Command::Show => print!("{}", jwt_key::show(&set)?),
        jwt_key::Command::Rotate { cache_wait_minutes } => {
            let access_ttl = shared::Config::from_env()?.jwt.access_token_ttl;
            let report = jwt_key::rotate(&mut set, now, cache_wait_minutes, access_ttl)?;
            parameter.write_over(&set.to_json(), version).await?;
            println!("{report}");
        }
        jwt_key::Command::Revoke { kid } => {
            let report = set.revoke(&kid, now)?;
            parameter.write_over(&set.to_json(), version).await?;
            println!("{report}");
        }
        jwt_key::Command::RotateSealSecret => {
            let report = jwt_key::rotate_seal_secret(&mut set, now);
            parameter.write_over(&set.to_json(), version).await?;
            println!("{report}");
        }
        jwt_key::Command::RetireSealSecrets { cache_wait_minutes } => {
            let aws = Aws::from_sdk(sdk)?;
            let accounts = aws.users_state().await?.identity.accounts.clone();
            let report = jwt_key::retire_seal_secrets(&mut set, accounts.as_ref(), now, cache_wait_minutes).await?;
            // On the version read first: a rotation meanwhile is not overwritten.
            parameter.write_over(&set.to_json(), version).await?;
            println!("{report}");
        }
    }
    Ok(())
}
