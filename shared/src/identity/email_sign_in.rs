//! Signing in by email, independent of HTTP: a six-digit code, or a link, and no password.
//!
//! 1. `ask`: counted per source and per address before anything is kept or sent. Keeps the
//!    address's sign-in (replacing one asked before: its code and link die) and emails its code,
//!    with a link when the ask named a front-end page to finish at. The same work and the same
//!    answer whether or not an account has the address: an address without one signs up by
//!    finishing (a reader, active, the address proven).
//! 2. `finish_with_code`: the address, or the flow id the ask answered, and the code (checked as
//!    `emailed_code` says: five checks, on the login's attempt records, and a day's checks per
//!    address).
//! 3. `open_link`: the button of the page the link opens (a GET changes nothing: mail scanners
//!    open links) takes the sign-in, once, and sends the browser to the front end's page with a
//!    single-use code, never a token in a URL. When the ask asked for it (`same_browser`), only
//!    the flow id the ask answered exchanges that code: a link forwarded to someone else, or
//!    opened by them, signs nobody in elsewhere.
//! 4. `exchange`: that code (and the flow id) for what a login answers.
//!
//! Whichever way it ends, an account with a second factor answers its challenge next, as after
//! a password; the session names `email` as its method (`amr`).

use serde::{Deserialize, Serialize};
use time::Duration;
use utoipa::ToSchema;

use super::{
    Identity, IdentityError,
    client::{Client, Source},
    emailed_code::{CODE_TTL, KeptCode, check_shape, counted_check},
    second_factor::{self, LoginOutcome},
    sessions::{AMR_EMAIL, start_session},
    single_use::challenge_hash,
    throttle::LoginAttempt,
};
use crate::{
    accounts::AccountError,
    credentials::tokens::{hash_token, random_token},
    domain::{AccountStatus, EmailAddress, FieldError, Profile, User, UserId},
    ports::{EmailJob, EmailMessage, Job, OneTimeToken, TokenKind},
};

/// How long the front end has to exchange the code a link gave it.
pub const RESULT_TTL: Duration = Duration::minutes(2);
/// The page the emailed link opens (in the auth group, beside the other links' pages).
pub const LINK_PAGE: &str = "/email-sign-in";

/// What the ask answers, whether or not an account has the address.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailSignInAsked {
    /// Keep it where the sign-in was asked (the front end's session storage): it finishes with
    /// the code instead of the address, and exchanges the link's code when the ask was
    /// `same_browser`.
    pub flow_id: String,
    /// How long the code and the link work, in seconds.
    #[schema(example = 600)]
    pub expires_in: u64,
}

/// An ask as the person made it.
pub struct Ask<'a> {
    pub email: &'a str,
    /// The front end's page the link's button ends at (with `?code=`); without one, the email
    /// has only the code.
    pub redirect_to: Option<&'a str>,
    /// Only the flow id exchanges the link's code: the link signs in only where it was asked.
    pub same_browser: bool,
}

/// An address's sign-in under way, as kept (hashes only).
#[derive(Deserialize, Serialize)]
struct Kept {
    /// The address (a new account gets it).
    email: String,
    code: KeptCode,
    /// The hash of the flow id's secret.
    flow: String,
    /// The hash of the link's secret, when the email has a link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    redirect_to: Option<String>,
    #[serde(default)]
    same_browser: bool,
}

/// Where an address's sign-in is kept: one per address, a newer ask replacing it.
fn sign_in_key(email_key: &str) -> String {
    hash_token(&format!("email-sign-in\n{email_key}"))
}

/// A flow id or a link's token: `<where it is kept>.<its secret>`.
fn split(token: &str) -> Option<(&str, &str)> {
    let (key, secret) = token.split_once('.')?;
    (key.len() == 43 && secret.len() == 43).then_some((key, secret))
}

