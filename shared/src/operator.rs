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

    use crate::{
        credentials::{factors::FactorSealer, keyset::KeySet},
        domain::User,
        ports::{AccountFilter, AccountStore, StoreError},
    };

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
        /// A new seal secret seals cursors, unsubscribe links, upload forms and authenticator-app
        /// secrets from now on; the one before still opens what it sealed until retired.
        RotateSealSecret,
        /// Seal every authenticator-app secret again with the newest seal secret, then drop the
        /// older ones: the links and cursors they sealed open no more. Refused until every
        /// instance has read the rotated set.
        RetireSealSecrets {
            /// Minutes since the last seal rotation before the older secrets may go: how long an
            /// instance may take to read the set again (`UMS_JWT_KEYS_RELOAD_SECS`).
            #[arg(long, default_value_t = crate::credentials::keyset::CACHE_WAIT.as_secs() / 60)]
            cache_wait_minutes: u64,
        },
    }

    /// `rotate-seal-secret` on `set`; what it did, for the operator.
    pub fn rotate_seal_secret(set: &mut KeySet, now: OffsetDateTime) -> String {
        set.rotate_seal_secret(now);
        format!(
            "a new seal secret seals from now on; {} older one(s) open what they sealed until `retire-seal-secrets`",
            set.older_seal_secrets.len()
        )
    }

    /// `retire-seal-secrets` on `set`: every account's authenticator-app secret sealed again
    /// with the newest seal secret (accounts written one by one, each on its version), then the
    /// older secrets dropped from `set` (the caller writes it). Refused before any write while
    /// the rotation is younger than the wait.
    pub async fn retire_seal_secrets(
        set: &mut KeySet,
        accounts: &dyn AccountStore,
        now: OffsetDateTime,
        cache_wait_minutes: u64,
    ) -> anyhow::Result<String> {
        let wait = Duration::from_secs(cache_wait_minutes * 60);
        if set.older_seal_secrets.is_empty() {
            return Ok("no older seal secret to retire".into());
        }
        set.clone().retire_older_seal_secrets(now, wait)?;
        let sealer = FactorSealer::with_older(&set.seal_secrets());
        let sealed_again = seal_factors_again(accounts, &sealer).await?;
        let retired = set.retire_older_seal_secrets(now, wait)?;
        Ok(format!(
            "sealed {sealed_again} authenticator-app secret(s) again with the newest seal secret; retired {retired} older seal secret(s): what they sealed opens no more"
        ))
    }

    /// How many accounts' app secrets an older seal secret had sealed (now sealed again).
    async fn seal_factors_again(accounts: &dyn AccountStore, sealer: &FactorSealer) -> anyhow::Result<usize> {
        let (mut count, mut after) = (0, None);
        loop {
            let (page, next) = accounts.list_accounts(AccountFilter::default(), 100, after.as_ref()).await?;
            for user in page {
                if seal_account_again(accounts, sealer, user).await? {
                    count += 1;
                }
            }
            match next {
                Some(position) => after = Some(position),
                None => return Ok(count),
            }
        }
    }

    async fn seal_account_again(
        accounts: &dyn AccountStore,
        sealer: &FactorSealer,
        mut user: User,
    ) -> anyhow::Result<bool> {
        for _ in 0..5 {
            let mut changed = false;
            let owner = user.id.clone();
            let secrets = [
                user.factors.totp.as_mut().map(|totp| &mut totp.secret),
                user.factors.pending_totp.as_mut().map(|pending| &mut pending.secret),
            ];
            for secret in secrets.into_iter().flatten() {
                if let Some(again) = sealer.sealed_again(secret, &owner)? {
                    *secret = again;
                    changed = true;
                }
            }
            if !changed {
                return Ok(false);
            }
            match accounts.update_account(&user).await {
                Ok(()) => return Ok(true),
                // Written meanwhile (a code checked, a factor added): read it again.
                Err(StoreError::Conflict) => match accounts.account(&owner).await? {
                    Some(fresh) => user = fresh,
                    None => return Ok(false),
                },
                Err(error) => return Err(error.into()),
            }
        }
        anyhow::bail!("the account {} kept changing while its secret was sealed again: run retire again", user.id)
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

    /// `rotate-seal-secret` on the laptop's set in `dir`, written back whole.
    pub fn rotate_seal_secret_in_dir(dir: &std::path::Path, now: OffsetDateTime) -> anyhow::Result<String> {
        let mut set = crate::credentials::keyset::load_or_create_local(dir, now)?;
        let report = rotate_seal_secret(&mut set, now);
        crate::credentials::keyset::save_local(dir, &set)?;
        Ok(report)
    }

    /// `retire-seal-secrets` on the laptop's set in `dir`, written back whole.
    pub async fn retire_seal_secrets_in_dir(
        dir: &std::path::Path,
        accounts: &dyn AccountStore,
        now: OffsetDateTime,
        cache_wait_minutes: u64,
    ) -> anyhow::Result<String> {
        let mut set = crate::credentials::keyset::load_or_create_local(dir, now)?;
        let report = retire_seal_secrets(&mut set, accounts, now, cache_wait_minutes).await?;
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
