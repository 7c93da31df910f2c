//! `ums-aws`: the operator commands on the AWS path, against the resources the environment
//! names (as the functions read them). `scripts/aws-local admin create ...` runs it against the
//! emulator; with real credentials and `UMS_TABLE_NAME`, `UMS_EMAIL_QUEUE_URL` and
//! `UMS_JWT_KEY_PARAMETER` set, it works on a deployment too.

use clap::{Parser, Subcommand};
use shared::operator;
use ums_aws::lambda::Aws;

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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Command::Admin { command: AdminCommand::Create { email, first_name, last_name } } = Cli::parse().command;
    let password = operator::read_password()?;
    let aws = Aws::from_sdk(ums_aws::lambda::operator_sdk_config().await)?;
    let user = operator::create_admin(&aws.auth_state().await?, &email, &first_name, &last_name, password).await?;
    println!("created admin {} <{}>", user.id, user.email);
    Ok(())
}
