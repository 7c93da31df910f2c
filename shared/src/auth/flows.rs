//! The account flows, independent of HTTP: register, confirm, log in, refresh, log out,
//! change and reset a password. Routes translate requests to these calls and back.

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{AuthState, throttle};
use crate::{
    config::{CONFIRMATION_TOKEN_TTL, RESET_TOKEN_TTL},
    credentials::tokens::{hash_token, random_id, random_token, refresh_token, split_refresh_token},
    domain::{EmailAddress, FieldError, Password, Profile, Role, Status, User, UserId, UserView},
    http::{ApiError, AuthUser},
    ports::{AccountStore, EmailJob, EmailMessage, Job, OneTimeToken, Rotation, Session, SessionStore, TokenKind},
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

/// How a new account's email address gets confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// The account starts pending and is emailed a confirmation link.
    ByEmail,
    /// An operator vouches for the address (`ums admin create`): the account starts active.
    VouchedByOperator,
}

/// Creates an account, pending or active as `confirmation` says.
pub async fn register(
    state: &AuthState,
    new: NewAccount,
    role: Role,
    confirmation: Confirmation,
) -> Result<User, ApiError> {
    let password_hash = state.hasher.hash(new.password.expose()).await?;
    let now = state.clock.now();
    let vouched = confirmation == Confirmation::VouchedByOperator;
    let user = User {
        id: UserId::generate(),
        email: new.email,
        role,
        status: if vouched { Status::Active } else { Status::Pending },
        profile: new.profile,
        password_hash,
        email_confirmed_at: vouched.then_some(now),
        created_at: now,
        updated_at: now,
    };
    state.accounts.create_account(&user).await?;
    tracing::info!(user_id = %user.id, role = role.as_str(), "account registered");
    if confirmation == Confirmation::ByEmail {
        send_confirmation(state, &user).await?;
    }
    Ok(user)
}

async fn send_confirmation(state: &AuthState, user: &User) -> Result<(), ApiError> {
    let token = issue_token(state, user, TokenKind::EmailConfirmation).await?;
    let link = format!("{}/api/v1/auth/confirm_email?token={token}", state.config.public_url);
    let message = EmailMessage::ConfirmEmail { first_name: user.profile.first_name.clone(), link };
    queue_email(state, user, message).await
}

async fn issue_token(state: &AuthState, user: &User, kind: TokenKind) -> Result<String, ApiError> {
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
    state.tokens.put_token(&record).await?;
    Ok(token)
}

async fn queue_email(state: &AuthState, user: &User, message: EmailMessage) -> Result<(), ApiError> {
    let job = Job::SendEmail(EmailJob { to: user.email.to_string(), message });
    state.jobs.enqueue(&job).await?;
    Ok(())
}

/// Sends a new confirmation link if the address belongs to a pending account. Answers the
/// same whether or not it does.
pub async fn request_confirmation_email(state: &AuthState, email: &str) -> Result<(), ApiError> {
    let email = parse_email_field(email)?;
    state.throttle().allow_email_to(&email.key()).await?;
    if let Some(user) = state.accounts.account_by_email(&email.key()).await?
        && user.status == Status::Pending
    {
        send_confirmation(state, &user).await?;
    }
    Ok(())
}

/// Consumes a confirmation token and activates the account.
pub async fn confirm_email(state: &AuthState, token: &str) -> Result<User, ApiError> {
    let (mut user, now) = take_token(state, TokenKind::EmailConfirmation, token).await?;
    if user.status == Status::Pending {
        user.status = Status::Active;
    }
    user.email_confirmed_at.get_or_insert(now);
    user.updated_at = now;
    state.accounts.update_account(&user).await?;
    tracing::info!(user_id = %user.id, "email confirmed");
    Ok(user)
}

