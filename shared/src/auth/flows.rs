//! The account flows, independent of HTTP: register, confirm, log in, refresh, log out,
//! change and reset a password. Routes translate requests to these calls and back.

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{
    AuthState,
    second_factor::{self, AMR_PASSWORD, LoginOutcome},
};
pub use crate::accounts::Confirmation;
use crate::{
    accounts::AccountError,
    clock::Clock,
    credentials::{
        jwt::{Grant, Scope},
        tokens::{hash_token, random_id, random_token, refresh_token, split_refresh_token},
    },
    domain::{AccountStatus, EmailAddress, FieldError, Password, Profile, Role, User, UserView},
    http::{ApiError, AuthUser, Device, Source},
    ports::{ActivityKind, CheckKey, Job, LinkRequest, OneTimeToken, Rotation, Session, TokenKind, TokenStore},
};

/// A validated registration.
#[derive(Debug)]
pub struct NewAccount {
    pub email: EmailAddress,
    pub password: Password,
    pub profile: Profile,
}

impl NewAccount {
    pub fn parse(
        email: &str,
        password: String,
        first_name: &str,
        last_name: &str,
        nickname: Option<&str>,
        bio: Option<&str>,
    ) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let email =
            EmailAddress::parse(email).map_err(|why| errors.push(FieldError::new("email", "invalid_email", why))).ok();
        let password =
            Password::parse(password).map_err(|(code, why)| errors.push(FieldError::new("password", code, why))).ok();
        let profile = Profile::parse(first_name, last_name, nickname, bio, &mut errors);
        match (email, password, profile) {
            (Some(email), Some(password), Some(profile)) if errors.is_empty() => Ok(Self { email, password, profile }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

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

/// Creates an account, pending or active as `confirmation` says. A pending account that held
/// the address is replaced, and its links die with it.
pub async fn register(
    state: &AuthState,
    new: NewAccount,
    role: Role,
    confirmation: Confirmation,
) -> Result<User, ApiError> {
    let password_hash = state.hasher.hash(new.password.expose()).await?;
    let lifecycle = state.lifecycle();
    Ok(lifecycle.register(state.jobs.as_ref(), new.email, new.profile, password_hash, role, confirmation).await?)
}

/// Queues a new confirmation link for the address. The email worker sends it if the address
/// belongs to a pending account. The route does the same work whether or not it does, so
/// neither its answer nor its time tells.
pub async fn request_confirmation_email(state: &AuthState, email: &str) -> Result<(), ApiError> {
    request_link(state, TokenKind::EmailConfirmation, email).await
}

/// Queues a password-reset link for the address, sent if it has an account. Same work either
/// way, like `request_confirmation_email`.
pub async fn request_password_reset(state: &AuthState, email: &str) -> Result<(), ApiError> {
    request_link(state, TokenKind::PasswordReset, email).await
}

async fn request_link(state: &AuthState, kind: TokenKind, email: &str) -> Result<(), ApiError> {
    let email = parse_email_field(email)?;
    state.throttle().allow_email_to(&email.key()).await?;
    state.jobs.enqueue(&Job::SendLink(LinkRequest { kind, email: email.key(), user_id: None })).await?;
    Ok(())
}

/// Consumes a confirmation token and activates the account it was issued for.
pub async fn confirm_email(state: &AuthState, token: &str) -> Result<User, ApiError> {
    let (link, _) =
        take_token(state.tokens.as_ref(), state.clock.as_ref(), TokenKind::EmailConfirmation, token).await?;
    Ok(state.lifecycle().confirm_email(&link, state.config.limits.pending_account_ttl).await?)
}

/// Takes a single-use token of this kind (it is spent whatever follows).
pub(crate) async fn take_token(
    tokens: &dyn TokenStore,
    clock: &dyn Clock,
    kind: TokenKind,
    token: &str,
) -> Result<(OneTimeToken, OffsetDateTime), ApiError> {
    if token.len() != 43 {
        return Err(ApiError::InvalidToken);
    }
    let record = tokens.take_token(kind, &hash_token(token)).await?.ok_or(ApiError::InvalidToken)?;
    let now = clock.now();
    if record.expires_at <= now {
        return Err(ApiError::TokenExpired);
    }
    Ok((record, now))
}

/// Checks the credentials and starts a session. Unknown email and wrong password answer
/// alike and take the same time; each check is counted before it is made, per address and
/// source and per address (see `throttle`).
///
/// For an account with a second factor, a right password answers a challenge instead of
/// tokens (`second_factor`), and the checks stay counted until the second step succeeds.
pub async fn login(
    state: &AuthState,
    email: &str,
    password: &str,
    source: &Source,
    device: &Device,
) -> Result<LoginOutcome, ApiError> {
    let Ok(email) = EmailAddress::parse(email) else {
        // No account can have this address (and it may not fit a store key): spend the same
        // time and answer alike.
        state.hasher.verify(password, None).await?;
        return Err(ApiError::InvalidCredentials);
    };
    let throttle = state.throttle();
    let (attempt, holder) = throttle.reserve_password_check(&email.key(), source).await?;
    let now = state.clock.now();
    let user = match holder {
        Some(id) => state.accounts.account(&id).await?,
        None => None,
    };
    // The address may have changed hands since it was counted: then it is no one's here.
    let user = user.filter(|u| {
        u.email.key() == email.key() && !u.is_expired_pending(now, state.config.limits.pending_account_ttl)
    });
    let verified = state.hasher.verify(password, user.as_ref().map(|u| &u.password_hash)).await?;
    let user = match user {
        Some(user) if verified => user,
        Some(user) => {
            // The owner sees it in their security activity (the attempt counters bound how often).
            state.record(&user.id, ActivityKind::SignInFailed, (source, device), "wrong password").await?;
            return Err(ApiError::InvalidCredentials);
        }
        None => return Err(ApiError::InvalidCredentials),
    };
    if user.factors.any() {
        return Ok(LoginOutcome::SecondFactor(second_factor::challenge(state, &user, source).await?));
    }
    // The session and the forgetting of the checks are one store call; a right password that
    // does not sign in (pending, suspended, changed a moment ago) is forgotten on its own.
    let user_id = user.id.clone();
    match start_session(state, user, Some(attempt.key()), vec![AMR_PASSWORD.to_string()], (source, device)).await {
        Ok(pair) => {
            tracing::info!(%user_id, "logged in");
            Ok(LoginOutcome::Tokens(Box::new(pair)))
        }
        Err(e) => {
            throttle.succeeded(attempt).await?;
            Err(e)
        }
    }
}

/// Starts a session for the account as the login read it ([`crate::accounts::Lifecycle::grant_session`]):
/// if the password, role or status changed since, no session is written and the login fails
/// as if the password were wrong. `amr` says how the login proved who it was.
pub(crate) async fn start_session(
    state: &AuthState,
    user: User,
    forget_checks: Option<CheckKey<'_>>,
    amr: Vec<String>,
    client: (&Source, &Device),
) -> Result<TokenPair, ApiError> {
    let now = state.clock.now();
    let secret = random_token();
    let session = Session {
        id: random_id(),
        user_id: user.id.clone(),
        refresh_hash: hash_token(&secret),
        created_at: now,
        expires_at: now + state.config.jwt.refresh_token_ttl,
        credential_version: user.credential_version,
        access_version: user.access_version,
        previous_hashes: Vec::new(),
        rotated_at: None,
        amr,
        source: Some(client.0.0.clone()),
        device: client.1.0.clone(),
    };
    let how = session.amr.join(" ");
    let user = match state.lifecycle().grant_session(user, session.clone(), forget_checks).await {
        Ok(user) => user,
        Err(AccountError::Conflict | AccountError::NotFound) => return Err(ApiError::InvalidCredentials),
        Err(e) => return Err(e.into()),
    };
    // One more write than the session's: the login on the account's security activity.
    state.record(&user.id, ActivityKind::SignedIn, client, format!("session {} ({how})", session.id)).await?;
    super::alerts::notice_device(state, &user, &session, client).await;
    token_pair(state, &user, &session, refresh_token(&user.id, &session.id, &secret)).await
}

/// The tokens of `session`: its access token carries the session's login time and methods
/// (`auth_time`, `amr`), and the scope the account allows now (a staff account without a
/// factor: enrolment only).
async fn token_pair(
    state: &AuthState,
    user: &User,
    session: &Session,
    refresh_token: String,
) -> Result<TokenPair, ApiError> {
    let scope = second_factor::scope_for(user);
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
pub async fn refresh(state: &AuthState, presented: &str) -> Result<TokenPair, ApiError> {
    let (user_id, session_id, secret) = split_refresh_token(presented.trim()).ok_or(ApiError::InvalidRefreshToken)?;
    let session = state.sessions.session(&user_id, session_id).await?.ok_or(ApiError::InvalidRefreshToken)?;
    let now = state.clock.now();
    if session.expires_at <= now {
        state.sessions.delete_session(&user_id, &session.id).await?;
        return Err(ApiError::InvalidRefreshToken);
    }
    let presented_hash = hash_token(secret);
    if presented_hash != session.refresh_hash {
        let just_rotated = session.rotated_at.is_some_and(|at| now - at <= state.config.limits.refresh_reuse_grace);
        return match session.previous_hashes.iter().position(|h| *h == presented_hash) {
            Some(0) if just_rotated => Err(ApiError::RefreshConflict),
            Some(_) => {
                state.sessions.delete_session(&user_id, &session.id).await?;
                tracing::warn!(user_id = %session.user_id, "a used refresh token was presented again; session ended");
                Err(ApiError::RefreshTokenReused)
            }
            None => Err(ApiError::InvalidRefreshToken),
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
        return Err(ApiError::InvalidRefreshToken);
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
        Rotation::Stale => Err(ApiError::RefreshConflict),
        Rotation::Missing => Err(ApiError::InvalidRefreshToken),
    }
}

/// Ends the caller's session, another of the caller's sessions named by its refresh token,
/// or all of the caller's sessions.
pub async fn logout(
    state: &AuthState,
    caller: &AuthUser,
    refresh_token: Option<&str>,
    all: bool,
    client: (&Source, &Device),
) -> Result<(), ApiError> {
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

/// Changes the caller's password and ends all their sessions. Wrong current passwords count
/// toward the same backoff as failed logins.
pub async fn change_password(
    state: &AuthState,
    caller: &AuthUser,
    current: &str,
    new: String,
    (source, device): (&Source, &Device),
) -> Result<(), ApiError> {
    let new = Password::parse(new)
        .map_err(|(code, why)| ApiError::Validation(vec![FieldError::new("new_password", code, why)]))?;
    let user = state.accounts.account(&caller.user_id).await?.ok_or(ApiError::Unauthorized)?;
    let throttle = state.throttle();
    let attempt = throttle.check_current_password(&state.hasher, &user, current, source).await?;
    let new_hash = state.hasher.hash(new.expose()).await?;
    state
        .lifecycle()
        .change_password(&user.id, user.credential_version, new_hash)
        .await
        .map_err(ApiError::or_missing(ApiError::Unauthorized))?;
    throttle.succeeded(attempt).await?;
    state.record(&user.id, ActivityKind::PasswordChanged, (source, device), "every session ended").await
}

/// Sets a new password with a reset token and ends all sessions. The token proves the
/// address too, so a pending account becomes active.
pub async fn reset_password(
    state: &AuthState,
    token: &str,
    password: String,
    (source, device): (&Source, &Device),
) -> Result<(), ApiError> {
    // Check the password first, so a refused password does not burn the token.
    let password = Password::parse(password)
        .map_err(|(code, why)| ApiError::Validation(vec![FieldError::new("password", code, why)]))?;
    let (link, _) = take_token(state.tokens.as_ref(), state.clock.as_ref(), TokenKind::PasswordReset, token).await?;
    let new_hash = state.hasher.hash(password.expose()).await?;
    let user = state.lifecycle().reset_password(&link, new_hash, state.config.limits.pending_account_ttl).await?;
    // The link proved the address: lift its backoff, and that of the source that used it.
    state.throttle().forget_address(&user.email.key(), source).await?;
    state
        .record(&user.id, ActivityKind::PasswordReset, (source, device), "with an emailed link; every session ended")
        .await
}

fn parse_email_field(email: &str) -> Result<EmailAddress, ApiError> {
    EmailAddress::parse(email).map_err(|why| ApiError::Validation(vec![FieldError::new("email", "invalid_email", why)]))
}
