//! Second factors, independent of HTTP: the login's second step, step-up, and enrolling,
//! listing and removing TOTP and recovery codes.
//!
//! Every code checked (at login, at step-up, at enrolment, at removal) is counted first on the
//! same counters as a password check (`throttle`): per address and source, and per address.
//! So parallel guesses of a code get no more checks than sequential ones, and a correct
//! password does not buy unlimited code guesses.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;

use super::{
    Identity, IdentityError,
    alerts::{NewFactor, announce_factor},
    caller::AuthUser,
    client::{Client, Source},
    emailed_code,
    passkeys::{self, AuthenticatorAnswer, PasskeyView},
    sessions::{
        AMR_EMAIL, AMR_HARDWARE_KEY, AMR_MULTI_FACTOR, AMR_ONE_TIME_CODE, AMR_PASSWORD, TokenPair, start_session,
    },
    single_use::challenge_hash,
};
use crate::{
    accounts::AccountError,
    credentials::{
        factors::{TotpSecret, generate_recovery_codes, qr_code_png, recovery_code_hash},
        jwt::{Grant, Scope},
        tokens::random_token,
    },
    domain::{AccountStatus, Action, User},
    ports::{ActivityKind, OneTimeToken, TokenKind},
};

/// How long a login challenge may be answered.
const CHALLENGE_TTL: Duration = Duration::minutes(5);

/// What answers a correct password for an account with a second factor.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecondFactorChallenge {
    /// Send it with a code to `POST /api/v1/auth/login/second_factor`, from where this login
    /// came, within `expires_in` seconds. A wrong code leaves it usable (each code is counted
    /// like a password); a right one completes it, once.
    pub challenge: String,
    /// What the account can answer with.
    pub factors: Vec<FactorKind>,
    /// With passkeys: WebAuthn's `CredentialRequestOptions` as JSON (`{"publicKey": {...}}`)
    /// for `navigator.credentials.get()`; its answer goes in `passkey`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub passkey: Option<Box<webauthn_rs::prelude::RequestChallengeResponse>>,
    #[schema(example = 300)]
    pub expires_in: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FactorKind {
    Totp,
    RecoveryCode,
    Passkey,
}

/// What login answers: the tokens, or the challenge of a second step.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginOutcome {
    Tokens(Box<TokenPair>),
    SecondFactor(SecondFactorChallenge),
}

/// A second factor as a client presents it: exactly one of `code`, `recovery_code` and
/// `passkey`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct FactorAnswer {
    /// The 6-digit code the authenticator app shows now.
    #[schema(example = "123456")]
    pub code: Option<String>,
    /// One of the account's recovery codes (each works once).
    #[schema(example = "abcde-fghjk")]
    pub recovery_code: Option<String>,
    /// The authenticator's answer to the challenge's `passkey` options, as JSON
    /// (`PublicKeyCredential.toJSON()`).
    #[schema(value_type = Option<Object>)]
    pub passkey: Option<AuthenticatorAnswer>,
}

/// The account's factors as its owner sees them: what exists, never a secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct FactorsView {
    pub totp: bool,
    /// An enrolment was started and not confirmed yet.
    pub totp_pending: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub totp_confirmed_at: Option<OffsetDateTime>,
    pub recovery_codes_left: usize,
    pub passkeys: Vec<PasskeyView>,
    /// The account is staff: it signs in with a factor and keeps one.
    pub required: bool,
}

impl FactorsView {
    pub fn new(user: &User) -> Self {
        Self {
            totp: user.factors.totp.is_some(),
            totp_pending: user.factors.pending_totp.is_some(),
            totp_confirmed_at: user.factors.totp.as_ref().map(|t| t.confirmed_at),
            recovery_codes_left: user.factors.recovery_codes.len(),
            passkeys: user.factors.passkeys.iter().map(Into::into).collect(),
            required: user.is_staff(),
        }
    }
}

/// A TOTP enrolment: the secret as an app takes it, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// The secret, base32, for typing into an app.
    pub secret: String,
    /// `otpauth://totp/...`, what the QR code holds.
    pub otpauth_uri: String,
    /// The QR code as a PNG `data:` URI, for an `<img src>`.
    pub qr_code: String,
}

/// Recovery codes, shown this once: each signs in once in place of a code.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    #[schema(example = json!(["abcde-fghjk", "mnpqr-stuvw"]))]
    pub recovery_codes: Vec<String>,
}

/// A new access token for the same session (after a step-up).
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessToken {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    #[schema(example = 900)]
    pub expires_in: u64,
}

