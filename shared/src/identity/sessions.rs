//! Sessions, owned here and nowhere else: granted at the end of every way in (the bottom of
//! this service: nothing it uses signs in), refreshed, listed, and ended by their owner, by an
//! admin, or from a sign-in alert's link. Each end is on the account's security activity.

use serde::Serialize;
use utoipa::ToSchema;

use super::{
    Identity, IdentityError,
    caller::{AuthUser, Subject},
    client::Client,
    single_use::take_token,
};
use crate::{
    accounts::AccountError,
    credentials::{
        jwt::{Grant, Scope},
        tokens::{hash_token, random_id, random_token, refresh_token, split_refresh_token},
    },
    domain::{AccountStatus, Action, User, UserView},
    ports::{ActivityKind, AuditRecord, CheckKey, ModerationAction, ModerationStore, Rotation, Session, TokenKind},
};

/// RFC 8176's names for how a session's holder proved who they were.
pub const AMR_PASSWORD: &str = "pwd";
pub const AMR_ONE_TIME_CODE: &str = "otp";
pub const AMR_MULTI_FACTOR: &str = "mfa";
/// Proof of possession of a hardware-secured key (a passkey, verified by its holder's PIN or
/// biometric: two factors in one).
pub const AMR_HARDWARE_KEY: &str = "hwk";
/// A provider's sign-in (Google, GitHub, ...). RFC 8176 registers no name for it; "fed"
/// (federated) is what other services use.
pub const AMR_FEDERATED: &str = "fed";
/// A code or link sent to the account's address. RFC 8176 registers no name for it; "email" is
/// what other services use.
pub const AMR_EMAIL: &str = "email";

/// What login and refresh answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// A JWT for `Authorization: Bearer`, valid for `expires_in` seconds.
    pub access_token: String,
    /// Opaque and single-use: each refresh returns a new one.
    pub refresh_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    #[schema(example = 900)]
    pub expires_in: u64,
    pub user: UserView,
    /// A staff account without a second factor: the access token can only enrol one
    /// (`POST /api/v1/auth/factors/totp`); refresh after confirming it for a full one.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub second_factor_enrolment_required: bool,
}

/// The access token's scope for `user`: a staff account without a factor may only enrol one.
pub fn scope_for(user: &User) -> Scope {
    if user.is_staff() && !user.factors.any() { Scope::FactorEnrolment } else { Scope::Full }
}

/// Starts a session for the account as the login read it ([`crate::accounts::Lifecycle::grant_session`]):
/// if the password, role or status changed since, no session is written and the login fails
/// as if the password were wrong. `amr` says how the login proved who it was.
pub(crate) async fn start_session(
    state: &Identity,
    user: User,
    forget_checks: Option<CheckKey<'_>>,
    amr: Vec<String>,
    client: Client<'_>,
) -> Result<TokenPair, IdentityError> {
    let secret = random_token();
    let lifetime = state.config.jwt.refresh_token_ttl;
    let session = new_session(state, &user, hash_token(&secret), lifetime, amr, client);
    let user = grant(state, user, &session, forget_checks, client).await?;
    token_pair(state, &user, &session, refresh_token(&user.id, &session.id, &secret)).await
}

/// Writes `session` for the account as the sign-in read it, records the sign-in and tells a new
/// device's alert: the end of every way in, the API's and the console's.
async fn grant(
    state: &Identity,
    user: User,
    session: &Session,
    forget_checks: Option<CheckKey<'_>>,
    client: Client<'_>,
) -> Result<User, IdentityError> {
    let how = session.amr.join(" ");
    let user = match state.lifecycle().grant_session(user, session.clone(), forget_checks).await {
        Ok(user) => user,
        Err(AccountError::Conflict | AccountError::NotFound) => return Err(IdentityError::InvalidCredentials),
        Err(e) => return Err(e.into()),
    };
    // One more write than the session's: the sign-in on the account's security activity.
    let console = if session.is_console() { ", the staff console" } else { "" };
    let about = format!("session {} ({how}){console}", session.id);
    state.record(&user.id, ActivityKind::SignedIn, client, about).await?;
    super::alerts::notice_device(state, &user, session, client).await;
    Ok(user)
}

