//! Signing in with a provider (Google, Apple, GitHub, any OpenID provider), independent of HTTP.
//!
//! 1. `start`: the provider's page to send the browser to. What the flow needs when the browser
//!    comes back (PKCE's verifier, the nonce, where to return) stays here, as a single-use token
//!    stored by the hash of the `state` sent to the provider and of a secret given to the
//!    browser (its cookie): the provider's answer is taken only from the browser that started.
//! 2. `finish`: the provider's answer proves a provider account. What it comes to is decided
//!    now and kept as a single-use result for the front end, which gets only its code (never a
//!    token in a URL): the account it signs in to, a new account, or an existing account to
//!    prove first.
//! 3. `exchange`: the front end's code, from where the sign-in ended, once: the token pair, the
//!    second factor's challenge (staff, and anyone with a factor), or the link to prove.
//!
//! An address is never enough to link: a provider's account whose address is an existing
//! account's is linked only when that account's password is given too (`link_with_password`).
//! A linked provider account is found by the provider's subject, never by its address, so an
//! address that changes hands at the provider moves nothing here.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;

use super::{
    Identity, IdentityError,
    caller::AuthUser,
    client::{Client, Source},
    second_factor::{self, LoginOutcome, SecondFactorChallenge},
    sessions::{AMR_FEDERATED, AMR_PASSWORD, TokenPair, start_session},
    single_use::{challenge_hash, take_token},
};
use crate::{
    accounts::AccountError,
    credentials::tokens::{hash_token, random_token},
    domain::{Action, EmailAddress, LinkedIdentity, Profile, User, UserId, single_line},
    federation::{Federation, FederationError, Pending, ProviderIdentity, ProviderSettings},
    ports::{ActivityKind, EmailJob, EmailMessage, Job, OneTimeToken, TokenKind},
};

/// How long the person may spend at the provider.
pub const FLOW_TTL: Duration = Duration::minutes(10);
/// How long the front end has to exchange its code.
pub const RESULT_TTL: Duration = Duration::minutes(2);
/// How long an existing account may be proven to link a provider's account to it.
pub const LINK_TTL: Duration = Duration::minutes(10);

/// A provider people may sign in with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderView {
    /// What `GET /api/v1/auth/providers/start?provider=` takes.
    #[schema(example = "google")]
    pub id: String,
    #[schema(example = "Google")]
    pub name: String,
}

/// The providers configured now.
pub async fn providers(federation: &Federation) -> Vec<ProviderView> {
    let settings = federation.settings().await;
    settings.providers.iter().map(|p| ProviderView { id: p.id.clone(), name: p.name.clone() }).collect()
}

/// A started sign-in: send the browser to `location`, with `browser` as its cookie.
pub struct Started {
    pub location: String,
    pub browser: String,
}

/// The flow's state while the person is at the provider.
#[derive(Deserialize, Serialize)]
struct Flow {
    provider: String,
    redirect_to: String,
    pending: Pending,
    /// A signed-in account's link (`begin_link`): the provider's account is linked to it, not
    /// signed in with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    link_to: Option<LinkIntent>,
}

/// Who asked to link, from which session.
#[derive(Clone, Deserialize, Serialize)]
struct LinkIntent {
    user_id: UserId,
    session_id: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    redirect_to: String,
}

/// What a provider's sign-in came to, kept until the front end exchanges its code.
#[derive(Deserialize, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum Outcome {
    /// The provider's account is this account's (linked, or the account was made for it now).
    SignIn { user_id: UserId, provider: String, subject: String },
    /// The provider's address is this existing account's: prove it to link.
    LinkRequired { user_id: UserId, provider: String, identity: StoredIdentity },
    /// A signed-in account asked to link this provider's account: linked when the same session
    /// confirms it (`confirm_link`).
    Link { intent: LinkIntent, provider: String, identity: StoredIdentity },
}

/// A provider's account as the result keeps it.
#[derive(Clone, Deserialize, Serialize)]
struct StoredIdentity {
    subject: String,
    email: Option<String>,
}