/// After a correct password for an account with a factor: a challenge for the second step.
/// An account that could not sign in anyway (pending, suspended) is told so now.
/// What a login's challenge keeps on the server: how the first step proved who it was (its
/// RFC 8176 name: a password's `pwd`, a provider's `fed`), and a passkey ceremony's state.
#[derive(Serialize, Deserialize)]
struct ChallengeState {
    first: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ceremony: Option<String>,
    /// A sign-in to the staff console: it ends in a console session, and only there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    console: bool,
}

impl ChallengeState {
    /// The stored payload; one kept before the first step was named (a passkey ceremony's
    /// state alone, or nothing) was a password's.
    fn read(payload: Option<&str>) -> Self {
        payload.and_then(|p| serde_json::from_str(p).ok()).unwrap_or_else(|| ChallengeState {
            first: AMR_PASSWORD.into(),
            ceremony: payload.map(str::to_string),
            console: false,
        })
    }
}

/// The second step of a login whose first step (`first`: its RFC 8176 name) proved who it was.
pub(crate) async fn challenge(
    state: &Identity,
    user: &User,
    source: &Source,
    first: &str,
) -> Result<SecondFactorChallenge, IdentityError> {
    challenge_for(state, user, source, first, false).await
}

/// [`challenge`], for the API's sign-in or (`console`) the staff console's: each completes only
/// where it began.
pub(crate) async fn challenge_for(
    state: &Identity,
    user: &User,
    source: &Source,
    first: &str,
    console: bool,
) -> Result<SecondFactorChallenge, IdentityError> {
    let now = state.clock.now();
    match &user.status {
        AccountStatus::Pending => return Err(IdentityError::EmailNotConfirmed),
        AccountStatus::Suspended(s) if !s.is_over(now) => {
            return Err(IdentityError::AccountSuspended { until: s.until });
        }
        _ => {}
    }
    let challenge = random_token();
    // With passkeys, the challenge carries a WebAuthn ceremony too; its state stays here.
    let (passkey, ceremony_state) = if user.factors.passkeys.is_empty() {
        (None, None)
    } else {
        let (options, authentication) = passkeys::start_authentication(state, user)?;
        (Some(Box::new(options)), Some(serde_json::to_string(&authentication).map_err(anyhow::Error::from)?))
    };
    let kept = ChallengeState { first: first.to_string(), ceremony: ceremony_state, console };
    let payload = serde_json::to_string(&kept).map_err(anyhow::Error::from)?;
    state
        .tokens
        .put_token(&OneTimeToken {
            hash: challenge_hash(&challenge, source),
            kind: TokenKind::LoginChallenge,
            user_id: user.id.clone(),
            email_key: user.email.key(),
            expires_at: now + CHALLENGE_TTL,
            credential_version: user.credential_version,
            reset_generation: 0,
            payload: Some(payload),
        })
        .await?;
    let factors = [
        (user.factors.totp.is_some(), FactorKind::Totp),
        (!user.factors.passkeys.is_empty(), FactorKind::Passkey),
        (!user.factors.recovery_codes.is_empty(), FactorKind::RecoveryCode),
    ];
    let factors = factors.into_iter().filter_map(|(has, kind)| has.then_some(kind)).collect();
    tracing::info!(user_id = %user.id, "password right; second factor asked for");
    Ok(SecondFactorChallenge { challenge, factors, passkey, expires_in: CHALLENGE_TTL.whole_seconds() as u64 })
}

/// The login's second step: the challenge and a code (or a recovery code) start the session.
pub async fn complete_login(
    state: &Identity,
    challenge: &str,
    answer: &FactorAnswer,
    client: Client<'_>,
) -> Result<TokenPair, IdentityError> {
    let (user, attempt, amr) = second_step(state, challenge, answer, client.0, false).await?;
    let user_id = user.id.clone();
    match start_session(state, user, Some(attempt.key()), amr, client).await {
        Ok(pair) => {
            tracing::info!(%user_id, "logged in with a second factor");
            Ok(pair)
        }
        // Both factors were right but the account may not sign in (suspended, changed a moment
        // ago): the checks are forgotten on their own, as a login's are.
        Err(e) => {
            state.throttle().succeeded(attempt).await?;
            Err(e)
        }
    }
}