/// Starts a staff console session: an ordinary session (listed among the account's, ended by
/// logout, an admin, a password change) whose secret a browser keeps in a cookie. The stored
/// hash is of the secret marked as the console's, so the cookie is no refresh token: presented
/// to `auth/refresh` it is refused and changes nothing. It lasts at most `max_age`.
/// Answers the cookie's value, `<user id>.<session id>.<secret>`.
pub(crate) async fn start_console_session(
    state: &Identity,
    user: User,
    forget_checks: Option<CheckKey<'_>>,
    amr: Vec<String>,
    max_age: time::Duration,
    client: Client<'_>,
) -> Result<String, IdentityError> {
    let secret = random_token();
    let session = new_session(state, &user, console_hash(&secret), max_age.unsigned_abs(), amr, client);
    // A console session is used as it starts: its idle time counts from now.
    let session = Session { seen_at: Some(session.created_at), ..session };
    let user = grant(state, user, &session, forget_checks, client).await?;
    Ok(refresh_token(&user.id, &session.id, &secret))
}

/// A session of `user` starting now, for `lifetime` at most, at the account's credential and
/// access versions as the sign-in read them; its secret stored as `hash`.
fn new_session(
    state: &Identity,
    user: &User,
    hash: String,
    lifetime: std::time::Duration,
    amr: Vec<String>,
    client: Client<'_>,
) -> Session {
    let now = state.clock.now();
    Session {
        id: random_id(),
        user_id: user.id.clone(),
        refresh_hash: hash,
        created_at: now,
        expires_at: now + lifetime,
        credential_version: user.credential_version,
        access_version: user.access_version,
        previous_hashes: Vec::new(),
        rotated_at: None,
        amr,
        source: Some(client.0.0.clone()),
        device: client.1.0.clone(),
        seen_at: None,
        proved_at: None,
    }
}

/// The stored hash of a console session's secret: apart from any refresh token's.
pub(crate) fn console_hash(secret: &str) -> String {
    hash_token(&format!("console.{secret}"))
}

/// The tokens of `session`: its access token carries the session's login time and methods
/// (`auth_time`, `amr`), and the scope the account allows now (a staff account without a
/// factor: enrolment only).
async fn token_pair(
    state: &Identity,
    user: &User,
    session: &Session,
    refresh_token: String,
) -> Result<TokenPair, IdentityError> {
    let scope = scope_for(user);
    let grant = Grant {
        user: &user.id,
        session_id: &session.id,
        role: user.role,
        auth_time: session.created_at,
        amr: &session.amr,
        scope,
    };
    let access_token = state.keys.issue(grant, state.clock.now()).await?;
    Ok(TokenPair {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: state.keys.access_ttl().as_secs(),
        user: UserView::new(user, &state.config.photos_url),
        second_factor_enrolment_required: scope == Scope::FactorEnrolment,
    })
}

/// Rotates the refresh token.
///
/// - The current secret rotates, once: of parallel refreshes with it, one wins and the others
///   get 409 `refresh_conflict`, the session kept.
/// - The secret it replaced, again within the grace window (`UMS_REFRESH_REUSE_GRACE_SECS`):
///   a client racing itself; 409 `refresh_conflict`, the session kept.
/// - An earlier secret of this session after that: it was copied; the session ends (401
///   `refresh_token_reused`).
/// - Anything else (a guessed secret, another session's): 401 `invalid_refresh_token`, and
///   nothing changes, so knowing a session's ids is not enough to end it.
pub async fn refresh(state: &Identity, presented: &str) -> Result<TokenPair, IdentityError> {
    let (user_id, session_id, secret) =
        split_refresh_token(presented.trim()).ok_or(IdentityError::InvalidRefreshToken)?;
    let session = state.sessions.session(&user_id, session_id).await?.ok_or(IdentityError::InvalidRefreshToken)?;
    let now = state.clock.now();
    if session.expires_at <= now {
        state.sessions.delete_session(&user_id, &session.id).await?;
        return Err(IdentityError::InvalidRefreshToken);
    }
    let presented_hash = hash_token(secret);
    if presented_hash != session.refresh_hash {
        let just_rotated = session.rotated_at.is_some_and(|at| now - at <= state.config.limits.refresh_reuse_grace);
        return match session.previous_hashes.iter().position(|h| *h == presented_hash) {
            Some(0) if just_rotated => Err(IdentityError::RefreshConflict),
            Some(_) => {
                state.sessions.delete_session(&user_id, &session.id).await?;
                tracing::warn!(user_id = %session.user_id, "a used refresh token was presented again; session ended");
                Err(IdentityError::RefreshTokenReused)
            }
            None => Err(IdentityError::InvalidRefreshToken),
        };
    }
    let user = state.accounts.account(&session.user_id).await?;
    let current = |u: &User| {
        u.status == AccountStatus::Active
            && u.credential_version == session.credential_version
            && u.access_version == session.access_version
    };
    let Some(user) = user.filter(current) else {
        state.sessions.delete_session(&user_id, &session.id).await?;
        return Err(IdentityError::InvalidRefreshToken);
    };
    let new_secret = random_token();
    let history = session.history_after(&presented_hash);
    match state
        .sessions
        .rotate_session(&user_id, &session.id, &presented_hash, &hash_token(&new_secret), &history, now)
        .await?
    {
        Rotation::Rotated => {
            token_pair(state, &user, &session, refresh_token(&user.id, &session.id, &new_secret)).await
        }
        // Another request rotated it between our read and our write: a race, not a theft.
        Rotation::Stale => Err(IdentityError::RefreshConflict),
        Rotation::Missing => Err(IdentityError::InvalidRefreshToken),
    }
}

