//! Passkeys (WebAuthn), independent of HTTP: registering one, signing in with one instead of a
//! password, and answering a login's second step with one.
//!
//! Each ceremony's state (the challenge and what it may be answered with) stays on the server,
//! as the payload of a single-use token: the client holds only the token. Finishing a ceremony
//! takes the token first, so an answer (a signed challenge) is accepted once, whoever replays it.
//! A sign-in ceremony is bound to where it was started, as a login challenge is.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, RequestChallengeResponse, Uuid,
};

/// An authenticator's answer as the client sent it: read as WebAuthn's JSON only once its
/// ceremony is found, and one that is not is an answer that does not verify (not a malformed
/// request: the shape is WebAuthn's, not ours).
pub type AuthenticatorAnswer = serde_json::Value;

fn read_answer<T: serde::de::DeserializeOwned>(answer: &AuthenticatorAnswer) -> Result<T, IdentityError> {
    T::deserialize(answer).map_err(unusable)
}

use super::{
    Identity, IdentityError,
    alerts::{NewFactor, announce_factor},
    caller::AuthUser,
    client::{Client, Source},
    sessions::{AMR_HARDWARE_KEY, AMR_MULTI_FACTOR, TokenPair, start_session},
    single_use::challenge_hash,
};
use crate::{
    accounts::{AccountError, PasskeyUpdate},
    credentials::{
        factors::{generate_recovery_codes, recovery_code_hash},
        passkeys::relying_party,
        tokens::{hash_token, random_token},
    },
    domain::{Action, EmailAddress, MAX_PASSKEYS, PasskeyFactor, User, UserId, single_line},
    ports::{ActivityKind, OneTimeToken, TokenKind},
};

/// How long a passkey ceremony may be finished (the authenticator's own prompt is shorter).
pub const CEREMONY_TTL: Duration = Duration::minutes(5);

/// A passkey as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyView {
    /// The credential id (base64url): what `DELETE /api/v1/auth/factors/passkeys/{id}` takes.
    pub id: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<OffsetDateTime>,
}

impl From<&PasskeyFactor> for PasskeyView {
    fn from(p: &PasskeyFactor) -> Self {
        Self { id: p.id.clone(), name: p.name.clone(), created_at: p.created_at, last_used_at: p.last_used_at }
    }
}

/// A registration under way: hand `options` to `navigator.credentials.create()`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyRegistrationOptions {
    /// Send it back with the authenticator's answer, within `expires_in` seconds.
    pub ceremony: String,
    /// WebAuthn's `CredentialCreationOptions` as JSON (`{"publicKey": {...}}`, binary fields
    /// base64url): `PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey)`.
    #[schema(value_type = Object)]
    pub options: CreationChallengeResponse,
    #[schema(example = 300)]
    pub expires_in: u64,
}

/// A passkey sign-in under way: hand `options` to `navigator.credentials.get()`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeySignInOptions {
    /// Send it back with the authenticator's answer, from the same source, within `expires_in`
    /// seconds.
    pub ceremony: String,
    /// WebAuthn's `CredentialRequestOptions` as JSON (`{"publicKey": {...}}`, binary fields
    /// base64url): `PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey)`.
    #[schema(value_type = Object)]
    pub options: RequestChallengeResponse,
    #[schema(example = 300)]
    pub expires_in: u64,
}