/// Starts a sign-in with `provider`, to come back to `callback` (this service's) and then to
/// `redirect_to` (a front end's page on the operator's list), counted on `source` first.
///
/// A link asked for by a signed-in account (`begin_link`) is started by its `link` token, for
/// the provider and front end it named.
pub async fn start(
    state: &Identity,
    federation: &Federation,
    provider: &str,
    redirect_to: &str,
    link: Option<&str>,
    callback: &str,
    source: &Source,
) -> Result<Started, IdentityError> {
    state.throttle().allow_provider_sign_in(source).await?;
    let settings = federation.settings().await;
    let provider = settings.provider(provider).ok_or(IdentityError::UnknownProvider)?;
    if !settings.allows_return_to(redirect_to) && !state.config.allows_front_end(redirect_to) {
        return Err(IdentityError::RedirectNotAllowed);
    }
    let link_to = match link {
        None => None,
        Some(token) => {
            let (record, _) =
                take_token(state.tokens.as_ref(), state.clock.as_ref(), TokenKind::ProviderLinkIntent, token)
                    .await
                    .map_err(|_| IdentityError::InvalidSignInFlow)?;
            let intent: LinkIntent =
                serde_json::from_str(record.payload.as_deref().unwrap_or_default()).map_err(anyhow::Error::from)?;
            if intent.provider != provider.id || intent.redirect_to != redirect_to {
                return Err(IdentityError::InvalidSignInFlow);
            }
            Some(intent)
        }
    };
    let flow_state = random_token();
    let browser = random_token();
    let (location, pending) =
        federation.authorization(provider, &flow_state, callback).await.map_err(federation_error)?;
    let flow = Flow { provider: provider.id.clone(), redirect_to: redirect_to.to_string(), pending, link_to };
    let flow = serde_json::to_string(&flow).map_err(anyhow::Error::from)?;
    state
        .tokens
        .put_token(&unbound_token(
            challenge_hash(&flow_state, &Source(browser.clone())),
            TokenKind::ProviderSignIn,
            state.clock.now() + FLOW_TTL,
            flow,
        ))
        .await?;
    Ok(Started { location: location.to_string(), browser })
}

/// A token of an account, at its current address and credential (a change to either voids it
/// where it is used).
fn account_token(
    user: &User,
    hash: String,
    kind: TokenKind,
    expires_at: OffsetDateTime,
    payload: String,
) -> OneTimeToken {
    OneTimeToken {
        user_id: user.id.clone(),
        email_key: user.email.key(),
        credential_version: user.credential_version,
        ..unbound_token(hash, kind, expires_at, payload)
    }
}

/// A token of no account yet (not indexed by one).
fn unbound_token(hash: String, kind: TokenKind, expires_at: OffsetDateTime, payload: String) -> OneTimeToken {
    OneTimeToken {
        hash,
        kind,
        user_id: UserId(String::new()),
        email_key: String::new(),
        expires_at,
        credential_version: 0,
        reset_generation: 0,
        payload: Some(payload),
    }
}

fn federation_error(e: FederationError) -> IdentityError {
    match e {
        FederationError::Unavailable(why) => {
            tracing::error!(why, "a sign-in provider is unavailable");
            IdentityError::ProviderUnavailable { retry_after_secs: 30 }
        }
        FederationError::Refused(why) => {
            tracing::warn!(why, "a provider's answer was refused");
            IdentityError::ProviderSignInFailed
        }
    }
}

/// The provider's answer, as the browser brought it back.
pub struct ProviderAnswer<'a> {
    pub state: &'a str,
    /// The cookie `start` gave the browser.
    pub browser: Option<&'a str>,
    pub code: Option<&'a str>,
    /// The provider's `error` (the person declined, say).
    pub error: Option<&'a str>,
}

