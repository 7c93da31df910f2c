//! The account flows, independent of HTTP: register, confirm, log in, refresh, log out,
//! change and reset a password. Routes translate requests to these calls and back.

use super::{
    Identity, IdentityError,
    caller::AuthUser,
    client::{Client, Source},
    emailed_code,
    second_factor::{self, LoginOutcome},
    sessions::{AMR_PASSWORD, start_session},
    single_use::take_token,
    throttle::LoginAttempt,
};
pub use crate::accounts::Confirmation;
use crate::{
    accounts::{AccountError, Deletion, EmailChange, ProfileChanges, begin_email_change_allowed},
    config::CONFIRMATION_TOKEN_TTL,
    credentials::breached::Verdict,
    domain::{Action, EmailAddress, FieldError, Password, Profile, Role, User},
    ports::{ActivityKind, Job, LinkRequest, TokenKind},
};

/// What proves a signed-in caller is the account's owner before an email change or a deletion:
/// the password, or (an account without one may have none) a code emailed to its address.
#[derive(Clone, Copy)]
pub enum OwnerProof<'a> {
    Password(&'a str),
    EmailCode(&'a str),
}

impl OwnerProof<'_> {
    /// Checks the proof, counted as a login's check is; the attempt to forget once done. A wrong
    /// password is `wrong_current_password`, a wrong code `invalid_code`.
    async fn check(self, state: &Identity, user: &User, source: &Source) -> Result<LoginAttempt, IdentityError> {
        match self {
            OwnerProof::Password(password) => {
                state.throttle().check_current_password(&state.hasher, user, password, source).await
            }
            OwnerProof::EmailCode(code) => emailed_code::check_account_code(state, user, code, source).await,
        }
    }
}

/// A registration as asked for, not checked yet.
#[derive(Debug, Default)]
pub struct NewAccount {
    pub email: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
    pub nickname: Option<String>,
    pub bio: Option<String>,
}

/// A registration whose every field is valid.
struct ValidAccount {
    email: EmailAddress,
    password: Password,
    profile: Profile,
}

impl NewAccount {
    fn parse(self) -> Result<ValidAccount, IdentityError> {
        let mut errors = Vec::new();
        let email = EmailAddress::parse(&self.email)
            .map_err(|why| errors.push(FieldError::new("email", "invalid_email", why)))
            .ok();
        let (nickname, bio) = (self.nickname.as_deref(), self.bio.as_deref());
        let about = [self.email.as_str(), self.first_name.as_str(), self.last_name.as_str(), nickname.unwrap_or("")];
        let password = Password::parse(self.password, &about)
            .map_err(|(code, why)| errors.push(FieldError::new("password", code, why)))
            .ok();
        let profile = Profile::parse(&self.first_name, &self.last_name, nickname, bio, &mut errors);
        match (email, password, profile) {
            (Some(email), Some(password), Some(profile)) if errors.is_empty() => {
                Ok(ValidAccount { email, password, profile })
            }
            _ => Err(IdentityError::Validation(errors)),
        }
    }
}

/// Who asks for an account.
pub enum Registrar<'a> {
    /// Someone through the API: anyone for a reader or an author (counted per source), only an
    /// admin who proved who they are recently for staff (a staff account is a new way into
    /// every account: a stolen token must not make itself a permanent one). The account
    /// confirms its address by email.
    Request { caller: Result<AuthUser, IdentityError>, source: &'a Source },
    /// The operator's command (`ums admin create`): the operator vouches for the address, and
    /// the account is active at once.
    Operator,
}

/// Creates an account, pending (confirmed by email) or active (vouched for by the operator). A
/// pending account that held the address is replaced, and its links die with it.
pub async fn register(state: &Identity, new: NewAccount, role: Role, by: Registrar<'_>) -> Result<User, IdentityError> {
    let confirmation = match by {
        Registrar::Request { caller, .. } if matches!(role, Role::Moderator | Role::Admin) => {
            let caller = caller?;
            caller.require(Action::RegisterStaff)?;
            caller.require_recent_authentication()?;
            Confirmation::ByEmail
        }
        Registrar::Request { source, .. } => {
            state.throttle().allow_registration(source).await?;
            Confirmation::ByEmail
        }
        Registrar::Operator => Confirmation::VouchedByOperator,
    };
    let new = new.parse()?;
    not_breached(state, &new.password, "password").await?;
    let password_hash = state.hasher.hash(new.password.expose()).await?;
    let lifecycle = state.lifecycle();
    Ok(lifecycle.register(state.jobs.as_ref(), new.email, new.profile, password_hash, role, confirmation).await?)
}

/// Queues a new confirmation link for the address. The email worker sends it if the address
/// belongs to a pending account. The route does the same work whether or not it does, so
/// neither its answer nor its time tells.
pub async fn request_confirmation_email(state: &Identity, email: &str) -> Result<(), IdentityError> {
    request_link(state, TokenKind::EmailConfirmation, email).await
}