/// A login's second step checked and its factor spent, for the API (`console` false) or the
/// console: the account, the checks still counted, and how the sign-in proved who it was.
pub(crate) async fn second_step(
    state: &Identity,
    challenge: &str,
    answer: &FactorAnswer,
    source: &Source,
    console: bool,
) -> Result<(User, super::throttle::LoginAttempt, Vec<String>), IdentityError> {
    if challenge.len() != 43 {
        return Err(IdentityError::InvalidChallenge);
    }
    let hash = challenge_hash(challenge, source);
    let record =
        state.tokens.peek_token(TokenKind::LoginChallenge, &hash).await?.ok_or(IdentityError::InvalidChallenge)?;
    if record.expires_at <= state.clock.now() {
        return Err(IdentityError::InvalidChallenge);
    }
    let throttle = state.throttle();
    let (attempt, _) = throttle.reserve_password_check(&record.email_key, source).await?;
    let user = state.accounts.account(&record.user_id).await?;
    // The password the challenge was given for is still the account's.
    let user = user
        .filter(|u| u.credential_version == record.credential_version && u.email.key() == record.email_key)
        .ok_or(IdentityError::InvalidChallenge)?;
    let kept = ChallengeState::read(record.payload.as_deref());
    if kept.console != console {
        return Err(IdentityError::InvalidChallenge);
    }
    let checked = check_factor(state, &user, answer, kept.ceremony.as_deref()).await?;
    // Right: the challenge is completed once, whoever else holds it.
    state.tokens.take_token(TokenKind::LoginChallenge, &hash).await?.ok_or(IdentityError::InvalidChallenge)?;
    let method = if matches!(checked, Checked::Passkey { .. }) { AMR_HARDWARE_KEY } else { AMR_ONE_TIME_CODE };
    let user = spend(state, &user, checked).await?;
    let amr = [kept.first.as_str(), method, AMR_MULTI_FACTOR].map(String::from).to_vec();
    Ok((user, attempt, amr))
}

/// A factor found right, not spent yet.
enum Checked {
    TotpStep(i64),
    RecoveryCode(String),
    Passkey { id: String, update: Option<crate::accounts::PasskeyUpdate> },
}

/// Checks `answer` against the account's factors (without spending it); a passkey's against
/// the ceremony the challenge started (`ceremony_state`).
async fn check_factor(
    state: &Identity,
    user: &User,
    answer: &FactorAnswer,
    ceremony_state: Option<&str>,
) -> Result<Checked, IdentityError> {
    match (answer.code.as_deref(), answer.recovery_code.as_deref(), answer.passkey.as_ref()) {
        (None, None, Some(passkey)) => {
            let (id, update) = passkeys::check_answer(state, user, ceremony_state, passkey)
                .map_err(|_| IdentityError::InvalidSecondFactor)?;
            Ok(Checked::Passkey { id, update })
        }
        (Some(code), None, None) => Ok(Checked::TotpStep(check_totp_code(state, user, code).await?)),
        (None, Some(code), None) => {
            let hash = recovery_code_hash(code).ok_or(IdentityError::InvalidSecondFactor)?;
            if !user.factors.recovery_codes.contains(&hash) {
                return Err(IdentityError::InvalidSecondFactor);
            }
            Ok(Checked::RecoveryCode(hash))
        }
        _ => Err(IdentityError::Validation(vec![crate::domain::FieldError::new(
            "code",
            "one_factor",
            "send exactly one of `code`, `recovery_code` and `passkey`",
        )])),
    }
}

/// The time step of the account's authenticator app whose code `code` is, if it was not used.
/// (Apart from [`check_factor`], so that what checks only a code, removing the app, does not
/// bring the passkeys' verification with it into the function that serves it.)
async fn check_totp_code(state: &Identity, user: &User, code: &str) -> Result<i64, IdentityError> {
    let totp = user.factors.totp.as_ref().ok_or(IdentityError::InvalidSecondFactor)?;
    let secret = state.keys.factor_sealer().await.open(&totp.secret, &user.id)?;
    let step = secret.matching_step(code, state.clock.now()).ok_or(IdentityError::InvalidSecondFactor)?;
    // A step used already is refused here too; the write refuses it atomically.
    if step <= totp.last_step {
        return Err(IdentityError::InvalidSecondFactor);
    }
    Ok(step)
}

/// Spends a checked factor: the step or the recovery code is accepted once, by a write
/// conditional on the account as read (a replay in parallel loses).
async fn spend(state: &Identity, user: &User, checked: Checked) -> Result<User, IdentityError> {
    let lifecycle = state.lifecycle();
    let spent = match checked {
        Checked::TotpStep(step) => lifecycle.spend_totp_step(&user.id, step, user.credential_version).await,
        Checked::RecoveryCode(hash) => lifecycle.spend_recovery_code(&user.id, &hash, user.credential_version).await,
        Checked::Passkey { id, update } => lifecycle.use_passkey(&user.id, &id, update, user.credential_version).await,
    };
    spent.map_err(|e| match e {
        AccountError::NotFound | AccountError::Conflict => IdentityError::InvalidSecondFactor,
        e => e.into(),
    })
}