/// Where the browser goes once the provider answered: the front end's page with `code` (to
/// exchange) or `error` (a stable code of ours). `Err` when the answer belongs to no sign-in
/// this browser started (then there is no front end to send it to).
pub async fn finish(
    state: &Identity,
    federation: &Federation,
    answer: ProviderAnswer<'_>,
    callback: &str,
    source: &Source,
) -> Result<String, IdentityError> {
    let browser = answer.browser.filter(|b| b.len() == 43).ok_or(IdentityError::InvalidSignInFlow)?;
    if answer.state.len() != 43 {
        return Err(IdentityError::InvalidSignInFlow);
    }
    let hash = challenge_hash(answer.state, &Source(browser.to_string()));
    let record = state.tokens.take_token(TokenKind::ProviderSignIn, &hash).await?;
    let record = record.filter(|r| r.expires_at > state.clock.now()).ok_or(IdentityError::InvalidSignInFlow)?;
    let flow: Flow =
        serde_json::from_str(record.payload.as_deref().unwrap_or_default()).map_err(anyhow::Error::from)?;
    let back = |query: &str| with_query(&flow.redirect_to, query);
    let outcome = match sign_in_outcome(state, federation, &flow, &answer, callback, source).await {
        Ok(outcome) => outcome,
        Err(e) => return refusal_code(e).map(|code| back(&format!("error={code}"))),
    };
    let code = random_token();
    let outcome = serde_json::to_string(&outcome).map_err(anyhow::Error::from)?;
    let expires = state.clock.now() + RESULT_TTL;
    state
        .tokens
        .put_token(&unbound_token(challenge_hash(&code, source), TokenKind::ProviderResult, expires, outcome))
        .await?;
    Ok(back(&format!("code={code}")))
}

/// A refusal as the front end is told it (the problem codes of the same refusals elsewhere);
/// anything else is this service's failure, answered as one.
fn refusal_code(e: IdentityError) -> Result<&'static str, IdentityError> {
    Ok(match e {
        IdentityError::ProviderUnavailable { .. } => "provider_unavailable",
        IdentityError::ProviderSignInFailed => "provider_sign_in_failed",
        IdentityError::ProviderEmailUnverified => "provider_email_unverified",
        IdentityError::UnknownProvider => "unknown_provider",
        IdentityError::TooManyRegistrations { .. } => "too_many_registrations",
        e => return Err(e),
    })
}

fn with_query(url: &str, query: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{query}")
}

async fn sign_in_outcome(
    state: &Identity,
    federation: &Federation,
    flow: &Flow,
    answer: &ProviderAnswer<'_>,
    callback: &str,
    source: &Source,
) -> Result<Outcome, IdentityError> {
    if let Some(error) = answer.error {
        tracing::info!(provider = flow.provider, error, "the provider answered a sign-in with an error");
        return Err(IdentityError::ProviderSignInFailed);
    }
    let code = answer.code.filter(|c| !c.is_empty() && c.len() <= 2048).ok_or(IdentityError::ProviderSignInFailed)?;
    let settings = federation.settings().await;
    // The operator may have removed the provider since the sign-in started.
    let provider = settings.provider(&flow.provider).ok_or(IdentityError::UnknownProvider)?;
    let identity = federation.identify(provider, &flow.pending, code, callback).await.map_err(federation_error)?;
    match &flow.link_to {
        Some(intent) => Ok(Outcome::Link {
            intent: intent.clone(),
            provider: provider.id.clone(),
            identity: StoredIdentity { subject: identity.subject, email: identity.email },
        }),
        None => account_for(state, provider, identity, source).await,
    }
}

