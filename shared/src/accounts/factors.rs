//! Second factors as account writes. Each is a [`Lifecycle::modify`]: the check that decides
//! (the step not used yet, the recovery code still there, the enrolment still the one
//! confirmed) runs on the account as read and the write is conditional on its version, so of
//! two requests with the same code only one is accepted.

use super::{AccountError, AccountResult, Lifecycle};
use crate::{
    domain::{Factors, MAX_PASSKEYS, PasskeyFactor, PendingTotp, TotpFactor, User, UserId},
    ports::{AuditRecord, ModerationAction, ModerationStore},
};

/// A factor operation that does not apply to the account as it is.
#[derive(Debug, PartialEq, Eq)]
pub enum FactorRefusal {
    /// The code's step was used already, or the recovery code is spent.
    Spent,
    /// A TOTP factor is confirmed already.
    Exists,
    /// No such factor, or no enrolment under way (or another one since).
    Missing,
    /// A staff account's last factor.
    StaffKeepOne,
    /// The account has as many passkeys as it may keep.
    TooMany,
}

/// A passkey's stored credential after an answer moved its signature counter, with the stored
/// credential the answer was checked against: the write keeps the first only while the second
/// is still what is stored.
#[derive(Debug, Clone)]
pub struct PasskeyUpdate {
    pub checked_against: String,
    pub credential: String,
}