/// What a step-up proves who the caller is with.
pub enum Proof<'a> {
    Password(&'a str),
    /// A code or a recovery code.
    Code(&'a FactorAnswer),
    /// A passkey's answer to a step-up ceremony (`POST auth/step_up/passkey`).
    Passkey {
        ceremony: &'a str,
        answer: &'a AuthenticatorAnswer,
    },
    /// A code emailed to the account's address (`POST auth/email_code`): what an account
    /// without a password (or without a factor) proves itself with.
    EmailCode(&'a str),
}

/// Step-up: the caller proves who they are again (their password or an emailed code; their
/// factor's code, recovery code or passkey) and gets an access token for the same session with
/// `auth_time` now. An account with a second factor proves it with the factor: a phished
/// password (or a read mailbox) and a stolen session must not be enough to act as its owner.
pub async fn step_up(
    state: &Identity,
    caller: &AuthUser,
    proof: Proof<'_>,
    source: &Source,
) -> Result<AccessToken, IdentityError> {
    let (user, method) = prove_again(state, caller, proof, source).await?;
    let mut amr = caller.amr.clone();
    if !amr.iter().any(|m| m == method) {
        amr.push(method.to_string());
    }
    let now = state.clock.now();
    let access_token = state
        .keys
        .issue(
            Grant {
                user: &user.id,
                session_id: &caller.session_id,
                role: caller.role,
                auth_time: now,
                amr: &amr,
                scope: Scope::Full,
            },
            now,
        )
        .await?;
    tracing::info!(user_id = %user.id, method, "stepped up");
    Ok(AccessToken { access_token, token_type: "Bearer", expires_in: state.keys.access_ttl().as_secs() })
}

/// A step-up's proof checked (and its factor spent): the account, and the proof's RFC 8176 name.
/// The API's step-up and the console's share it.
pub(crate) async fn prove_again(
    state: &Identity,
    caller: &AuthUser,
    proof: Proof<'_>,
    source: &Source,
) -> Result<(User, &'static str), IdentityError> {
    caller.require(Action::ManageOwnFactors)?;
    let user = state.accounts.account(&caller.user_id).await?.ok_or(IdentityError::Unauthorized)?;
    let throttle = state.throttle();
    let (attempt, method) = match proof {
        Proof::Password(_) if user.factors.any() => return Err(IdentityError::StepUpNeedsFactor),
        Proof::Password(password) => {
            (throttle.check_current_password(&state.hasher, &user, password, source).await?, AMR_PASSWORD)
        }
        Proof::EmailCode(_) if user.factors.any() => return Err(IdentityError::StepUpNeedsFactor),
        Proof::EmailCode(code) => (emailed_code::check_account_code(state, &user, code, source).await?, AMR_EMAIL),
        Proof::Code(answer) => {
            let (attempt, _) = throttle.reserve_password_check(&user.email.key(), source).await?;
            let checked = check_factor(state, &user, answer, None).await?;
            spend(state, &user, checked).await?;
            (attempt, AMR_ONE_TIME_CODE)
        }
        Proof::Passkey { ceremony, answer } => {
            let (attempt, _) = throttle.reserve_password_check(&user.email.key(), source).await?;
            passkeys::finish_step_up(state, &user, ceremony, answer, source).await?;
            (attempt, AMR_HARDWARE_KEY)
        }
    };
    throttle.succeeded(attempt).await?;
    Ok((user, method))
}

/// The caller's account's factors.
pub async fn factors(state: &Identity, caller: &AuthUser) -> Result<FactorsView, IdentityError> {
    caller.require(Action::ManageOwnFactors)?;
    let user = state.accounts.account(&caller.user_id).await?.ok_or(IdentityError::Unauthorized)?;
    Ok(FactorsView::new(&user))
}

/// Starts a TOTP enrolment: a new secret, shown once, confirmed by its first code.
pub async fn begin_totp(state: &Identity, caller: &AuthUser) -> Result<TotpEnrolment, IdentityError> {
    caller.require(Action::ManageOwnFactors)?;
    // Whoever holds the token would own the account's second factor (and its recovery codes):
    // a sensitive action, as adding a passkey is (a staff account's first login is recent).
    caller.require_recent_authentication()?;
    let secret = TotpSecret::generate();
    let sealed = state.keys.factor_sealer().await.seal(&secret, &caller.user_id);
    let user = state
        .lifecycle()
        .begin_totp(&caller.user_id, sealed)
        .await
        .map_err(IdentityError::or_missing(IdentityError::Unauthorized))?;
    let otpauth_uri = secret.otpauth_uri(service_name(state), &user.email.to_string())?;
    let qr_code = qr_code_png(&otpauth_uri)?;
    Ok(TotpEnrolment { secret: secret.base32(), otpauth_uri, qr_code })
}

/// The name authenticator apps show beside the account: the display name of the service's
/// sender address (`UMS_EMAIL_FROM`).
fn service_name(state: &Identity) -> &str {
    let from = state.config.email_from.as_str();
    match from.split_once('<') {
        Some((name, _)) if !name.trim().is_empty() => name.trim().trim_matches('"'),
        _ => "Blog Platform",
    }
}

/// Confirms the TOTP enrolment under way with a code of its secret; answers the recovery
/// codes (shown once). The code counts like a password check. The new factor is announced to
/// the account's address.
pub async fn confirm_totp(
    state: &Identity,
    caller: &AuthUser,
    code: &str,
    client: Client<'_>,
) -> Result<RecoveryCodes, IdentityError> {
    let (source, _) = client;
    caller.require(Action::ManageOwnFactors)?;
    caller.require_recent_authentication()?;
    let user = state.accounts.account(&caller.user_id).await?.ok_or(IdentityError::Unauthorized)?;
    let pending = user.factors.pending_totp.as_ref().ok_or(IdentityError::NoSuchFactor)?;
    if user.factors.totp.is_some() {
        return Err(IdentityError::FactorExists);
    }
    let throttle = state.throttle();
    let (attempt, _) = throttle.reserve_password_check(&user.email.key(), source).await?;
    let secret = state.keys.factor_sealer().await.open(&pending.secret, &user.id)?;
    let step = secret.matching_step(code, state.clock.now()).ok_or(IdentityError::InvalidSecondFactor)?;
    let codes = generate_recovery_codes();
    let hashes = codes.iter().filter_map(|c| recovery_code_hash(c)).collect();
    state.lifecycle().confirm_totp(&user.id, &pending.secret, step, hashes).await?;
    throttle.succeeded(attempt).await?;
    announce_factor(state, &user, NewFactor::AuthenticatorApp, client).await;
    Ok(RecoveryCodes { recovery_codes: codes })
}

/// New recovery codes; the old ones stop working. A sensitive action (step-up).
pub async fn regenerate_recovery_codes(
    state: &Identity,
    caller: &AuthUser,
    client: Client<'_>,
) -> Result<RecoveryCodes, IdentityError> {
    caller.require_recent_authentication()?;
    caller.require(Action::ManageOwnFactors)?;
    let codes = generate_recovery_codes();
    let hashes = codes.iter().filter_map(|c| recovery_code_hash(c)).collect();
    state
        .lifecycle()
        .replace_recovery_codes(&caller.user_id, hashes)
        .await
        .map_err(IdentityError::or_missing(IdentityError::Unauthorized))?;
    tracing::info!(user_id = %caller.user_id, "recovery codes replaced");
    state.record(&caller.user_id, ActivityKind::RecoveryCodesReplaced, client, "ten new codes").await?;
    Ok(RecoveryCodes { recovery_codes: codes })
}

/// Removes the TOTP factor (and the recovery codes with it): a sensitive action (step-up),
/// with the password and a current code. Staff keep theirs.
pub async fn remove_totp(
    state: &Identity,
    caller: &AuthUser,
    password: &str,
    code: &str,
    client: Client<'_>,
) -> Result<(), IdentityError> {
    let (source, _) = client;
    caller.require_recent_authentication()?;
    caller.require(Action::ManageOwnFactors)?;
    let user = state.accounts.account(&caller.user_id).await?.ok_or(IdentityError::Unauthorized)?;
    if user.factors.totp.is_none() {
        return Err(IdentityError::NoSuchFactor);
    }
    if user.is_staff() {
        return Err(IdentityError::FactorRequired);
    }
    let throttle = state.throttle();
    let attempt = throttle.check_current_password(&state.hasher, &user, password, source).await?;
    check_totp_code(state, &user, code).await?;
    state.lifecycle().remove_totp(&user.id).await.map_err(IdentityError::or_missing(IdentityError::Unauthorized))?;
    throttle.succeeded(attempt).await?;
    state.record(&user.id, ActivityKind::FactorRemoved, client, "authenticator app").await
}