/// The account a proven provider account signs in to, made now if it is new (counted as a
/// registration from `source` first, as a registration and an emailed sign-up are).
async fn account_for(
    state: &Identity,
    provider: &ProviderSettings,
    identity: ProviderIdentity,
    source: &Source,
) -> Result<Outcome, IdentityError> {
    let signs_in = |user: &User| Outcome::SignIn {
        user_id: user.id.clone(),
        provider: provider.id.clone(),
        subject: identity.subject.clone(),
    };
    if let Some(user) = state.accounts.account_by_identity(&provider.id, &identity.subject).await? {
        return Ok(signs_in(&user));
    }
    let email = identity.email.as_deref().and_then(|e| EmailAddress::parse(e).ok());
    let Some(email) = email else { return Err(IdentityError::ProviderEmailUnverified) };
    let link_required = |user: &User| Outcome::LinkRequired {
        user_id: user.id.clone(),
        provider: provider.id.clone(),
        identity: StoredIdentity { subject: identity.subject.clone(), email: identity.email.clone() },
    };
    // The address is an account's (a registration never confirmed holds none): never linked on
    // the address alone.
    let holder = state.accounts.account_by_email(&email.key()).await?;
    if let Some(holder) = holder.filter(|u| u.status != crate::domain::AccountStatus::Pending) {
        // Another sign-in of this provider account may have made it since the look-up above.
        if holder.identity(&provider.id, &identity.subject).is_some() {
            return Ok(signs_in(&holder));
        }
        return Ok(link_required(&holder));
    }
    if !identity.email_verified {
        return Err(IdentityError::ProviderEmailUnverified);
    }
    state.throttle().allow_registration(source).await?;
    let linked = LinkedIdentity {
        provider: provider.id.clone(),
        subject: identity.subject.clone(),
        email: identity.email.clone(),
        linked_at: state.clock.now(),
    };
    match state.lifecycle().join_with_identity(email.clone(), profile_of(&identity, &email), linked).await {
        Ok(user) => Ok(signs_in(&user)),
        // Another sign-in of the same provider account made it a moment ago: that one.
        Err(AccountError::IdentityTaken) => state
            .accounts
            .account_by_identity(&provider.id, &identity.subject)
            .await?
            .map(|user| signs_in(&user))
            .ok_or(IdentityError::Account(AccountError::Conflict)),
        // The address was taken a moment ago: by another sign-in of the same provider account
        // (then that account), or by a registration (then theirs to prove).
        Err(AccountError::EmailTaken) => {
            if let Some(user) = state.accounts.account_by_identity(&provider.id, &identity.subject).await? {
                return Ok(signs_in(&user));
            }
            match state.accounts.account_by_email(&email.key()).await? {
                Some(holder) => Ok(link_required(&holder)),
                None => Err(IdentityError::Account(AccountError::Conflict)),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// A new account's names, from what the provider says (cleaned as a profile's are).
fn profile_of(identity: &ProviderIdentity, email: &EmailAddress) -> Profile {
    let clean = |field, name: Option<&str>| {
        let mut errors = Vec::new();
        let name: String = name.unwrap_or_default().chars().take(100).collect();
        single_line(field, &name, 100, false, &mut errors).filter(|n| errors.is_empty() && !n.is_empty())
    };
    let first_name =
        clean("first_name", identity.given_name.as_deref()).unwrap_or_else(|| Profile::from_address(email).first_name);
    let last_name = clean("last_name", identity.family_name.as_deref()).unwrap_or_default();
    Profile { first_name, last_name, nickname: None, bio: None }
}

/// A provider's account to link to an existing account once that account is proven.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkRequired {
    /// Send it with the account's password to `POST /api/v1/auth/providers/link`, from the same
    /// source, within `expires_in` seconds.
    pub link_ceremony: String,
    /// The account the provider's address belongs to.
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// The provider's id.
    #[schema(example = "google")]
    pub provider: String,
    #[schema(example = 600)]
    pub expires_in: u64,
}

/// What exchanging a provider sign-in's code answers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ProviderSignInOutcome {
    Tokens(Box<TokenPair>),
    SecondFactor(SecondFactorChallenge),
    LinkRequired(LinkRequired),
}

impl From<LoginOutcome> for ProviderSignInOutcome {
    fn from(outcome: LoginOutcome) -> Self {
        match outcome {
            LoginOutcome::Tokens(pair) => ProviderSignInOutcome::Tokens(pair),
            LoginOutcome::SecondFactor(challenge) => ProviderSignInOutcome::SecondFactor(challenge),
        }
    }
}

/// The front end's code, once, from where the sign-in ended.
pub async fn exchange(
    state: &Identity,
    code: &str,
    client: Client<'_>,
) -> Result<ProviderSignInOutcome, IdentityError> {
    let (source, _) = client;
    if code.len() != 43 {
        return Err(IdentityError::InvalidSignInFlow);
    }
    let record = state.tokens.take_token(TokenKind::ProviderResult, &challenge_hash(code, source)).await?;
    let record = record.filter(|r| r.expires_at > state.clock.now()).ok_or(IdentityError::InvalidSignInFlow)?;
    let outcome: Outcome =
        serde_json::from_str(record.payload.as_deref().unwrap_or_default()).map_err(anyhow::Error::from)?;
    match outcome {
        Outcome::SignIn { user_id, provider, subject } => {
            let user = state.accounts.account(&user_id).await?;
            // Still linked: an unlink (or a deletion) since the provider answered wins.
            let user =
                user.filter(|u| u.identity(&provider, &subject).is_some()).ok_or(IdentityError::InvalidSignInFlow)?;
            Ok(sign_in(state, user, vec![AMR_FEDERATED.to_string()], client).await?.into())
        }
        // A link's result is the linking session's to confirm, not a sign-in.
        Outcome::Link { .. } => Err(IdentityError::InvalidSignInFlow),
        Outcome::LinkRequired { user_id, provider, identity } => {
            let user = state.accounts.account(&user_id).await?.ok_or(IdentityError::InvalidSignInFlow)?;
            let ceremony = random_token();
            let kept = Outcome::LinkRequired { user_id: user.id.clone(), provider: provider.clone(), identity };
            let token = account_token(
                &user,
                challenge_hash(&ceremony, source),
                TokenKind::ProviderLink,
                state.clock.now() + LINK_TTL,
                serde_json::to_string(&kept).map_err(anyhow::Error::from)?,
            );
            state.tokens.put_token(&token).await?;
            Ok(ProviderSignInOutcome::LinkRequired(LinkRequired {
                link_ceremony: ceremony,
                email: user.email.to_string(),
                provider,
                expires_in: LINK_TTL.whole_seconds() as u64,
            }))
        }
    }
}

/// A session for a proven account, or its second factor's challenge first.
async fn sign_in(
    state: &Identity,
    user: User,
    amr: Vec<String>,
    client: Client<'_>,
) -> Result<LoginOutcome, IdentityError> {
    if user.factors.any() {
        // The second step's session names the provider as the first (a link by password too:
        // the provider's account is what signs in from now on).
        let challenge = second_factor::challenge(state, &user, client.0, AMR_FEDERATED).await?;
        return Ok(LoginOutcome::SecondFactor(challenge));
    }
    let user_id = user.id.clone();
    let pair = start_session(state, user, None, amr, client).await?;
    tracing::info!(%user_id, "signed in with a provider");
    Ok(LoginOutcome::Tokens(Box::new(pair)))
}

/// Links the provider's account to the existing account its address belongs to, once the
/// account's password is given (counted as a login's check), then signs in as a login does. An
/// account with a second factor is not proven by its password alone: refused, nothing linked.
pub async fn link_with_password(
    state: &Identity,
    ceremony: &str,
    password: &str,
    client: Client<'_>,
) -> Result<ProviderSignInOutcome, IdentityError> {
    let (source, _) = client;
    if ceremony.len() != 43 {
        return Err(IdentityError::InvalidSignInFlow);
    }
    let hash = challenge_hash(ceremony, source);
    let record = state.tokens.peek_token(TokenKind::ProviderLink, &hash).await?;
    let record = record.filter(|r| r.expires_at > state.clock.now()).ok_or(IdentityError::InvalidSignInFlow)?;
    let user = state.accounts.account(&record.user_id).await?;
    // The account still has the address the provider's account was matched on.
    let user = user.filter(|u| u.email.key() == record.email_key).ok_or(IdentityError::InvalidSignInFlow)?;
    let throttle = state.throttle();
    let attempt = match throttle.check_current_password(&state.hasher, &user, password, source).await {
        Ok(attempt) => attempt,
        Err(IdentityError::WrongCurrentPassword) => {
            state.record(&user.id, ActivityKind::SignInFailed, client, "wrong password to link a provider").await?;
            return Err(IdentityError::InvalidCredentials);
        }
        Err(e) => return Err(e),
    };
    // A password alone does not prove an account with a second factor: it links a provider from
    // a session its factor signed in (`begin_link`), never here.
    if user.factors.any() {
        throttle.succeeded(attempt).await?;
        return Err(IdentityError::StepUpNeedsFactor);
    }
    // Proven: the link is made once, whoever else holds the ceremony.
    let record =
        state.tokens.take_token(TokenKind::ProviderLink, &hash).await?.ok_or(IdentityError::InvalidSignInFlow)?;
    let Ok(Outcome::LinkRequired { provider, identity, .. }) =
        serde_json::from_str::<Outcome>(record.payload.as_deref().unwrap_or_default())
    else {
        return Err(IdentityError::InvalidSignInFlow);
    };
    let user = link(state, &user, &provider, identity).await?;
    throttle.succeeded(attempt).await?;
    state.record(&user.id, ActivityKind::IdentityLinked, client, format!("{provider}, after its password")).await?;
    tracing::info!(user_id = %user.id, provider, "a provider's account was linked after the password");
    let amr = [AMR_PASSWORD, AMR_FEDERATED].map(String::from).to_vec();
    Ok(sign_in(state, user, amr, client).await?.into())
}

/// Links the provider's account to `user`, if the account is still at the credential it was
/// read with (the password or session that proved it is still its own).
async fn link(state: &Identity, user: &User, provider: &str, identity: StoredIdentity) -> Result<User, IdentityError> {
    let linked = LinkedIdentity {
        provider: provider.to_string(),
        subject: identity.subject,
        email: identity.email,
        linked_at: state.clock.now(),
    };
    let verified = user.credential_version;
    let (user, ()) = state
        .lifecycle()
        .modify(&user.id, |user| {
            if user.credential_version != verified {
                return Err(AccountError::Conflict);
            }
            // One account of a provider per account: another would be a second way in nobody
            // sees in the list as distinct.
            if user.identities.iter().any(|i| i.provider == linked.provider && i.subject != linked.subject) {
                return Err(AccountError::invalid(
                    "provider",
                    "already_linked",
                    "unlink this provider's other account first",
                ));
            }
            if user.identity(&linked.provider, &linked.subject).is_none() {
                user.identities.push(linked.clone());
            }
            Ok(())
        })
        .await?;
    Ok(user)
}

/// A provider's account linked to the caller's, as its owner sees it.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct IdentityView {
    /// The provider's id (`DELETE /api/v1/user/identities?provider=` takes it).
    #[schema(example = "google")]
    pub provider: String,
    /// The address the provider gave when it was linked.
    #[schema(example = "ada@gmail.com")]
    pub email: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub linked_at: OffsetDateTime,
}

impl From<&LinkedIdentity> for IdentityView {
    fn from(i: &LinkedIdentity) -> Self {
        Self { provider: i.provider.clone(), email: i.email.clone(), linked_at: i.linked_at }
    }
}

/// The caller's linked providers.
pub async fn identities(state: &Identity, caller: &AuthUser) -> Result<Vec<IdentityView>, IdentityError> {
    caller.require(Action::ManageOwnFactors)?;
    let user = state.accounts.account(&caller.user_id).await?.ok_or(IdentityError::Unauthorized)?;
    Ok(user.identities.iter().map(IdentityView::from).collect())
}

/// Where to send the browser to link a provider to the caller's account.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkStart {
    /// Navigate the browser there (not a fetch) within `expires_in` seconds. The provider's
    /// sign-in comes back to `redirect_to` with a `code` for `POST /api/v1/user/identities/confirm`.
    pub start_url: String,
    #[schema(example = 300)]
    pub expires_in: u64,
}