/// Queues a password-reset link for the address, sent if it has an account. Same work either
/// way, like `request_confirmation_email`.
pub async fn request_password_reset(state: &Identity, email: &str) -> Result<(), IdentityError> {
    request_link(state, TokenKind::PasswordReset, email).await
}

async fn request_link(state: &Identity, kind: TokenKind, email: &str) -> Result<(), IdentityError> {
    let email = parse_email_field(email)?;
    state.throttle().allow_email_to(&email.key()).await?;
    state.jobs.enqueue(&Job::SendLink(LinkRequest { kind, email: email.key(), user_id: None })).await?;
    Ok(())
}

/// Consumes a confirmation token and activates the account it was issued for.
pub async fn confirm_email(state: &Identity, token: &str) -> Result<User, IdentityError> {
    let (link, _) =
        take_token(state.tokens.as_ref(), state.clock.as_ref(), TokenKind::EmailConfirmation, token).await?;
    Ok(state.lifecycle().confirm_email(&link, state.config.limits.pending_account_ttl).await?)
}

/// Checks the credentials and starts a session. Unknown email and wrong password answer
/// alike and take the same time; each check is counted before it is made, per address and
/// source and per address (see `throttle`).
///
/// For an account with a second factor, a right password answers a challenge instead of
/// tokens (`second_factor`), and the checks stay counted until the second step succeeds.
pub async fn login(
    state: &Identity,
    email: &str,
    password: &str,
    client: Client<'_>,
) -> Result<LoginOutcome, IdentityError> {
    let (source, _) = client;
    let (user, attempt) = check_password(state, email, password, client).await?;
    if user.factors.any() {
        return Ok(LoginOutcome::SecondFactor(second_factor::challenge(state, &user, source, AMR_PASSWORD).await?));
    }
    // The session and the forgetting of the checks are one store call; a right password that
    // does not sign in (pending, suspended, changed a moment ago) is forgotten on its own.
    let user_id = user.id.clone();
    match start_session(state, user, Some(attempt.key()), vec![AMR_PASSWORD.to_string()], client).await {
        Ok(pair) => {
            tracing::info!(%user_id, "logged in");
            Ok(LoginOutcome::Tokens(Box::new(pair)))
        }
        Err(e) => {
            state.throttle().succeeded(attempt).await?;
            Err(e)
        }
    }
}

