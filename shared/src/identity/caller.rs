//! Who is calling: a verified access token whose session still exists, and the rules every
//! action asks of it (its role's permission, a recent authentication, whose account it is on).

use std::sync::Arc;

use time::OffsetDateTime;

use super::IdentityError;
use crate::{
    clock::Clock,
    credentials::{JwtKeys, jwt::Scope},
    domain::{Action, Role, UserId},
    ports::SessionStore,
};

/// What authenticating a caller takes: the key that verifies tokens, the sessions they point
/// to, the time.
#[derive(Clone)]
pub struct Access {
    pub keys: Arc<JwtKeys>,
    pub sessions: Arc<dyn SessionStore>,
    pub clock: Arc<dyn Clock>,
}

/// The caller of an authenticated action: a valid access token whose session still exists.
/// Checking the session on every call is what makes logout take effect at once.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub user_id: UserId,
    pub session_id: String,
    /// The role in the token: see `domain::permissions` for why that is the one to trust.
    pub role: Role,
    /// When the session's holder last proved who they were (the token's `auth_time`).
    pub auth_time: OffsetDateTime,
    /// How (the token's `amr`).
    pub amr: Vec<String>,
    /// Whether `auth_time` is recent enough for a sensitive action, as of this request.
    recently_authenticated: bool,
    step_up_max_age_secs: u64,
}

/// Whose account an action is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// The caller's own.
    Own(UserId),
    /// Another account, named by id (only admins get here).
    Other(UserId),
}

impl Subject {
    pub fn id(&self) -> &UserId {
        match self {
            Subject::Own(id) | Subject::Other(id) => id,
        }
    }
}

impl AuthUser {
    /// The step-up check of a sensitive action: `StepUpRequired` unless the caller proved who
    /// they were within `UMS_STEP_UP_MAX_AGE_SECS`.
    pub fn require_recent_authentication(&self) -> Result<(), IdentityError> {
        if self.recently_authenticated {
            Ok(())
        } else {
            Err(IdentityError::StepUpRequired { max_age_secs: self.step_up_max_age_secs })
        }
    }

    /// The permission check of every authenticated action: `Forbidden` unless the caller's
    /// role may perform `action`.
    pub fn require(&self, action: Action) -> Result<(), IdentityError> {
        if action.allows(self.role) { Ok(()) } else { Err(IdentityError::Forbidden) }
    }

    /// The one rule for "your own account, or another for admins": without an id (or with the
    /// caller's own), the caller's account, if their role allows `own`; with another's, only
    /// for admins (`ManageAnyAccount`).
    pub fn own_or_as_admin(&self, id: Option<String>, own: Action) -> Result<Subject, IdentityError> {
        match id.filter(|id| *id != self.user_id.0) {
            Some(other) => {
                self.require(Action::ManageAnyAccount)?;
                Ok(Subject::Other(UserId(other)))
            }
            None => {
                self.require(own)?;
                Ok(Subject::Own(self.user_id.clone()))
            }
        }
    }
}

impl AuthUser {
    /// The caller of a console session: its role is the account's as read now (the session
    /// holds the access version it began with, so a role change has ended it), its
    /// authentication time the session's last proof (`proved_at`, or its sign-in).
    pub(crate) fn of_console_session(
        session: &crate::ports::Session,
        role: Role,
        now: OffsetDateTime,
        step_up_max_age: std::time::Duration,
    ) -> Self {
        let auth_time = session.proved_at.unwrap_or(session.created_at);
        Self {
            user_id: session.user_id.clone(),
            session_id: session.id.clone(),
            role,
            auth_time,
            amr: session.amr.clone(),
            recently_authenticated: now - auth_time <= step_up_max_age,
            step_up_max_age_secs: step_up_max_age.as_secs(),
        }
    }
}

/// A bearer token verified: the caller, and whether the token allows only enrolling a second
/// factor (a staff account that has none yet).
pub async fn authenticate(access: &Access, bearer: &str) -> Result<(AuthUser, bool), IdentityError> {
    let now = access.clock.now();
    let claims = access.keys.verify(bearer.trim(), now).await.ok_or(IdentityError::Unauthorized)?;
    let enrolment_only = access.keys.scope_of(&claims) == Scope::FactorEnrolment;
    let user_id = UserId(claims.sub);
    let session = access.sessions.session(&user_id, &claims.sid).await?.ok_or(IdentityError::Unauthorized)?;
    if session.expires_at <= now {
        return Err(IdentityError::Unauthorized);
    }
    let auth_time = OffsetDateTime::from_unix_timestamp(claims.auth_time).map_err(|_| IdentityError::Unauthorized)?;
    let max_age = access.keys.step_up_max_age();
    let user = AuthUser {
        user_id: session.user_id,
        session_id: session.id,
        role: claims.role,
        recently_authenticated: now - auth_time <= max_age,
        step_up_max_age_secs: max_age.as_secs(),
        auth_time,
        amr: claims.amr,
    };
    Ok((user, enrolment_only))
}