/// How long a link asked for may be started.
pub const LINK_START_TTL: Duration = Duration::minutes(5);

/// Asks to link `provider` to the caller's account (a recent authentication: a way in is at
/// stake); the sign-in it starts links only when this same session confirms it.
pub async fn begin_link(
    state: &Identity,
    federation: &Federation,
    caller: &AuthUser,
    provider: &str,
    redirect_to: &str,
) -> Result<LinkStart, IdentityError> {
    caller.require(Action::ManageOwnFactors)?;
    caller.require_recent_authentication()?;
    let settings = federation.settings().await;
    settings.provider(provider).ok_or(IdentityError::UnknownProvider)?;
    if !settings.allows_return_to(redirect_to) && !state.config.allows_front_end(redirect_to) {
        return Err(IdentityError::RedirectNotAllowed);
    }
    let user = state.accounts.account(&caller.user_id).await?.ok_or(IdentityError::Unauthorized)?;
    let intent = LinkIntent {
        user_id: user.id.clone(),
        session_id: caller.session_id.clone(),
        provider: provider.to_string(),
        redirect_to: redirect_to.to_string(),
    };
    let token = random_token();
    state
        .tokens
        .put_token(&account_token(
            &user,
            hash_token(&token),
            TokenKind::ProviderLinkIntent,
            state.clock.now() + LINK_START_TTL,
            serde_json::to_string(&intent).map_err(anyhow::Error::from)?,
        ))
        .await?;
    let mut url = url::Url::parse(&format!("{}/api/v1/auth/providers/start", state.config.public_url))
        .map_err(anyhow::Error::from)?;
    url.query_pairs_mut()
        .append_pair("provider", provider)
        .append_pair("redirect_to", redirect_to)
        .append_pair("link", &token);
    Ok(LinkStart { start_url: url.to_string(), expires_in: LINK_START_TTL.whole_seconds() as u64 })
}

