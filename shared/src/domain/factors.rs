//! An account's second factors, as stored with the account: every check of a code and every
//! use of a recovery code is then a conditional write of the account (its version), so a code
//! replayed in parallel is accepted once, by the same rule as every other account write.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The factors of one account. Secrets are sealed (`credentials::factors::FactorSealer`),
/// recovery codes hashed; none of this ever leaves the service.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Factors {
    /// A confirmed authenticator app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<TotpFactor>,
    /// A secret handed out for enrolment, not confirmed by a first code yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_totp: Option<PendingTotp>,
    /// The unused recovery codes' hashes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovery_codes: Vec<String>,
    /// Registered passkeys (WebAuthn credentials): public keys, nothing secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passkeys: Vec<PasskeyFactor>,
}

/// The most passkeys one account keeps (the account is one item: it stays small).
pub const MAX_PASSKEYS: usize = 10;

impl std::fmt::Debug for Factors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Factors")
            .field("totp", &self.totp.as_ref().map(|t| t.confirmed_at))
            .field("pending_totp", &self.pending_totp.is_some())
            .field("recovery_codes", &self.recovery_codes.len())
            .field("passkeys", &self.passkeys.len())
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpFactor {
    /// The sealed secret.
    pub secret: String,
    #[serde(with = "time::serde::rfc3339")]
    pub confirmed_at: OffsetDateTime,
    /// The time step of the last code accepted: a code of that step or an earlier one is
    /// refused (RFC 6238, section 5.2: a code is accepted once).
    pub last_step: i64,
}

/// A registered passkey.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyFactor {
    /// The credential's id (base64url), as the authenticator names it.
    pub id: String,
    /// What its owner called it ("laptop", "phone").
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// The credential as `webauthn-rs` keeps it (public key, signature counter), as JSON.
    pub credential: String,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTotp {
    /// The sealed secret.
    pub secret: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Factors {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// A confirmed factor: a password alone no longer signs in.
    pub fn any(&self) -> bool {
        self.totp.is_some() || !self.passkeys.is_empty()
    }

    /// How many confirmed factors (an app, each passkey): a staff account keeps one.
    pub fn count(&self) -> usize {
        usize::from(self.totp.is_some()) + self.passkeys.len()
    }
}
