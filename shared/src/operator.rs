//! What the operator commands share, on either path: the local server's `ums admin create` and
//! the AWS path's `ums-aws admin create` (`scripts/aws-local admin create`).

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::bail;

use crate::{
    auth::{AuthState, Confirmation, NewAccount, flows},
    domain::{Role, User},
    http::ApiError,
};

/// Creates an active admin (the operator vouches for the address).
pub async fn create_admin(
    state: &AuthState,
    email: &str,
    first_name: &str,
    last_name: &str,
    password: String,
) -> anyhow::Result<User> {
    let new = NewAccount::parse(email, password, first_name, last_name, None, None)
        .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
    flows::register(state, new, Role::Admin, Confirmation::VouchedByOperator)
        .await
        .map_err(|e| anyhow::anyhow!("{}", describe(&e)))
}

fn describe(error: &ApiError) -> String {
    let problem = error.problem();
    let fields: Vec<String> = problem.errors.iter().map(|e| format!("{} {}", e.field, e.detail)).collect();
    if fields.is_empty() { problem.detail } else { fields.join("; ") }
}

/// The password from standard input when it is piped, otherwise prompted for twice without echo.
pub fn read_password() -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Repeat it: ")?;
    if first != second {
        bail!("the passwords differ");
    }
    Ok(first)
}