/// Links the provider's account a link's sign-in proved, from the session that asked for it,
/// where the sign-in ended: a code that reaches another session or account links nothing.
pub async fn confirm_link(
    state: &Identity,
    caller: &AuthUser,
    code: &str,
    client: Client<'_>,
) -> Result<IdentityView, IdentityError> {
    caller.require(Action::ManageOwnFactors)?;
    let (source, _) = client;
    if code.len() != 43 {
        return Err(IdentityError::InvalidSignInFlow);
    }
    let record = state.tokens.take_token(TokenKind::ProviderResult, &challenge_hash(code, source)).await?;
    let record = record.filter(|r| r.expires_at > state.clock.now()).ok_or(IdentityError::InvalidSignInFlow)?;
    let outcome: Outcome =
        serde_json::from_str(record.payload.as_deref().unwrap_or_default()).map_err(anyhow::Error::from)?;
    let Outcome::Link { intent, provider, identity } = outcome else { return Err(IdentityError::InvalidSignInFlow) };
    if intent.user_id != caller.user_id || intent.session_id != caller.session_id {
        tracing::warn!(user_id = %caller.user_id, "a provider link confirmed by another session was refused");
        return Err(IdentityError::InvalidSignInFlow);
    }
    let user = state.accounts.account(&caller.user_id).await?.ok_or(IdentityError::Unauthorized)?;
    let user = link(state, &user, &provider, identity).await?;
    state.record(&user.id, ActivityKind::IdentityLinked, client, provider.clone()).await?;
    let linked = user.identities.iter().find(|i| i.provider == provider).ok_or(IdentityError::NotFound)?;
    Ok(linked.into())
}