/// Emails a sign-in code (and link) to the address, counted first per source and per address.
pub async fn ask(state: &Identity, ask: Ask<'_>, source: &Source) -> Result<EmailSignInAsked, IdentityError> {
    let email = EmailAddress::parse(ask.email)
        .map_err(|why| IdentityError::Validation(vec![FieldError::new("email", "invalid_email", why)]))?;
    if let Some(redirect_to) = ask.redirect_to
        && !state.config.allows_front_end(redirect_to)
    {
        return Err(IdentityError::RedirectNotAllowed);
    }
    if ask.same_browser && ask.redirect_to.is_none() {
        let why = "the link ends at `redirect_to`: ask for one to bind it to this browser";
        return Err(IdentityError::Validation(vec![FieldError::new("same_browser", "needs_redirect_to", why)]));
    }
    let throttle = state.throttle();
    throttle.allow_email_sign_in(source).await?;
    throttle.allow_email_to(&email.key()).await?;
    let key = sign_in_key(&email.key());
    let (code, kept_code) = KeptCode::generate();
    let flow_secret = random_token();
    let link_secret = ask.redirect_to.map(|_| random_token());
    let kept = Kept {
        email: email.to_string(),
        code: kept_code,
        flow: hash_token(&flow_secret),
        link: link_secret.as_deref().map(hash_token),
        redirect_to: ask.redirect_to.map(str::to_string),
        same_browser: ask.same_browser,
    };
    state
        .tokens
        .put_token(&OneTimeToken {
            hash: key.clone(),
            kind: TokenKind::EmailSignIn,
            user_id: UserId(String::new()),
            email_key: email.key(),
            expires_at: state.clock.now() + CODE_TTL,
            credential_version: 0,
            reset_generation: 0,
            payload: Some(serde_json::to_string(&kept).map_err(anyhow::Error::from)?),
        })
        .await?;
    let link = link_secret.map(|secret| format!("{}{LINK_PAGE}?token={key}.{secret}", state.config.public_url));
    let message = EmailMessage::SignInCode { code, link };
    state.jobs.enqueue(&Job::SendEmail(EmailJob { to: email.to_string(), message })).await?;
    Ok(EmailSignInAsked { flow_id: format!("{key}.{flow_secret}"), expires_in: CODE_TTL.whole_seconds() as u64 })
}