/// A registered passkey, and the recovery codes when it is the account's first factor (shown
/// this once).
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyRegistered {
    pub passkey: PasskeyView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

fn unusable(e: impl std::fmt::Display) -> IdentityError {
    tracing::info!(error = %e, "a passkey answer was refused");
    IdentityError::InvalidPasskey
}

/// The relying party as configured.
fn webauthn(state: &Identity) -> anyhow::Result<webauthn_rs::Webauthn> {
    relying_party(&state.config.passkey_rp_id, &state.config.passkey_origin)
}

fn credential_id(passkey: &Passkey) -> String {
    URL_SAFE_NO_PAD.encode(passkey.cred_id())
}

fn stored(passkey: &PasskeyFactor) -> Result<Passkey, IdentityError> {
    Ok(serde_json::from_str(&passkey.credential).map_err(anyhow::Error::from)?)
}

fn json(value: &impl Serialize) -> Result<String, IdentityError> {
    Ok(serde_json::to_string(value).map_err(anyhow::Error::from)?)
}

/// Keeps a new ceremony's state on the server, as a single-use token of `kind` for `user`
/// (stored by the hash of the ceremony and `source` when it is bound to one); the ceremony the
/// client gets back.
async fn keep_ceremony(
    state: &Identity,
    kind: TokenKind,
    source: Option<&Source>,
    user: (&UserId, String, u64),
    payload: Option<String>,
) -> Result<String, IdentityError> {
    let ceremony = random_token();
    let (user_id, email_key, credential_version) = user;
    state
        .tokens
        .put_token(&OneTimeToken {
            hash: source.map_or_else(|| hash_token(&ceremony), |source| challenge_hash(&ceremony, source)),
            kind,
            user_id: user_id.clone(),
            email_key,
            expires_at: state.clock.now() + CEREMONY_TTL,
            credential_version,
            reset_generation: 0,
            payload,
        })
        .await?;
    Ok(ceremony)
}

/// Starts registering a passkey for the caller: the options for their authenticator. The
/// account's passkeys are excluded (an authenticator registers once).
pub async fn begin_registration(
    state: &Identity,
    caller: &AuthUser,
) -> Result<PasskeyRegistrationOptions, IdentityError> {
    // Whoever holds the token would own a way into the account: a sensitive action.
    caller.require(Action::ManageOwnFactors)?;
    caller.require_recent_authentication()?;
    let user = state.accounts.account(&caller.user_id).await?.ok_or(IdentityError::Unauthorized)?;
    if user.factors.passkeys.len() >= MAX_PASSKEYS {
        return Err(IdentityError::TooManyPasskeys);
    }
    let existing = user.factors.passkeys.iter().map(stored).collect::<Result<Vec<_>, _>>()?;
    let exclude = existing.iter().map(|p| p.cred_id().clone()).collect();
    let user_handle = Uuid::parse_str(&user.id.0).map_err(anyhow::Error::from)?;
    let email = user.email.to_string();
    let (options, registration) = webauthn(state)?
        .start_passkey_registration(user_handle, &email, &email, Some(exclude))
        .map_err(|e| anyhow::anyhow!("starting a passkey registration: {e}"))?;
    let owner = (&user.id, user.email.key(), user.credential_version);
    let ceremony =
        keep_ceremony(state, TokenKind::PasskeyRegistration, None, owner, Some(json(&registration)?)).await?;
    Ok(PasskeyRegistrationOptions { ceremony, options, expires_in: CEREMONY_TTL.whole_seconds() as u64 })
}

/// Finishes a registration with the authenticator's answer: the passkey is the account's.
pub async fn finish_registration(
    state: &Identity,
    caller: &AuthUser,
    ceremony: &str,
    credential: &AuthenticatorAnswer,
    name: Option<&str>,
    client: Client<'_>,
) -> Result<PasskeyRegistered, IdentityError> {
    caller.require(Action::ManageOwnFactors)?;
    let mut errors = Vec::new();
    let name = single_line("name", name.unwrap_or_default(), 64, false, &mut errors);
    if !errors.is_empty() {
        return Err(IdentityError::Validation(errors));
    }
    let name = name.filter(|n| !n.is_empty()).unwrap_or_else(|| "Passkey".to_string());
    let token = state.tokens.take_token(TokenKind::PasskeyRegistration, &hash_token(ceremony)).await?;
    let token = token
        .filter(|t| t.user_id == caller.user_id && t.expires_at > state.clock.now())
        .ok_or(IdentityError::InvalidPasskey)?;
    let registration: PasskeyRegistration = serde_json::from_str(token.payload.as_deref().unwrap_or_default())
        .map_err(|_| IdentityError::InvalidPasskey)?;
    let passkey = webauthn(state)?
        .finish_passkey_registration(&read_answer::<RegisterPublicKeyCredential>(credential)?, &registration)
        .map_err(unusable)?;
    let codes = generate_recovery_codes();
    let hashes = codes.iter().filter_map(|c| recovery_code_hash(c)).collect::<Vec<_>>();
    let factor = PasskeyFactor {
        id: credential_id(&passkey),
        name,
        created_at: state.clock.now(),
        last_used_at: None,
        credential: json(&passkey)?,
    };
    let user = state
        .lifecycle()
        .add_passkey(&caller.user_id, factor.clone(), token.credential_version, hashes.clone())
        .await
        .map_err(|e| match e {
            AccountError::NotFound => IdentityError::Unauthorized,
            AccountError::Conflict => IdentityError::InvalidPasskey,
            e => e.into(),
        })?;
    let codes_given = user.factors.recovery_codes == hashes;
    tracing::info!(user_id = %user.id, "passkey registered");
    announce_factor(state, &user, NewFactor::Passkey { id: &factor.id, name: &factor.name }, client).await;
    Ok(PasskeyRegistered { passkey: (&factor).into(), recovery_codes: codes_given.then_some(codes) })
}

/// Removes one of the caller's passkeys.
/// Removes one of the caller's passkeys: a sensitive action (step-up).
pub async fn remove(state: &Identity, caller: &AuthUser, id: &str, client: Client<'_>) -> Result<(), IdentityError> {
    caller.require(Action::ManageOwnFactors)?;
    caller.require_recent_authentication()?;
    state
        .lifecycle()
        .remove_passkey(&caller.user_id, id)
        .await
        .map_err(IdentityError::or_missing(IdentityError::Unauthorized))?;
    state.record(&caller.user_id, ActivityKind::FactorRemoved, client, format!("passkey {id}")).await
}

/// The options and state of an authentication with the account's passkeys.
pub(crate) fn start_authentication(
    state: &Identity,
    user: &User,
) -> Result<(RequestChallengeResponse, PasskeyAuthentication), IdentityError> {
    let passkeys = user.factors.passkeys.iter().map(stored).collect::<Result<Vec<_>, _>>()?;
    Ok(webauthn(state)?
        .start_passkey_authentication(&passkeys)
        .map_err(|e| anyhow::anyhow!("starting a passkey authentication: {e}"))?)
}

/// Options that look like an account's, for an address without passkeys or without an account:
/// `webauthn-rs`'s believable decoy credential ids, the same for the address each time (the
/// sign-in does not tell who has passkeys, nor who has an account).
async fn decoy_options(state: &Identity, email_key: &str) -> Result<RequestChallengeResponse, IdentityError> {
    let (mut options, _) = webauthn(state)?
        .start_discoverable_authentication()
        .map_err(|e| anyhow::anyhow!("starting a passkey authentication: {e}"))?;
    options.mediation = None;
    options.public_key.extensions = None;
    let decoys = state.keys.factor_sealer().await.decoy_credential_ids(email_key)?;
    options.public_key.allow_credentials = decoys
        .into_iter()
        .map(|id| webauthn_rs_proto::AllowCredentials { type_: "public-key".into(), id, transports: None })
        .collect();
    Ok(options)
}

/// Checks an authenticator's answer against a ceremony's state and the account's passkeys:
/// the passkey that answered, and its credential as the answer leaves it when it changed.
///
/// The ceremony's state holds the counter as it was when the ceremony began; a use since then
/// (another ceremony started at the same time, or a clone of the authenticator) is seen only
/// in the account as read now. An answer whose counter does not pass that one is refused: a
/// signature counter never goes back, or stays, on the authenticator that holds the key.
pub(crate) fn check_answer(
    state: &Identity,
    user: &User,
    ceremony_state: Option<&str>,
    answer: &AuthenticatorAnswer,
) -> Result<(String, Option<PasskeyUpdate>), IdentityError> {
    let authentication: PasskeyAuthentication =
        serde_json::from_str(ceremony_state.unwrap_or_default()).map_err(|_| IdentityError::InvalidPasskey)?;
    let result = webauthn(state)?
        .finish_passkey_authentication(&read_answer::<PublicKeyCredential>(answer)?, &authentication)
        .map_err(unusable)?;
    let id = URL_SAFE_NO_PAD.encode(result.cred_id());
    let factor = user.factors.passkeys.iter().find(|p| p.id == id).ok_or(IdentityError::InvalidPasskey)?;
    // An authenticator without a counter (most synced passkeys) always answers 0.
    if result.counter() > 0 && result.counter() <= stored_counter(factor)? {
        tracing::warn!(user_id = %user.id, "a passkey answered with a signature counter already seen: a clone or a replay");
        return Err(IdentityError::InvalidPasskey);
    }
    let mut passkey = stored(factor)?;
    let update = match passkey.update_credential(&result) {
        Some(true) => Some(PasskeyUpdate { checked_against: factor.credential.clone(), credential: json(&passkey)? }),
        _ => None,
    };
    Ok((id, update))
}

/// The signature counter of a stored passkey (`webauthn-rs` keeps it in its credential and
/// compares it only with the copy a ceremony took when it began).
fn stored_counter(factor: &PasskeyFactor) -> Result<u32, IdentityError> {
    let credential: serde_json::Value = serde_json::from_str(&factor.credential).map_err(anyhow::Error::from)?;
    let counter = credential["cred"]["counter"].as_u64().and_then(|c| u32::try_from(c).ok());
    Ok(counter.ok_or_else(|| anyhow::anyhow!("a stored passkey without a signature counter"))?)
}

/// Records a passkey's use on the account (conditional on the account as the ceremony saw it).
pub(crate) async fn spend(
    state: &Identity,
    user: &User,
    passkey_id: &str,
    update: Option<PasskeyUpdate>,
    credential_version: u64,
) -> Result<User, IdentityError> {
    state.lifecycle().use_passkey(&user.id, passkey_id, update, credential_version).await.map_err(|e| match e {
        AccountError::NotFound | AccountError::Conflict | AccountError::Factor(_) => IdentityError::InvalidPasskey,
        e => e.into(),
    })
}

/// Starts a step-up with one of the caller's passkeys: options naming them, bound to `source`.
pub async fn begin_step_up(
    state: &Identity,
    caller: &AuthUser,
    source: &Source,
) -> Result<PasskeySignInOptions, IdentityError> {
    caller.require(Action::ManageOwnFactors)?;
    let user = state.accounts.account(&caller.user_id).await?.ok_or(IdentityError::Unauthorized)?;
    if user.factors.passkeys.is_empty() {
        return Err(IdentityError::NoSuchFactor);
    }
    let (options, authentication) = start_authentication(state, &user)?;
    let owner = (&user.id, user.email.key(), user.credential_version);
    let payload = Some(json(&authentication)?);
    let ceremony = keep_ceremony(state, TokenKind::PasskeyStepUp, Some(source), owner, payload).await?;
    Ok(PasskeySignInOptions { ceremony, options, expires_in: CEREMONY_TTL.whole_seconds() as u64 })
}

/// Finishes a step-up ceremony of `user` (taken, once) with the passkey's answer.
pub(crate) async fn finish_step_up(
    state: &Identity,
    user: &User,
    ceremony: &str,
    answer: &AuthenticatorAnswer,
    source: &Source,
) -> Result<(), IdentityError> {
    let token = state.tokens.take_token(TokenKind::PasskeyStepUp, &challenge_hash(ceremony, source)).await?;
    let token = token
        .filter(|t| t.user_id == user.id && t.expires_at > state.clock.now())
        .ok_or(IdentityError::InvalidPasskey)?;
    let (passkey_id, updated) = check_answer(state, user, token.payload.as_deref(), answer)?;
    spend(state, user, &passkey_id, updated, token.credential_version).await?;
    Ok(())
}

/// Starts a sign-in with a passkey for `email`: options naming the account's passkeys (or a
/// decoy's), bound to `source`.
pub async fn begin_sign_in(
    state: &Identity,
    email: &str,
    source: &Source,
) -> Result<PasskeySignInOptions, IdentityError> {
    state.throttle().allow_passkey_sign_in(source).await?;
    // Only an address is looked up and kept with the ceremony. Any other string (it cannot be
    // an account's) gets decoys derived from it, and nothing of it is stored.
    let parsed = EmailAddress::parse(email).ok().map(|e| e.key());
    let user = match &parsed {
        Some(key) => state.accounts.account_by_email(key).await?,
        None => None,
    };
    let decoy_seed = parsed.clone().unwrap_or_else(|| email.trim().to_lowercase());
    let email_key = parsed.unwrap_or_default();
    let (options, token_user, credential_version, payload) = match user {
        Some(user) if !user.factors.passkeys.is_empty() => {
            let (mut options, authentication) = start_authentication(state, &user)?;
            // Transports are hints the decoys cannot have: without them the browser offers
            // every way to reach the authenticator, and real options look like decoys.
            for credential in &mut options.public_key.allow_credentials {
                credential.transports = None;
            }
            (options, user.id.clone(), user.credential_version, Some(json(&authentication)?))
        }
        // The same write as for an account with passkeys; it can never be finished.
        _ => (decoy_options(state, &decoy_seed).await?, UserId(String::new()), 0, None),
    };
    let owner = (&token_user, email_key, credential_version);
    let ceremony = keep_ceremony(state, TokenKind::PasskeySignIn, Some(source), owner, payload).await?;
    Ok(PasskeySignInOptions { ceremony, options, expires_in: CEREMONY_TTL.whole_seconds() as u64 })
}

/// Finishes a passkey sign-in: the answer verified against the ceremony (taken, once), the
/// session started. A passkey is two factors in one: staff sign in with it alone.
pub async fn finish_sign_in(
    state: &Identity,
    ceremony: &str,
    answer: &AuthenticatorAnswer,
    client: Client<'_>,
) -> Result<TokenPair, IdentityError> {
    let (source, _) = client;
    if ceremony.len() != 43 {
        return Err(IdentityError::InvalidPasskey);
    }
    let token = state.tokens.take_token(TokenKind::PasskeySignIn, &challenge_hash(ceremony, source)).await?;
    let token = token
        .filter(|t| t.expires_at > state.clock.now() && t.payload.is_some())
        .ok_or(IdentityError::InvalidPasskey)?;
    let user = state.accounts.account(&token.user_id).await?;
    let user = user
        .filter(|u| u.credential_version == token.credential_version && u.email.key() == token.email_key)
        .ok_or(IdentityError::InvalidPasskey)?;
    let (passkey_id, updated) = check_answer(state, &user, token.payload.as_deref(), answer)?;
    let user = spend(state, &user, &passkey_id, updated, token.credential_version).await?;
    let amr = [AMR_HARDWARE_KEY, AMR_MULTI_FACTOR].map(String::from).to_vec();
    let user_id = user.id.clone();
    let pair = start_session(state, user, None, amr, client).await?;
    tracing::info!(%user_id, "signed in with a passkey");
    Ok(pair)
}

/// What a client sends to finish a registration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishRegistration {
    pub ceremony: String,
    /// The authenticator's answer as JSON (`PublicKeyCredential.toJSON()` of what
    /// `navigator.credentials.create()` gave).
    #[schema(value_type = Object)]
    pub credential: AuthenticatorAnswer,
    /// What to call it ("laptop", "phone"); `Passkey` if left out.
    #[schema(example = "laptop")]
    pub name: Option<String>,
}