/// Unlinks the caller's account of `provider` (a recent authentication), unless it is the
/// account's last way in: no password, no passkey, no other provider. Decided on the account
/// as it is written.
pub async fn unlink(
    state: &Identity,
    caller: &AuthUser,
    provider: &str,
    client: Client<'_>,
) -> Result<(), IdentityError> {
    caller.require(Action::ManageOwnFactors)?;
    caller.require_recent_authentication()?;
    let (user, ()) = state
        .lifecycle()
        .modify(&caller.user_id, |user| {
            let before = user.identities.len();
            user.identities.retain(|i| i.provider != provider);
            if user.identities.len() == before {
                return Err(AccountError::NotFound);
            }
            let ways_in = user.identities.len() + user.factors.passkeys.len() + usize::from(user.has_password());
            if ways_in == 0 {
                return Err(AccountError::invalid("provider", "last_way_in", "the account's last way in"));
            }
            Ok(())
        })
        .await
        .map_err(|e| match e {
            AccountError::NotFound => IdentityError::NotFound,
            AccountError::Invalid(errors) if errors.iter().any(|e| e.code == "last_way_in") => IdentityError::LastWayIn,
            e => e.into(),
        })?;
    state.record(&user.id, ActivityKind::IdentityUnlinked, client, provider.to_string()).await?;
    Ok(())
}

