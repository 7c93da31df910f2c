//! The account flows, independent of HTTP: register, confirm, log in, refresh, log out,
//! change and reset a password. Routes translate requests to these calls and back.

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::{
    app::AppState,
    auth::{
        AuthUser,
        tokens::{hash_token, random_id, random_token, refresh_token, split_refresh_token},
    },
    config::{CONFIRMATION_TOKEN_TTL, RESET_TOKEN_TTL},
    domain::{EmailAddress, Password, Profile, Role, Status, User, UserId, UserView},
    email::{EmailJob, EmailMessage},
    error::{ApiError, FieldError},
    ports::{Job, OneTimeToken, Rotation, Session, TokenKind},
    throttle,
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
}

/// Creates an account. Pending accounts are sent a confirmation link; `confirmed` accounts
/// (made by an operator) start active.
pub async fn register(state: &AppState, new: NewAccount, role: Role, confirmed: bool) -> Result<User, ApiError> {
    let password_hash = state.hasher.hash(new.password.expose()).await?;
    let now = state.clock.now();
    let user = User {
        id: UserId::generate(),
        email: new.email,
        role,
        status: if confirmed { Status::Active } else { Status::Pending },
        profile: new.profile,
        password_hash,
        email_confirmed_at: confirmed.then_some(now),
        created_at: now,
        updated_at: now,
    };
    state.store.create_user(&user).await?;
    tracing::info!(user_id = %user.id, role = role.as_str(), "account registered");
    if !confirmed {
        send_confirmation(state, &user).await?;
    }
    Ok(user)
}

async fn send_confirmation(state: &AppState, user: &User) -> Result<(), ApiError> {
    let token = issue_token(state, user, TokenKind::EmailConfirmation).await?;
    let link = format!("{}/api/v1/auth/confirm_email?token={token}", state.config.public_url);
    let message = EmailMessage::ConfirmEmail { first_name: user.profile.first_name.clone(), link };
    queue_email(state, user, message).await
}

async fn issue_token(state: &AppState, user: &User, kind: TokenKind) -> Result<String, ApiError> {
    let token = random_token();
    let ttl = match kind {
        TokenKind::EmailConfirmation => CONFIRMATION_TOKEN_TTL,
        TokenKind::PasswordReset => RESET_TOKEN_TTL,
    };
    let record = OneTimeToken {
        hash: hash_token(&token),
        kind,
        user_id: user.id.clone(),
        email_key: user.email.key(),
        expires_at: state.clock.now() + ttl,
    };
    state.store.put_token(&record).await?;
    Ok(token)
}

async fn queue_email(state: &AppState, user: &User, message: EmailMessage) -> Result<(), ApiError> {
    let job = Job::SendEmail(EmailJob { to: user.email.to_string(), message });
    state.jobs.enqueue(&job).await?;
    Ok(())
}

/// Sends a new confirmation link if the address belongs to a pending account. Answers the
/// same whether or not it does.
pub async fn request_confirmation_email(state: &AppState, email: &str) -> Result<(), ApiError> {
    let email = parse_email_field(email)?;
    throttle::allow_email_to(state, &email.key()).await?;
    if let Some(user) = state.store.user_by_email(&email.key()).await?
        && user.status == Status::Pending
    {
        send_confirmation(state, &user).await?;
    }
    Ok(())
}

/// Consumes a confirmation token and activates the account.
pub async fn confirm_email(state: &AppState, token: &str) -> Result<User, ApiError> {
    let (mut user, now) = take_token(state, TokenKind::EmailConfirmation, token).await?;
    if user.status == Status::Pending {
        user.status = Status::Active;
    }
    user.email_confirmed_at.get_or_insert(now);
    user.updated_at = now;
    state.store.update_user(&user).await?;
    tracing::info!(user_id = %user.id, "email confirmed");
    Ok(user)
}