/// Which sign-in a code finishes: the address's, or the flow's the ask answered.
pub enum Finish<'a> {
    Email(&'a str),
    FlowId(&'a str),
}

/// Finishes with the emailed code: the session (or the second factor's challenge), for the
/// address's account or a new reader's. A wrong, used, replaced or dead code is `invalid_code`.
pub async fn finish_with_code(
    state: &Identity,
    finish: Finish<'_>,
    code: &str,
    client: Client<'_>,
) -> Result<LoginOutcome, IdentityError> {
    let (source, _) = client;
    check_shape(code, "code")?;
    let (key, email_key, flow_secret) = match finish {
        Finish::Email(email) => {
            let email = EmailAddress::parse(email).map_err(|_| IdentityError::InvalidCode)?;
            (sign_in_key(&email.key()), email.key(), None)
        }
        Finish::FlowId(flow_id) => {
            let (key, secret) = split(flow_id).ok_or(IdentityError::InvalidCode)?;
            // The attempt records are the address's: the flow's sign-in names it.
            let record = state.tokens.peek_token(TokenKind::EmailSignIn, key).await?;
            (key.to_string(), record.ok_or(IdentityError::InvalidCode)?.email_key, Some(secret))
        }
    };
    let (attempt, record) = counted_check(state, (TokenKind::EmailSignIn, &key), &email_key, source).await?;
    let payload = record.payload.unwrap_or_default();
    let kept: Kept = serde_json::from_str(&payload).map_err(anyhow::Error::from)?;
    let flow_matches = flow_secret.is_none_or(|secret| hash_token(secret) == kept.flow);
    if !flow_matches || !kept.code.matches(code) {
        return Err(IdentityError::InvalidCode);
    }
    let email = EmailAddress::parse(&kept.email).map_err(|why| anyhow::anyhow!("a kept address: {why}"))?;
    let account = account_to_sign_in(state, &email, source).await?;
    // Right: taken once, whoever else holds it (and not a newer one asked for since).
    state.tokens.take_token_if(TokenKind::EmailSignIn, &key, &payload).await?.ok_or(IdentityError::InvalidCode)?;
    sign_in(state, account, &email, Some(attempt), client).await
}

/// The button of the link's page: takes the sign-in once and answers where the browser goes
/// next, the front end's page with a single-use `code`. A link used, replaced, expired or not
/// ours is `invalid_token`.
pub async fn open_link(state: &Identity, token: &str, source: &Source) -> Result<String, IdentityError> {
    let (key, secret) = split(token).ok_or(IdentityError::InvalidToken)?;
    let record = state.tokens.peek_token(TokenKind::EmailSignIn, key).await?;
    let record = record.filter(|r| r.expires_at > state.clock.now()).ok_or(IdentityError::InvalidToken)?;
    let payload = record.payload.unwrap_or_default();
    let kept: Kept = serde_json::from_str(&payload).map_err(anyhow::Error::from)?;
    let (Some(link), Some(redirect_to)) = (&kept.link, &kept.redirect_to) else {
        return Err(IdentityError::InvalidToken);
    };
    if hash_token(secret) != *link {
        return Err(IdentityError::InvalidToken);
    }
    // Pressed twice at once (or the code used meanwhile): one of them takes it.
    state.tokens.take_token_if(TokenKind::EmailSignIn, key, &payload).await?.ok_or(IdentityError::InvalidToken)?;
    let code = random_token();
    // Bound to the flow (only the flow id exchanges it) or to where the button was pressed.
    let bound_to = if kept.same_browser { Source(kept.flow.clone()) } else { source.clone() };
    state
        .tokens
        .put_token(&OneTimeToken {
            hash: challenge_hash(&code, &bound_to),
            kind: TokenKind::EmailSignInResult,
            user_id: UserId(String::new()),
            email_key: record.email_key,
            expires_at: state.clock.now() + RESULT_TTL,
            credential_version: 0,
            reset_generation: 0,
            payload: Some(kept.email.clone()),
        })
        .await?;
    let separator = if redirect_to.contains('?') { '&' } else { '?' };
    Ok(format!("{redirect_to}{separator}code={code}"))
}

/// The front end's code from the link, once: with the flow id when the ask was `same_browser`,
/// else from where the link's button was pressed. Unknown, used, expired or from elsewhere:
/// `invalid_sign_in_flow`.
pub async fn exchange(
    state: &Identity,
    code: &str,
    flow_id: Option<&str>,
    client: Client<'_>,
) -> Result<LoginOutcome, IdentityError> {
    let (source, _) = client;
    if code.len() != 43 {
        return Err(IdentityError::InvalidSignInFlow);
    }
    let bound_to = match flow_id {
        Some(flow_id) => Source(hash_token(split(flow_id).ok_or(IdentityError::InvalidSignInFlow)?.1)),
        None => source.clone(),
    };
    let record = state.tokens.take_token(TokenKind::EmailSignInResult, &challenge_hash(code, &bound_to)).await?;
    let record = record.filter(|r| r.expires_at > state.clock.now()).ok_or(IdentityError::InvalidSignInFlow)?;
    let email = EmailAddress::parse(record.payload.as_deref().unwrap_or_default())
        .map_err(|why| anyhow::anyhow!("a kept address: {why}"))?;
    let account = account_to_sign_in(state, &email, source).await?;
    sign_in(state, account, &email, None, client).await
}

/// The account a proven address signs in to: its holder's, or a new reader's (counted as a
/// registration first). A registration never confirmed is no holder: it is replaced, and its
/// password (chosen by whoever registered, maybe not the address's owner) goes with it.
async fn account_to_sign_in(state: &Identity, email: &EmailAddress, source: &Source) -> Result<Account, IdentityError> {
    let holder = state.accounts.account_by_email(&email.key()).await?;
    match holder.filter(|u| u.status != AccountStatus::Pending && u.email.key() == email.key()) {
        Some(user) => Ok(Account::Existing(Box::new(user))),
        None => {
            state.throttle().allow_registration(source).await?;
            Ok(Account::New)
        }
    }
}

enum Account {
    Existing(Box<User>),
    New,
}

/// Signs in to the account (making the new one now), or answers its second factor's challenge.
async fn sign_in(
    state: &Identity,
    account: Account,
    email: &EmailAddress,
    attempt: Option<LoginAttempt>,
    client: Client<'_>,
) -> Result<LoginOutcome, IdentityError> {
    let (source, _) = client;
    let user = match account {
        Account::Existing(user) => *user,
        Account::New => join(state, email).await?,
    };
    if user.factors.any() {
        // The checks stay counted until the second step succeeds, as after a password.
        return Ok(LoginOutcome::SecondFactor(second_factor::challenge(state, &user, source, AMR_EMAIL).await?));
    }
    let user_id = user.id.clone();
    let forget = attempt.as_ref().map(LoginAttempt::key);
    match start_session(state, user, forget, vec![AMR_EMAIL.to_string()], client).await {
        Ok(pair) => {
            tracing::info!(%user_id, "signed in by email");
            Ok(LoginOutcome::Tokens(Box::new(pair)))
        }
        Err(e) => {
            if let Some(attempt) = attempt {
                state.throttle().succeeded(attempt).await?;
            }
            Err(e)
        }
    }
}

/// A new reader's account for a proven address; if one was made for it a moment ago (another
/// sign-in finishing at once), that one.
async fn join(state: &Identity, email: &EmailAddress) -> Result<User, IdentityError> {
    match state.lifecycle().join_by_email(email.clone(), Profile::from_address(email)).await {
        Ok(user) => Ok(user),
        Err(AccountError::EmailTaken) => state
            .accounts
            .account_by_email(&email.key())
            .await?
            .filter(|u| u.status != AccountStatus::Pending)
            .ok_or(IdentityError::Account(AccountError::Conflict)),
        Err(e) => Err(e.into()),
    }
}