/// Emails the existing account a link that links the provider's account to it (the other proof
/// of the account than its password): counted on the address's emails, the ceremony spent. The
/// email names the provider as the operator does.
pub async fn email_link(
    state: &Identity,
    federation: &Federation,
    ceremony: &str,
    client: Client<'_>,
) -> Result<(), IdentityError> {
    let (source, _) = client;
    if ceremony.len() != 43 {
        return Err(IdentityError::InvalidSignInFlow);
    }
    let hash = challenge_hash(ceremony, source);
    let record = state.tokens.peek_token(TokenKind::ProviderLink, &hash).await?;
    let record = record.filter(|r| r.expires_at > state.clock.now()).ok_or(IdentityError::InvalidSignInFlow)?;
    state.throttle().allow_email_to(&record.email_key).await?;
    let record =
        state.tokens.take_token(TokenKind::ProviderLink, &hash).await?.ok_or(IdentityError::InvalidSignInFlow)?;
    let user = state.accounts.account(&record.user_id).await?;
    let user = user.filter(|u| u.email.key() == record.email_key).ok_or(IdentityError::InvalidSignInFlow)?;
    let Ok(Outcome::LinkRequired { provider, .. }) =
        serde_json::from_str::<Outcome>(record.payload.as_deref().unwrap_or_default())
    else {
        return Err(IdentityError::InvalidSignInFlow);
    };
    let settings = federation.settings().await;
    let provider_name = settings.provider(&provider).map_or_else(|| provider.clone(), |p| p.name.clone());
    let token = random_token();
    state
        .tokens
        .put_token(&account_token(
            &user,
            hash_token(&token),
            TokenKind::ProviderLinkByEmail,
            state.clock.now() + LINK_TTL,
            record.payload.unwrap_or_default(),
        ))
        .await?;
    let link = format!("{}{LINK_PAGE}?token={token}", state.config.public_url);
    let message = EmailMessage::LinkProvider { link, provider: provider_name };
    state.jobs.enqueue(&Job::SendEmail(EmailJob { to: user.email.to_string(), message })).await?;
    tracing::info!(user_id = %user.id, provider, "a provider link was emailed to the account's address");
    Ok(())
}

/// The page the emailed link opens.
pub const LINK_PAGE: &str = "/link-provider";

/// The emailed link's button: links the provider's account to the account, once, if the
/// account is still at the address and credential it was sent for. An account with a second
/// factor is not proven by its address alone: refused, nothing linked.
pub async fn link_by_emailed_link(state: &Identity, token: &str, client: Client<'_>) -> Result<String, IdentityError> {
    let (record, _) =
        take_token(state.tokens.as_ref(), state.clock.as_ref(), TokenKind::ProviderLinkByEmail, token).await?;
    let user = state.accounts.account(&record.user_id).await?;
    let user = user
        .filter(|u| u.email.key() == record.email_key && u.credential_version == record.credential_version)
        .ok_or(IdentityError::InvalidToken)?;
    if user.factors.any() {
        return Err(IdentityError::StepUpNeedsFactor);
    }
    let Ok(Outcome::LinkRequired { provider, identity, .. }) =
        serde_json::from_str::<Outcome>(record.payload.as_deref().unwrap_or_default())
    else {
        return Err(IdentityError::InvalidToken);
    };
    let user = link(state, &user, &provider, identity).await?;
    state
        .record(&user.id, ActivityKind::IdentityLinked, client, format!("{provider}, by a link emailed to the address"))
        .await?;
    Ok(provider)
}