/// Takes a single-use token of this kind, and the account it was issued for.
async fn take_token(state: &AuthState, kind: TokenKind, token: &str) -> Result<(User, OffsetDateTime), ApiError> {
    if token.len() != 43 {
        return Err(ApiError::InvalidToken);
    }
    let record = state.tokens.take_token(kind, &hash_token(token)).await?.ok_or(ApiError::InvalidToken)?;
    let now = state.clock.now();
    if record.expires_at <= now {
        return Err(ApiError::TokenExpired);
    }
    let user = state.accounts.account(&record.user_id).await?.ok_or(ApiError::InvalidToken)?;
    // A token sent to an address the account no longer has proves nothing.
    if user.email.key() != record.email_key {
        return Err(ApiError::InvalidToken);
    }
    Ok((user, now))
}

/// Checks the credentials and starts a session. Unknown email and wrong password answer
/// alike and take the same time; repeated failures for one email back off.
pub async fn login(state: &AuthState, email: &str, password: &str) -> Result<TokenPair, ApiError> {
    let Ok(email) = EmailAddress::parse(email) else {
        // No account can have this address (and it may not fit a store key): spend the same
        // time and answer alike.
        state.hasher.verify(password, None).await?;
        return Err(ApiError::InvalidCredentials);
    };
    let throttle_key = throttle::login_key(&email.key());
    let failures = state.throttle().ensure_login_allowed(&throttle_key).await?;
    let user = state.accounts.account_by_email(&email.key()).await?;
    let verified = state.hasher.verify(password, user.as_ref().map(|u| &u.password_hash)).await?;
    let user = match user {
        Some(user) if verified => user,
        _ => {
            state.throttle().record_login_failure(&throttle_key).await?;
            return Err(ApiError::InvalidCredentials);
        }
    };
    failures.clear(&state.throttle(), &throttle_key).await?;
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

async fn start_session(state: &AuthState, user: &User) -> Result<TokenPair, ApiError> {
    let now = state.clock.now();
    let secret = random_token();
    let session = Session {
        id: random_id(),
        user_id: user.id.clone(),
        refresh_hash: hash_token(&secret),
        created_at: now,
        expires_at: now + state.config.jwt.refresh_token_ttl,
    };
    state.sessions.create_session(&session).await?;
    token_pair(state, user, &session.id, refresh_token(&user.id, &session.id, &secret))
}

fn token_pair(state: &AuthState, user: &User, session_id: &str, refresh_token: String) -> Result<TokenPair, ApiError> {
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
pub async fn refresh(state: &AuthState, presented: &str) -> Result<TokenPair, ApiError> {
    let (user_id, session_id, secret) = split_refresh_token(presented.trim()).ok_or(ApiError::InvalidRefreshToken)?;
    let session = state.sessions.session(&user_id, session_id).await?.ok_or(ApiError::InvalidRefreshToken)?;
    if session.expires_at <= state.clock.now() {
        state.sessions.delete_session(&user_id, &session.id).await?;
        return Err(ApiError::InvalidRefreshToken);
    }
    let new_secret = random_token();
    match state.sessions.rotate_session(&user_id, &session.id, &hash_token(secret), &hash_token(&new_secret)).await? {
        Rotation::Rotated => {}
        Rotation::Missing => return Err(ApiError::InvalidRefreshToken),
        Rotation::Stale => {
            state.sessions.delete_session(&user_id, &session.id).await?;
            tracing::warn!(user_id = %session.user_id, "a used refresh token was presented again; session ended");
            return Err(ApiError::RefreshTokenReused);
        }
    }
    let user = state.accounts.account(&session.user_id).await?;
    let Some(user) = user.filter(|u| u.status == Status::Active) else {
        state.sessions.delete_session(&user_id, &session.id).await?;
        return Err(ApiError::InvalidRefreshToken);
    };
    token_pair(state, &user, &session.id, refresh_token(&user.id, &session.id, &new_secret))
}

/// Ends the caller's session, another of the caller's sessions named by its refresh token,
/// or all of the caller's sessions.
pub async fn logout(
    state: &AuthState,
    caller: &AuthUser,
    refresh_token: Option<&str>,
    all: bool,
) -> Result<(), ApiError> {
    if all {
        state.sessions.delete_user_sessions(&caller.user_id).await?;
        tracing::info!(user_id = %caller.user_id, "logged out of all sessions");
        return Ok(());
    }
    // Only the caller's own sessions can be named: the lookup is within the caller's account.
    if let Some((_, session_id, _)) = refresh_token.and_then(split_refresh_token) {
        state.sessions.delete_session(&caller.user_id, session_id).await?;
    }
    state.sessions.delete_session(&caller.user_id, &caller.session_id).await?;
    tracing::info!(user_id = %caller.user_id, "logged out");
    Ok(())
}

/// Changes the caller's password and ends all their sessions. Wrong current passwords count
/// toward the same backoff as failed logins.
pub async fn change_password(state: &AuthState, caller: &AuthUser, current: &str, new: String) -> Result<(), ApiError> {
    let new = Password::parse(new)
        .map_err(|(code, why)| ApiError::Validation(vec![FieldError::new("new_password", code, why)]))?;
    let mut user = state.accounts.account(&caller.user_id).await?.ok_or(ApiError::Unauthorized)?;
    let throttle_key = throttle::login_key(&user.email.key());
    let failures = state.throttle().ensure_login_allowed(&throttle_key).await?;
    if !state.hasher.verify(current, Some(&user.password_hash)).await? {
        state.throttle().record_login_failure(&throttle_key).await?;
        return Err(ApiError::WrongCurrentPassword);
    }
    user.password_hash = state.hasher.hash(new.expose()).await?;
    user.updated_at = state.clock.now();
    state.accounts.update_account(&user).await?;
    state.sessions.delete_user_sessions(&user.id).await?;
    failures.clear(&state.throttle(), &throttle_key).await?;
    tracing::info!(user_id = %user.id, "password changed; all sessions ended");
    Ok(())
}

/// Emails a reset link if the address has an account. Answers the same either way.
pub async fn request_password_reset(state: &AuthState, email: &str) -> Result<(), ApiError> {
    let email = parse_email_field(email)?;
    state.throttle().allow_email_to(&email.key()).await?;
    if let Some(user) = state.accounts.account_by_email(&email.key()).await? {
        let token = issue_token(state, &user, TokenKind::PasswordReset).await?;
        let link = format!("{}?token={token}", state.config.password_reset_url);
        let message = EmailMessage::ResetPassword { first_name: user.profile.first_name.clone(), link };
        queue_email(state, &user, message).await?;
    }
    Ok(())
}

/// Sets a new password with a reset token and ends all sessions. The token proves the
/// address too, so a pending account becomes active.
pub async fn reset_password(state: &AuthState, token: &str, password: String) -> Result<(), ApiError> {
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
    state.accounts.update_account(&user).await?;
    state.sessions.delete_user_sessions(&user.id).await?;
    state.throttle().clear_login_failures(&throttle::login_key(&user.email.key())).await?;
    tracing::info!(user_id = %user.id, "password reset; all sessions ended");
    Ok(())
}

fn parse_email_field(email: &str) -> Result<EmailAddress, ApiError> {
    EmailAddress::parse(email).map_err(|why| ApiError::Validation(vec![FieldError::new("email", "invalid_email", why)]))
}

/// Gives an account another role or status, and ends all its sessions. Authorization trusts
/// the role in access tokens (`domain::permissions`), so no token minted before the change
/// may outlive it; a suspended account is left with no working token. The admin and
/// moderation routes change roles and statuses through this.
pub async fn set_role_and_status(
    accounts: &dyn AccountStore,
    sessions: &dyn SessionStore,
    now: OffsetDateTime,
    user_id: &UserId,
    role: Role,
    status: Status,
) -> Result<User, ApiError> {
    let mut user = accounts.account(user_id).await?.ok_or(ApiError::NotFound)?;
    user.role = role;
    user.status = status;
    user.updated_at = now;
    accounts.update_account(&user).await?;
    sessions.delete_user_sessions(user_id).await?;
    tracing::info!(user_id = %user.id, role = role.as_str(), status = status.as_str(), "role or status changed; all sessions ended");
    Ok(user)
}
