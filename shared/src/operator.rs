//! What the operator commands share, on either path: the local server's `ums admin create` and
//! `ums admin reset-factors`, and the AWS path's `ums-aws admin ...` (`scripts/aws-local admin
//! ...`).

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::bail;

use crate::{
    domain::{EmailAddress, Role, User},
    identity::{Identity, NewAccount, Registrar, password},
    ports::ModerationStore,
};

/// Creates an active admin (the operator vouches for the address).
pub async fn create_admin(
    identity: &Identity,
    email: &str,
    first_name: &str,
    last_name: &str,
    password: String,
) -> anyhow::Result<User> {
    let new = NewAccount {
        email: email.to_string(),
        password,
        first_name: first_name.to_string(),
        last_name: last_name.to_string(),
        ..Default::default()
    };
    password::register(identity, new, Role::Admin, Registrar::Operator).await.map_err(|e| anyhow::anyhow!("{e}"))
}

/// Removes every second factor of the account with this address and ends its sessions: for a
/// last admin who lost their authenticator (no other admin can reset it). Recorded on the
/// audit trail with the account itself as the actor, and logged as the operator's.
pub async fn reset_factors(identity: &Identity, audit: &dyn ModerationStore, email: &str) -> anyhow::Result<User> {
    let email =
        EmailAddress::parse(email).map_err(|why| anyhow::anyhow!("{email:?} is not an email address: {why}"))?;
    let user = identity
        .accounts
        .account_by_email(&email.key())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no account has the address {email}"))?;
    tracing::warn!(user_id = %user.id, "the operator resets an account's second factors");
    identity.lifecycle().reset_factors(audit, &user.id, &user.id).await.map_err(|e| anyhow::anyhow!("{e}"))
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

/// The key-set commands (`ums jwt-key`, `ums-aws jwt-key`), wherever the set is kept.
pub mod jwt_key {
    use std::time::Duration;

    use time::OffsetDateTime;

    use crate::credentials::keyset::KeySet;

    #[cfg(feature = "cli")]
    #[derive(clap::Subcommand, Debug)]
    pub enum Command {
        /// Print a new key set (a signing key, the next one, a seal secret) as JSON.
        New,
        /// List the set's keys: id, status, since. Prints nothing secret.
        Show,
        /// Move the set one step: the next key signs, the signing key retires (published until
        /// its tokens expire), a new next key is published, expired retired keys are dropped.
        /// A set of one key (a PEM from before sets) gets its next key published first.
        Rotate {
            /// Minutes the next key must have been published before it signs: how long the
            /// platform's verifiers may cache our JWKS (API Gateway: up to an hour).
            #[arg(long, default_value_t = crate::credentials::keyset::CACHE_WAIT.as_secs() / 60)]
            cache_wait_minutes: u64,
        },
        /// Remove a key at once, because it leaked: its tokens are refused at each instance's
        /// next read of the set (`UMS_JWT_KEYS_RELOAD_SECS`). Revoking the signing key makes the
        /// next one sign now (verifiers that cached our JWKS before it was published refuse its
        /// tokens until they read it again); sessions go on, their clients refresh.
        Revoke {
            /// The key's id (`jwt-key show`). An id may start with `-` (base64url): taken as
            /// the id, not an option.
            #[arg(allow_hyphen_values = true)]
            kid: String,
        },
    }

    /// One step of `rotate` on `set`; what it did, for the operator.
    pub fn rotate(
        set: &mut KeySet,
        now: OffsetDateTime,
        cache_wait_minutes: u64,
        access_ttl: Duration,
    ) -> anyhow::Result<String> {
        if let Some(kid) = set.publish_next(now)? {
            return Ok(format!(
                "published the next key {kid}; run rotate again from {} to sign with it",
                now + Duration::from_secs(cache_wait_minutes * 60)
            ));
        }
        let step = set.rotate(now, Duration::from_secs(cache_wait_minutes * 60), access_ttl)?;
        let mut report = format!(
            "signing with {}; retired {} (published until its tokens expire); published {} to sign at the next rotation",
            step.signing, step.retired, step.published
        );
        for kid in step.dropped {
            report.push_str(&format!("; dropped {kid}"));
        }
        Ok(report)
    }

    /// `rotate` on the laptop's set in `dir`, written back whole (a running server reads it
    /// again within `UMS_JWT_KEYS_RELOAD_SECS`).
    pub fn rotate_in_dir(
        dir: &std::path::Path,
        now: OffsetDateTime,
        cache_wait_minutes: u64,
        access_ttl: Duration,
    ) -> anyhow::Result<String> {
        let mut set = crate::credentials::keyset::load_or_create_local(dir, now)?;
        let report = rotate(&mut set, now, cache_wait_minutes, access_ttl)?;
        crate::credentials::keyset::save_local(dir, &set)?;
        Ok(report)
    }

    /// `revoke` on the laptop's set in `dir`, written back whole.
    pub fn revoke_in_dir(dir: &std::path::Path, kid: &str, now: OffsetDateTime) -> anyhow::Result<String> {
        let mut set = crate::credentials::keyset::load_or_create_local(dir, now)?;
        let report = set.revoke(kid, now)?;
        crate::credentials::keyset::save_local(dir, &set)?;
        Ok(report)
    }

    /// The lines of `show`.
    pub fn show(set: &KeySet) -> anyhow::Result<String> {
        let keys = set.describe()?;
        let rfc3339 = &time::format_description::well_known::Rfc3339;
        let lines = keys.iter().map(|(kid, status, since)| {
            format!("{status:<8} {kid}  since {}\n", since.format(rfc3339).unwrap_or_else(|_| since.to_string()))
        });
        Ok(lines.collect())
    }
}
