//! The staff console's sign-in and sessions, below HTTP.
//!
//! A console session is an ordinary session (listed among the account's, ended by logout, by an
//! admin, by a password change, a role or status change) whose holder is a browser: its secret
//! is in an HttpOnly cookie, never refreshed, and a form proves it came from the session's own
//! pages with a token derived from that secret. Only staff sign in, with their password and
//! second factor; a session idle for [`IDLE_TIMEOUT`] or older than [`MAX_AGE`] ends. Step-up
//! is the API's (the same proofs, counted on the same limits), recorded on the session.

use subtle::ConstantTimeEq as _;
use time::{Duration, OffsetDateTime};

use super::{
    AuthUser, Identity, IdentityError,
    client::Client,
    password::check_password,
    second_factor::{self, FactorAnswer, Proof, SecondFactorChallenge},
    sessions::{self, AMR_PASSWORD, console_hash, start_console_session},
};
use crate::{
    credentials::tokens::{hash_token, split_refresh_token},
    domain::{AccountStatus, User},
    ports::Session,
};

/// A console session unused this long ends.
pub const IDLE_TIMEOUT: Duration = Duration::minutes(30);
/// A console session ends this long after its sign-in, used or not.
pub const MAX_AGE: Duration = Duration::hours(12);
/// A session's last use is written at most this often (a page view is otherwise read-only).
const SEEN_EVERY: Duration = Duration::minutes(1);

/// The first step: a staff account's password right answers its second factor's challenge.
/// A reader's or an author's right password is refused (`Forbidden`: the console is staff's)
/// with nothing started; so is a staff account without a factor (it enrols one first).
pub async fn sign_in(
    state: &Identity,
    email: &str,
    password: &str,
    client: Client<'_>,
) -> Result<SecondFactorChallenge, IdentityError> {
    let (user, attempt) = check_password(state, email, password, client).await?;
    // The password was right: its checks are forgotten whatever the console says next.
    if !user.is_staff() {
        state.throttle().succeeded(attempt).await?;
        tracing::info!(user_id = %user.id, "a console sign-in by an account that is not staff refused");
        return Err(IdentityError::Forbidden);
    }
    if !user.factors.any() {
        state.throttle().succeeded(attempt).await?;
        return Err(IdentityError::FactorRequired);
    }
    second_factor::challenge_for(state, &user, client.0, AMR_PASSWORD, true).await
}

/// The second step: the challenge and a factor start a console session. Answers the cookie's
/// value.
pub async fn complete_sign_in(
    state: &Identity,
    challenge: &str,
    answer: &FactorAnswer,
    client: Client<'_>,
) -> Result<String, IdentityError> {
    let (user, attempt, amr) = second_factor::second_step(state, challenge, answer, client.0, true).await?;
    let user_id = user.id.clone();
    match start_console_session(state, user, Some(attempt.key()), amr, MAX_AGE, client).await {
        Ok(cookie) => {
            tracing::info!(%user_id, "signed in to the console");
            Ok(cookie)
        }
        Err(e) => {
            state.throttle().succeeded(attempt).await?;
            Err(e)
        }
    }
}

/// Who holds a console cookie: the caller as every service asks for one, and their account.
pub struct ConsoleCaller {
    pub caller: AuthUser,
    pub account: User,
    /// The token every form of this session carries.
    pub csrf_token: String,
    session: Session,
}

impl ConsoleCaller {
    /// Whether a form's token is this session's.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        bool::from(presented.as_bytes().ct_eq(self.csrf_token.as_bytes()))
    }
}

/// The session a console cookie refers to, if it is still one: its secret right, neither idle
/// nor too old, its account active and staff at the credential and access it began with.
/// A session found over is ended. Marks it used (at most once a minute).
pub async fn authenticate(state: &Identity, cookie: &str) -> Result<ConsoleCaller, IdentityError> {
    let (user_id, session_id, secret) = split_refresh_token(cookie.trim()).ok_or(IdentityError::Unauthorized)?;
    let session = state.sessions.session(&user_id, session_id).await?.ok_or(IdentityError::Unauthorized)?;
    let hash = console_hash(secret);
    if !session.is_console() || !bool::from(hash.as_bytes().ct_eq(session.refresh_hash.as_bytes())) {
        return Err(IdentityError::Unauthorized);
    }
    let now = state.clock.now();
    let account = state.accounts.account(&user_id).await?;
    let current = |u: &User| {
        u.status == AccountStatus::Active
            && u.is_staff()
            && u.credential_version == session.credential_version
            && u.access_version == session.access_version
    };
    let over = session.expires_at <= now || now - session.last_used_at() > IDLE_TIMEOUT;
    let Some(account) = account.filter(current).filter(|_| !over) else {
        state.sessions.delete_session(&user_id, &session.id).await?;
        return Err(IdentityError::Unauthorized);
    };
    if now - session.last_used_at() >= SEEN_EVERY
        && !state.sessions.touch_session(&user_id, &session.id, &hash, now, None).await?
    {
        return Err(IdentityError::Unauthorized);
    }
    let caller = AuthUser::of_console_session(&session, account.role, now, state.keys.step_up_max_age());
    Ok(ConsoleCaller { caller, account, csrf_token: csrf_token(secret), session })
}

/// The forms' token of the session whose secret this is: derived, so it is kept nowhere, and
/// only the cookie's holder (or this service) can make it.
fn csrf_token(secret: &str) -> String {
    hash_token(&format!("csrf.{secret}"))
}

/// Step-up from the console: the API's proofs (a factor's code, a recovery code, a passkey),
/// recorded on the session as its last proof.
pub async fn step_up(
    state: &Identity,
    console: &ConsoleCaller,
    proof: Proof<'_>,
    client: Client<'_>,
) -> Result<(), IdentityError> {
    let (user, method) = second_factor::prove_again(state, &console.caller, proof, client.0).await?;
    let now = state.clock.now();
    let session = &console.session;
    if !state.sessions.touch_session(&user.id, &session.id, &session.refresh_hash, now, Some(now)).await? {
        return Err(IdentityError::Unauthorized);
    }
    tracing::info!(user_id = %user.id, method, "stepped up in the console");
    Ok(())
}

/// Ends the console session (its sign-out button).
pub async fn sign_out(state: &Identity, console: &ConsoleCaller, client: Client<'_>) -> Result<(), IdentityError> {
    sessions::logout(state, &console.caller, None, false, client).await
}

/// When a session's holder must prove who they are again, as of `now` (for the page to say).
pub fn proof_recent_until(console: &ConsoleCaller, state: &Identity) -> OffsetDateTime {
    console.caller.auth_time + state.keys.step_up_max_age()
}