/// A login's first step: the account whose password this is, and the checks it was counted
/// on (still counted: the caller forgets them when the sign-in completes). Unknown email and
/// wrong password answer alike and take the same time.
pub(crate) async fn check_password(
    state: &Identity,
    email: &str,
    password: &str,
    client: Client<'_>,
) -> Result<(User, LoginAttempt), IdentityError> {
    let (source, _) = client;
    let Ok(email) = EmailAddress::parse(email) else {
        // No account can have this address (and it may not fit a store key): spend the same
        // time and answer alike.
        state.hasher.verify(password, None).await?;
        return Err(IdentityError::InvalidCredentials);
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
    let verified = state.hasher.verify(password, user.as_ref().and_then(|u| u.password_hash.as_ref())).await?;
    let user = match user {
        Some(user) if verified => user,
        Some(user) => {
            // The owner sees it in their security activity (the attempt counters bound how often).
            state.record(&user.id, ActivityKind::SignInFailed, client, "wrong password").await?;
            return Err(IdentityError::InvalidCredentials);
        }
        None => return Err(IdentityError::InvalidCredentials),
    };
    Ok((user, attempt))
}

/// Changes the caller's password and ends all their sessions. Wrong current passwords count
/// toward the same backoff as failed logins.
pub async fn change_password(
    state: &Identity,
    caller: &AuthUser,
    current: &str,
    new: String,
    (source, device): Client<'_>,
) -> Result<(), IdentityError> {
    caller.require(Action::ManageOwnSessions)?;
    caller.require_recent_authentication()?;
    let user = state.accounts.account(&caller.user_id).await?.ok_or(IdentityError::Unauthorized)?;
    let new = Password::parse(new, &user.known_by())
        .map_err(|(code, why)| IdentityError::Validation(vec![FieldError::new("new_password", code, why)]))?;
    not_breached(state, &new, "new_password").await?;
    let throttle = state.throttle();
    let attempt = throttle.check_current_password(&state.hasher, &user, current, source).await?;
    let new_hash = state.hasher.hash(new.expose()).await?;
    state
        .lifecycle()
        .change_password(&user.id, user.credential_version, new_hash)
        .await
        .map_err(IdentityError::or_missing(IdentityError::Unauthorized))?;
    throttle.succeeded(attempt).await?;
    state.record(&user.id, ActivityKind::PasswordChanged, (source, device), "every session ended").await
}

/// Sets a new password with a reset token and ends all sessions. The token proves the
/// address too, so a pending account becomes active.
pub async fn reset_password(
    state: &Identity,
    token: &str,
    password: String,
    (source, device): Client<'_>,
) -> Result<(), IdentityError> {
    // Check the password first, so a refused password does not burn the token (the account,
    // and so its names, are not known before it is taken).
    let password = Password::parse(password, &[])
        .map_err(|(code, why)| IdentityError::Validation(vec![FieldError::new("password", code, why)]))?;
    not_breached(state, &password, "password").await?;
    let (link, _) = take_token(state.tokens.as_ref(), state.clock.as_ref(), TokenKind::PasswordReset, token).await?;
    let new_hash = state.hasher.hash(password.expose()).await?;
    let user = state.lifecycle().reset_password(&link, new_hash, state.config.limits.pending_account_ttl).await?;
    // The link proved the address: lift its backoff, and that of the source that used it.
    state.throttle().forget_address(&user.email.key(), source).await?;
    state
        .record(&user.id, ActivityKind::PasswordReset, (source, device), "with an emailed link; every session ended")
        .await
}

/// Refuses a password that breaches made public (`credentials::breached`), naming the field.
async fn not_breached(state: &Identity, password: &Password, field: &'static str) -> Result<(), IdentityError> {
    match state.breached.check(password.expose()).await {
        Verdict::NotFound => Ok(()),
        Verdict::Breached(times) => Err(IdentityError::Validation(vec![FieldError::new(
            field,
            "breached",
            format!(
                "has appeared in data breaches ({times} times in Have I Been Pwned's list), so it is among the first \
                 an attacker tries; choose another"
            ),
        )])),
        Verdict::Unavailable => Err(IdentityError::PasswordCheckUnavailable { retry_after_secs: 30 }),
    }
}

fn parse_email_field(email: &str) -> Result<EmailAddress, IdentityError> {
    EmailAddress::parse(email)
        .map_err(|why| IdentityError::Validation(vec![FieldError::new("email", "invalid_email", why)]))
}

/// Changes the caller's address: a sensitive action (step-up) that decides where password
/// resets go. Counted per account and per source before anything is looked up; the current
/// password (or an emailed code) checked and counted as a login's; the address must not be held by another
/// confirmed account (a registration never confirmed holds none). The new address stays
/// pending, with the profile changes sent with it written in the same write, until the link
/// sent to it is followed; the old address is told.
pub async fn change_email(
    state: &Identity,
    caller: &AuthUser,
    email: &EmailAddress,
    proof: OwnerProof<'_>,
    profile: &ProfileChanges,
    (source, _): Client<'_>,
) -> Result<User, IdentityError> {
    caller.require_recent_authentication()?;
    let throttle = state.throttle();
    throttle.allow_email_change(&caller.user_id, source).await?;
    let user = state.accounts.account(&caller.user_id).await?.ok_or(IdentityError::Unauthorized)?;
    let attempt = proof.check(state, &user, source).await?;
    throttle.succeeded(attempt).await?;
    let holder = state.accounts.account_by_email(&email.key()).await?;
    if !begin_email_change_allowed(holder.as_ref(), &user.id) {
        return Err(IdentityError::Account(AccountError::EmailTaken));
    }
    if *email != user.email {
        throttle.allow_email_to(&email.key()).await?;
    }
    let change = EmailChange {
        email,
        verified: user.credential_version,
        profile,
        confirm_url: &state.config.email_change_url,
        link_ttl: CONFIRMATION_TOKEN_TTL,
    };
    state
        .lifecycle()
        .begin_email_change(state.tokens.as_ref(), state.jobs.as_ref(), &user.id, change)
        .await
        .map_err(IdentityError::or_missing(IdentityError::Unauthorized))
}

/// Confirms an email change with the link sent to the new address: the address becomes the
/// account's (if no other account took it meanwhile), recorded on the security activity.
pub async fn confirm_email_change(state: &Identity, token: &str, client: Client<'_>) -> Result<User, IdentityError> {
    let (link, _) = take_token(state.tokens.as_ref(), state.clock.as_ref(), TokenKind::EmailChange, token).await?;
    let user = state.lifecycle().confirm_email_change(&link).await?;
    let about = format!("to {}, confirmed from the link sent there", user.email);
    state.record(&user.id, ActivityKind::EmailChanged, client, about).await?;
    Ok(user)
}

/// Deletes the caller's own account for good: with a recent authentication and the current
/// password (or an emailed code), checked and counted as a login's; the delete is made only while the credential is
/// the one checked. The account and its address go at once, the rest by jobs; a goodbye email
/// goes to the address.
pub async fn delete_own_account(
    state: &Identity,
    caller: &AuthUser,
    proof: OwnerProof<'_>,
    source: &Source,
) -> Result<(), IdentityError> {
    caller.require(Action::DeleteOwnAccount)?;
    caller.require_recent_authentication()?;
    let user = state.accounts.account(&caller.user_id).await?.ok_or(IdentityError::Unauthorized)?;
    let throttle = state.throttle();
    let attempt = proof.check(state, &user, source).await?;
    throttle.succeeded(attempt).await?;
    let deletion =
        Deletion { id: &caller.user_id, role: None, verified: Some(user.credential_version), read: Some(user) };
    state
        .lifecycle()
        .delete_account(state.jobs.as_ref(), deletion)
        .await
        .map_err(IdentityError::or_missing(IdentityError::Unauthorized))
}