/// Takes a single-use token of this kind, and the account it was issued for.
async fn take_token(state: &AppState, kind: TokenKind, token: &str) -> Result<(User, OffsetDateTime), ApiError> {
    if token.len() != 43 {
        return Err(ApiError::InvalidToken);
    }
    let record = state.store.take_token(kind, &hash_token(token)).await?.ok_or(ApiError::InvalidToken)?;
    let now = state.clock.now();
    if record.expires_at <= now {
        return Err(ApiError::TokenExpired);
    }
    let user = state.store.user(&record.user_id).await?.ok_or(ApiError::InvalidToken)?;
    // A token sent to an address the account no longer has proves nothing.
    if user.email.key() != record.email_key {
        return Err(ApiError::InvalidToken);
    }
    Ok((user, now))
}

/// Checks the credentials and starts a session. Unknown email and wrong password answer
/// alike and take the same time; repeated failures for one email back off.
pub async fn login(state: &AppState, email: &str, password: &str) -> Result<TokenPair, ApiError> {
    let Ok(email) = EmailAddress::parse(email) else {
        // No account can have this address (and it may not fit a store key): spend the same
        // time and answer alike.
        state.hasher.verify(password, None).await?;
        return Err(ApiError::InvalidCredentials);
    };
    let throttle_key = throttle::login_key(&email.key());
    let failures = throttle::ensure_login_allowed(state, &throttle_key).await?;
    let user = state.store.user_by_email(&email.key()).await?;
    let verified = state.hasher.verify(password, user.as_ref().map(|u| &u.password_hash)).await?;
    let user = match user {
        Some(user) if verified => user,
        _ => {
            throttle::record_login_failure(state, &throttle_key).await?;
            return Err(ApiError::InvalidCredentials);
        }
    };
    failures.clear(state, &throttle_key).await?;
    ensure_can_sign_in(&user)?;
    let pair = start_session(state, &user).await?;
    tracing::info!(user_id = %user.id, "logged in");
    Ok(pair)
}

/// Pending accounts cannot log in until they confirm their email (they can ask for a new
/// link at `send_confirm_email`); suspended ones cannot log in at all.
fn ensure_can_sign_in(user: &User) -> Result<(), ApiError> {
    match user.status {
        Status::Active => Ok(()),
        Status::Pending => Err(ApiError::EmailNotConfirmed),
        Status::Suspended => Err(ApiError::AccountSuspended),
    }
}

async fn start_session(state: &AppState, user: &User) -> Result<TokenPair, ApiError> {
    let now = state.clock.now();
    let secret = random_token();
    let session = Session {
        id: random_id(),
        user_id: user.id.clone(),
        refresh_hash: hash_token(&secret),
        created_at: now,
        expires_at: now + state.config.jwt.refresh_token_ttl,
    };
    state.store.create_session(&session).await?;
    token_pair(state, user, &session.id, refresh_token(&user.id, &session.id, &secret))
}

fn token_pair(state: &AppState, user: &User, session_id: &str, refresh_token: String) -> Result<TokenPair, ApiError> {
    let access_token = state.keys.issue(&user.id, session_id, user.role, state.clock.now())?;
    Ok(TokenPair {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: state.keys.access_ttl().as_secs(),
        user: UserView::from(user),
    })
}

/// Rotates the refresh token. Presenting one that was already rotated means it was copied:
/// the whole session ends.
pub async fn refresh(state: &AppState, presented: &str) -> Result<TokenPair, ApiError> {
    let (user_id, session_id, secret) = split_refresh_token(presented.trim()).ok_or(ApiError::InvalidRefreshToken)?;
    let session = state.store.session(&user_id, session_id).await?.ok_or(ApiError::InvalidRefreshToken)?;
    if session.expires_at <= state.clock.now() {
        state.store.delete_session(&user_id, &session.id).await?;
        return Err(ApiError::InvalidRefreshToken);
    }
    let new_secret = random_token();
    match state.store.rotate_session(&user_id, &session.id, &hash_token(secret), &hash_token(&new_secret)).await? {
        Rotation::Rotated => {}
        Rotation::Missing => return Err(ApiError::InvalidRefreshToken),
        Rotation::Stale => {
            state.store.delete_session(&user_id, &session.id).await?;
            tracing::warn!(user_id = %session.user_id, "a used refresh token was presented again; session ended");
            return Err(ApiError::RefreshTokenReused);
        }
    }
    let user = state.store.user(&session.user_id).await?;
    let Some(user) = user.filter(|u| u.status == Status::Active) else {
        state.store.delete_session(&user_id, &session.id).await?;
        return Err(ApiError::InvalidRefreshToken);
    };
    token_pair(state, &user, &session.id, refresh_token(&user.id, &session.id, &new_secret))
}