/// Ends the caller's session, another of the caller's sessions named by its refresh token,
/// or all of the caller's sessions.
pub async fn logout(
    state: &Identity,
    caller: &AuthUser,
    refresh_token: Option<&str>,
    all: bool,
    client: Client<'_>,
) -> Result<(), IdentityError> {
    caller.require(Action::ManageOwnSessions)?;
    let ended = |what: String| state.record(&caller.user_id, ActivityKind::SessionEnded, client, what);
    if all {
        state.sessions.delete_user_sessions(&caller.user_id).await?;
        tracing::info!(user_id = %caller.user_id, "logged out of all sessions");
        return ended("every session: logged out everywhere".into()).await;
    }
    // Only the caller's own sessions can be named: the lookup is within the caller's account.
    if let Some((_, session_id, _)) = refresh_token.and_then(split_refresh_token) {
        state.sessions.delete_session(&caller.user_id, session_id).await?;
        if session_id != caller.session_id {
            ended(format!("session {session_id}: logged out by another")).await?;
        }
    }
    state.sessions.delete_session(&caller.user_id, &caller.session_id).await?;
    tracing::info!(user_id = %caller.user_id, "logged out");
    ended(format!("session {}: logged out", caller.session_id)).await
}

/// The alert's link: ends the session it was sent about (if it still exists), once.
pub async fn end_session_from_alert(state: &Identity, token: &str, client: Client<'_>) -> Result<(), IdentityError> {
    let (link, _) = take_token(state.tokens.as_ref(), state.clock.as_ref(), TokenKind::EndSession, token).await?;
    let session_id = link.payload.ok_or(IdentityError::InvalidToken)?;
    let existed = state.sessions.session(&link.user_id, &session_id).await?.is_some();
    state.sessions.delete_session(&link.user_id, &session_id).await?;
    tracing::info!(user_id = %link.user_id, existed, "a session ended from its sign-in alert");
    let detail = match existed {
        true => format!("session {session_id}: ended from the sign-in alert's link"),
        false => format!("session {session_id}: the sign-in alert's link used; it had ended already"),
    };
    state.record(&link.user_id, ActivityKind::SessionEnded, client, detail).await
}

/// The sessions of the account `whose` names (the caller's own, or another's for an admin),
/// most recently used first.
pub async fn list(state: &Identity, whose: &Subject) -> Result<Vec<Session>, IdentityError> {
    let mut sessions = state.sessions.user_sessions(whose.id()).await?;
    sessions.sort_by(|a, b| b.last_used_at().cmp(&a.last_used_at()).then_with(|| b.id.cmp(&a.id)));
    Ok(sessions)
}

/// Ends one session of the account `whose` names: the caller's own from their session list, or
/// another account's by an admin (a staff action on another account: a recent authentication,
/// and a record on the audit trail).
pub async fn end(
    state: &Identity,
    audit: &dyn ModerationStore,
    caller: &AuthUser,
    whose: &Subject,
    session_id: &str,
    client: Client<'_>,
) -> Result<(), IdentityError> {
    if let Subject::Other(_) = whose {
        caller.require_recent_authentication()?;
    }
    let account = whose.id();
    state.sessions.session(account, session_id).await?.ok_or(IdentityError::NotFound)?;
    state.sessions.delete_session(account, session_id).await?;
    let about = match whose {
        Subject::Other(_) => format!("session {session_id}: ended by admin {}", caller.user_id),
        Subject::Own(_) => format!("session {session_id}: ended from the session list"),
    };
    state.record(account, ActivityKind::SessionEnded, client, about).await?;
    if let Subject::Other(account) = whose {
        let record =
            AuditRecord::new(&caller.user_id, ModerationAction::EndSession, account, String::new(), state.clock.now());
        audit.record_action(&record).await?;
        tracing::info!(admin = %caller.user_id, user_id = %account, "a session ended by an admin");
    } else {
        tracing::info!(user_id = %account, "a session ended by its owner");
    }
    Ok(())
}