impl Lifecycle<'_> {
    /// Hands out a new TOTP secret (sealed) for enrolment; an earlier unconfirmed one is
    /// replaced. Refused while a TOTP factor is confirmed.
    pub async fn begin_totp(&self, id: &UserId, sealed_secret: String) -> AccountResult<User> {
        let now = self.now();
        let (user, ()) = self
            .modify(id, |user| {
                if user.factors.totp.is_some() {
                    return Err(AccountError::Factor(FactorRefusal::Exists));
                }
                user.factors.pending_totp = Some(PendingTotp { secret: sealed_secret.clone(), created_at: now });
                Ok(())
            })
            .await?;
        Ok(user)
    }

    /// Confirms the enrolment of `pending` (the sealed secret the first code was checked
    /// against, at `step`) and stores the recovery codes' hashes. Refused if that enrolment is
    /// no longer the one under way.
    pub async fn confirm_totp(
        &self,
        id: &UserId,
        pending: &str,
        step: i64,
        recovery_hashes: Vec<String>,
    ) -> AccountResult<User> {
        let now = self.now();
        let (user, ()) = self
            .modify(id, |user| {
                if user.factors.totp.is_some() {
                    return Err(AccountError::Factor(FactorRefusal::Exists));
                }
                match user.factors.pending_totp.take() {
                    Some(p) if p.secret == pending => {
                        user.factors.totp = Some(TotpFactor { secret: p.secret, confirmed_at: now, last_step: step });
                        user.factors.recovery_codes = recovery_hashes.clone();
                        Ok(())
                    }
                    _ => Err(AccountError::Factor(FactorRefusal::Missing)),
                }
            })
            .await?;
        tracing::info!(user_id = %id, "TOTP enrolled");
        Ok(user)
    }

    /// Records `step` as the last TOTP step used, if no code of it or of a later step was
    /// accepted before (a replay is refused), and if the account is still at
    /// `credential_version` (the login's password).
    pub async fn spend_totp_step(&self, id: &UserId, step: i64, credential_version: u64) -> AccountResult<User> {
        let (user, ()) = self
            .modify(id, |user| {
                if user.credential_version != credential_version {
                    return Err(AccountError::Conflict);
                }
                match user.factors.totp.as_mut() {
                    Some(totp) if totp.last_step < step => {
                        totp.last_step = step;
                        Ok(())
                    }
                    Some(_) => Err(AccountError::Factor(FactorRefusal::Spent)),
                    None => Err(AccountError::Factor(FactorRefusal::Missing)),
                }
            })
            .await?;
        Ok(user)
    }

    /// Spends the recovery code of this hash, if the account still has it.
    pub async fn spend_recovery_code(&self, id: &UserId, hash: &str, credential_version: u64) -> AccountResult<User> {
        let (user, ()) = self
            .modify(id, |user| {
                if user.credential_version != credential_version {
                    return Err(AccountError::Conflict);
                }
                let before = user.factors.recovery_codes.len();
                user.factors.recovery_codes.retain(|h| h != hash);
                if user.factors.recovery_codes.len() == before {
                    return Err(AccountError::Factor(FactorRefusal::Spent));
                }
                Ok(())
            })
            .await?;
        tracing::info!(user_id = %id, left = user.factors.recovery_codes.len(), "a recovery code was used");
        Ok(user)
    }

    /// Replaces the recovery codes (the old ones stop working). Only with a factor.
    pub async fn replace_recovery_codes(&self, id: &UserId, hashes: Vec<String>) -> AccountResult<User> {
        let (user, ()) = self
            .modify(id, |user| {
                if !user.factors.any() {
                    return Err(AccountError::Factor(FactorRefusal::Missing));
                }
                user.factors.recovery_codes = hashes.clone();
                Ok(())
            })
            .await?;
        Ok(user)
    }

    /// Removes the TOTP factor, and with it the recovery codes when it was the last factor.
    /// A staff account keeps its last factor (an admin's reset is the way to start over).
    pub async fn remove_totp(&self, id: &UserId) -> AccountResult<User> {
        let (user, ()) = self
            .modify(id, |user| {
                if user.factors.totp.is_none() {
                    return Err(AccountError::Factor(FactorRefusal::Missing));
                }
                if user.is_staff() && user.factors.count() == 1 {
                    return Err(AccountError::Factor(FactorRefusal::StaffKeepOne));
                }
                user.factors.totp = None;
                if !user.factors.any() {
                    user.factors = Factors::default();
                }
                Ok(())
            })
            .await?;
        tracing::info!(user_id = %id, "TOTP removed");
        Ok(user)
    }

    /// Adds a registered passkey, if its credential is not the account's already and the
    /// account has room. With the first factor come the recovery codes (`recovery_hashes`);
    /// an account with codes keeps them. Refused if the account's credentials changed since
    /// the registration began (`credential_version`).
    pub async fn add_passkey(
        &self,
        id: &UserId,
        passkey: PasskeyFactor,
        credential_version: u64,
        recovery_hashes: Vec<String>,
    ) -> AccountResult<User> {
        let (user, ()) = self
            .modify(id, |user| {
                if user.credential_version != credential_version {
                    return Err(AccountError::Conflict);
                }
                if user.factors.passkeys.iter().any(|p| p.id == passkey.id) {
                    return Err(AccountError::Factor(FactorRefusal::Exists));
                }
                if user.factors.passkeys.len() >= MAX_PASSKEYS {
                    return Err(AccountError::Factor(FactorRefusal::TooMany));
                }
                if user.factors.recovery_codes.is_empty() && !user.factors.any() {
                    user.factors.recovery_codes = recovery_hashes.clone();
                }
                user.factors.passkeys.push(passkey.clone());
                Ok(())
            })
            .await?;
        tracing::info!(user_id = %id, passkeys = user.factors.passkeys.len(), "passkey registered");
        Ok(user)
    }

    /// Records a passkey's use: its credential as the answer leaves it (the signature
    /// counter) and when. Refused if the passkey is gone, the account's credentials changed
    /// since the ceremony began, or the stored credential is no longer the one the answer was
    /// checked against: of two answers with the same counter (a cloned authenticator), or
    /// racing each other, only the first written is accepted.
    pub async fn use_passkey(
        &self,
        id: &UserId,
        passkey_id: &str,
        update: Option<PasskeyUpdate>,
        credential_version: u64,
    ) -> AccountResult<User> {
        let now = self.now();
        let (user, ()) = self
            .modify(id, |user| {
                if user.credential_version != credential_version {
                    return Err(AccountError::Conflict);
                }
                let passkey = user.factors.passkeys.iter_mut().find(|p| p.id == passkey_id);
                let passkey = passkey.ok_or(AccountError::Factor(FactorRefusal::Missing))?;
                if let Some(update) = &update {
                    if passkey.credential != update.checked_against {
                        return Err(AccountError::Factor(FactorRefusal::Spent));
                    }
                    passkey.credential = update.credential.clone();
                }
                passkey.last_used_at = Some(now);
                Ok(())
            })
            .await?;
        Ok(user)
    }

    /// Removes one passkey (and the recovery codes when it was the last factor). A staff
    /// account keeps its last factor.
    pub async fn remove_passkey(&self, id: &UserId, passkey_id: &str) -> AccountResult<User> {
        let (user, ()) = self
            .modify(id, |user| {
                if !user.factors.passkeys.iter().any(|p| p.id == passkey_id) {
                    return Err(AccountError::Factor(FactorRefusal::Missing));
                }
                if user.is_staff() && user.factors.count() == 1 {
                    return Err(AccountError::Factor(FactorRefusal::StaffKeepOne));
                }
                user.factors.passkeys.retain(|p| p.id != passkey_id);
                if !user.factors.any() {
                    user.factors = Factors::default();
                }
                Ok(())
            })
            .await?;
        tracing::info!(user_id = %id, "passkey removed");
        Ok(user)
    }

    /// Removes every factor of the account and ends its sessions: an admin's (or the
    /// operator's) reset for a lost authenticator, recorded on the audit trail with `actor`. A
    /// staff account then enrols again at its next login.
    pub async fn reset_factors(&self, audit: &dyn ModerationStore, actor: &UserId, id: &UserId) -> AccountResult<User> {
        let (user, ()) = self
            .modify(id, |user| {
                user.factors = Factors::default();
                // Moving the access version ends every session (`modify`) and keeps a login
                // that read the factors before this from being granted one after it.
                user.access_version += 1;
                Ok(())
            })
            .await?;
        let record = AuditRecord::new(actor, ModerationAction::ResetFactors, id, String::new(), self.now());
        audit.record_action(&record).await?;
        tracing::info!(user_id = %id, actor_id = %actor, "second factors reset; all sessions ended");
        Ok(user)
    }
}
