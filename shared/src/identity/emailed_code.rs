//! Six-digit codes sent by email, independent of HTTP: what an email sign-in sends (beside its
//! link, `email_sign_in`), and what a signed-in account is sent to prove it is its owner's
//! (step-up, an email change, a deletion: what an account without a password gives instead).
//!
//! A code is kept salted and hashed in a single-use token, one per address or account (a newer
//! one replaces it), for 10 minutes. Each check is counted twice before it is made: on the
//! login's attempt records (per address and source, and per address: parallel guesses get no
//! more checks than sequential ones, as for a password or an authenticator's code), and on the
//! code itself (five checks, then it is dead, however they were spread). And the day's checks
//! per address are bounded (`UMS_EMAILED_CODE_CHECKS_PER_ADDRESS_PER_DAY`): codes can be asked
//! for by anyone, so without it guessing would go on around the clock.

use rand::Rng as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use time::Duration;

use super::{Identity, IdentityError, caller::AuthUser, client::Source, throttle::LoginAttempt};
use crate::{
    credentials::tokens::{hash_token, random_token},
    domain::{Action, User},
    ports::{EmailJob, EmailMessage, Job, OneTimeToken, TokenKind},
};

/// How long an emailed code (and an email sign-in's link) works.
pub const CODE_TTL: Duration = Duration::minutes(10);
/// How many times one code may be checked; then it is dead, even for the right one.
pub const CHECKS_PER_CODE: u32 = 5;

/// A code as kept: its hash, salted so that a copy of the store does not give it away by a
/// table of the million codes.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct KeptCode {
    salt: String,
    hash: String,
}

impl KeptCode {
    /// A new code (six digits, what the person types) and what is kept of it.
    pub(crate) fn generate() -> (String, KeptCode) {
        let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
        let salt = random_token();
        let hash = hash_token(&format!("{salt}\n{code}"));
        (code, KeptCode { salt, hash })
    }

    pub(crate) fn matches(&self, code: &str) -> bool {
        let hash = hash_token(&format!("{}\n{code}", self.salt));
        bool::from(hash.as_bytes().ct_eq(self.hash.as_bytes()))
    }
}

/// Six ASCII digits: anything else is no code of ours (refused before anything is counted).
pub(crate) fn check_shape(code: &str, field: &'static str) -> Result<(), IdentityError> {
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    Err(IdentityError::Validation(vec![crate::domain::FieldError::new(
        field,
        "invalid_code",
        "the six digits from the email",
    )]))
}

/// Counts one check of an emailed code for the address `email_key` before it is made: on the
/// address's day of checks, on the login's attempt records, and as one of the token's five uses.
/// The token kept at `key`, if it is still there, unexpired, for this address and not used up;
/// else `invalid_code`. The caller compares the code, and takes the token (`take_token_if`) once
/// its decision holds; the attempt is forgotten when what it proved is done.
pub(crate) async fn counted_check(
    state: &Identity,
    (kind, key): (TokenKind, &str),
    email_key: &str,
    source: &Source,
) -> Result<(LoginAttempt, OneTimeToken), IdentityError> {
    let throttle = state.throttle();
    throttle.allow_code_check(email_key).await?;
    let (attempt, _) = throttle.reserve_password_check(email_key, source).await?;
    let record = state.tokens.use_token(kind, key, CHECKS_PER_CODE).await?;
    let record = record
        .filter(|r| r.expires_at > state.clock.now() && r.email_key == email_key)
        .ok_or(IdentityError::InvalidCode)?;
    Ok((attempt, record))
}

/// Where an account's code is kept: one per account, a newer one replacing it.
fn account_code_key(user: &User) -> String {
    hash_token(&format!("account-code\n{}", user.id))
}

/// Emails the caller's account a code that proves, for 10 minutes, that whoever gives it reads
/// the account's mail: what an account without a password steps up, changes its address or
/// deletes itself with. Counted with every other email to the address.
pub async fn send_account_code(state: &Identity, caller: &AuthUser) -> Result<u64, IdentityError> {
    caller.require(Action::ManageOwnFactors)?;
    let user = state.accounts.account(&caller.user_id).await?.ok_or(IdentityError::Unauthorized)?;
    state.throttle().allow_email_to(&user.email.key()).await?;
    let (code, kept) = KeptCode::generate();
    let payload = serde_json::to_string(&kept).map_err(anyhow::Error::from)?;
    state
        .tokens
        .put_token(&OneTimeToken {
            hash: account_code_key(&user),
            kind: TokenKind::AccountCode,
            user_id: user.id.clone(),
            email_key: user.email.key(),
            expires_at: state.clock.now() + CODE_TTL,
            credential_version: user.credential_version,
            reset_generation: 0,
            payload: Some(payload),
        })
        .await?;
    let message = EmailMessage::AccountCode { code };
    state.jobs.enqueue(&Job::SendEmail(EmailJob { to: user.email.to_string(), message })).await?;
    tracing::info!(user_id = %user.id, "a code was emailed to the account's address");
    Ok(CODE_TTL.whole_seconds() as u64)
}

/// Checks a code sent by [`send_account_code`], counted first as a login's check is: the
/// attempt to forget once the action it proved is done. A wrong, used, replaced or dead code is
/// `invalid_code`; one sent before the account's address or password changed finds nothing.
pub(crate) async fn check_account_code(
    state: &Identity,
    user: &User,
    code: &str,
    source: &Source,
) -> Result<LoginAttempt, IdentityError> {
    check_shape(code, "email_code")?;
    let key = account_code_key(user);
    let (attempt, record) = counted_check(state, (TokenKind::AccountCode, &key), &user.email.key(), source).await?;
    if record.credential_version != user.credential_version {
        return Err(IdentityError::InvalidCode);
    }
    let payload = record.payload.unwrap_or_default();
    let kept: KeptCode = serde_json::from_str(&payload).map_err(anyhow::Error::from)?;
    if !kept.matches(code) {
        return Err(IdentityError::InvalidCode);
    }
    // Right: spent once, whoever else holds it (and not a newer one sent since).
    state.tokens.take_token_if(TokenKind::AccountCode, &key, &payload).await?.ok_or(IdentityError::InvalidCode)?;
    Ok(attempt)
}