/// Ends the caller's session, another of the caller's sessions named by its refresh token,
/// or all of the caller's sessions.
pub async fn logout(
    state: &AppState,
    caller: &AuthUser,
    refresh_token: Option<&str>,
    all: bool,
) -> Result<(), ApiError> {
    if all {
        state.store.delete_user_sessions(&caller.user_id).await?;
        tracing::info!(user_id = %caller.user_id, "logged out of all sessions");
        return Ok(());
    }
    // Only the caller's own sessions can be named: the lookup is within the caller's account.
    if let Some((_, session_id, _)) = refresh_token.and_then(split_refresh_token) {
        state.store.delete_session(&caller.user_id, session_id).await?;
    }
    state.store.delete_session(&caller.user_id, &caller.session_id).await?;
    tracing::info!(user_id = %caller.user_id, "logged out");
    Ok(())
}

/// Changes the caller's password and ends all their sessions. Wrong current passwords count
/// toward the same backoff as failed logins.
pub async fn change_password(state: &AppState, caller: &AuthUser, current: &str, new: String) -> Result<(), ApiError> {
    let new = Password::parse(new)
        .map_err(|(code, why)| ApiError::Validation(vec![FieldError::new("new_password", code, why)]))?;
    let mut user = state.store.user(&caller.user_id).await?.ok_or(ApiError::Unauthorized)?;
    let throttle_key = throttle::login_key(&user.email.key());
    let failures = throttle::ensure_login_allowed(state, &throttle_key).await?;
    if !state.hasher.verify(current, Some(&user.password_hash)).await? {
        throttle::record_login_failure(state, &throttle_key).await?;
        return Err(ApiError::WrongCurrentPassword);
    }
    user.password_hash = state.hasher.hash(new.expose()).await?;
    user.updated_at = state.clock.now();
    state.store.update_user(&user).await?;
    state.store.delete_user_sessions(&user.id).await?;
    failures.clear(state, &throttle_key).await?;
    tracing::info!(user_id = %user.id, "password changed; all sessions ended");
    Ok(())
}

/// Emails a reset link if the address has an account. Answers the same either way.
pub async fn request_password_reset(state: &AppState, email: &str) -> Result<(), ApiError> {
    let email = parse_email_field(email)?;
    throttle::allow_email_to(state, &email.key()).await?;
    if let Some(user) = state.store.user_by_email(&email.key()).await? {
        let token = issue_token(state, &user, TokenKind::PasswordReset).await?;
        let link = format!("{}?token={token}", state.config.password_reset_url);
        let message = EmailMessage::ResetPassword { first_name: user.profile.first_name.clone(), link };
        queue_email(state, &user, message).await?;
    }
    Ok(())
}

/// Sets a new password with a reset token and ends all sessions. The token proves the
/// address too, so a pending account becomes active.
pub async fn reset_password(state: &AppState, token: &str, password: String) -> Result<(), ApiError> {
    // Check the password first, so a refused password does not burn the token.
    let password = Password::parse(password)
        .map_err(|(code, why)| ApiError::Validation(vec![FieldError::new("password", code, why)]))?;
    let (mut user, now) = take_token(state, TokenKind::PasswordReset, token).await?;
    user.password_hash = state.hasher.hash(password.expose()).await?;
    if user.status == Status::Pending {
        user.status = Status::Active;
    }
    user.email_confirmed_at.get_or_insert(now);
    user.updated_at = now;
    state.store.update_user(&user).await?;
    state.store.delete_user_sessions(&user.id).await?;
    throttle::clear_login_failures(state, &throttle::login_key(&user.email.key())).await?;
    tracing::info!(user_id = %user.id, "password reset; all sessions ended");
    Ok(())
}

fn parse_email_field(email: &str) -> Result<EmailAddress, ApiError> {
    EmailAddress::parse(email).map_err(|why| ApiError::Validation(vec![FieldError::new("email", "invalid_email", why)]))
}
