//! Who is calling: a bearer access token whose session still exists, and the one permission
//! check every authenticated route makes.

use std::sync::Arc;

use axum::{
    extract::{FromRef, FromRequestParts},
    http::request::Parts,
};

use time::OffsetDateTime;

use super::ApiError;
use crate::{
    clock::Clock,
    credentials::{JwtKeys, jwt::Scope},
    domain::{Action, Role, UserId},
    ports::SessionStore,
};

/// What authenticating a caller takes: the key that verifies tokens, the sessions they point
/// to, the time. Every group state that has authenticated routes provides one (`FromRef`).
#[derive(Clone)]
pub struct Access {
    pub keys: Arc<JwtKeys>,
    pub sessions: Arc<dyn SessionStore>,
    pub clock: Arc<dyn Clock>,
}

/// The caller of an authenticated route: a valid access token whose session still exists.
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

impl AuthUser {
    /// The step-up check of a sensitive action (a password or email change, a deletion, a
    /// factor's removal, a role change): 401 `step_up_required` unless the caller proved who
    /// they were within `UMS_STEP_UP_MAX_AGE_SECS`.
    pub fn require_recent_authentication(&self) -> Result<(), ApiError> {
        if self.recently_authenticated {
            Ok(())
        } else {
            Err(ApiError::StepUpRequired { max_age_secs: self.step_up_max_age_secs })
        }
    }

    /// The permission check of every authenticated route: 403 `forbidden` unless the
    /// caller's role may perform `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if action.allows(self.role) { Ok(()) } else { Err(ApiError::Forbidden) }
    }
}

impl<S> FromRequestParts<S> for AuthUser
where
    Access: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = EnrollingUser::from_request_parts(parts, state).await?;
        if caller.enrolment_only {
            return Err(ApiError::SecondFactorEnrolmentRequired);
        }
        Ok(caller.user)
    }
}

/// The caller of the routes that enrol a second factor (and log out): any valid access token,
/// those of a staff account that has none yet included (they can do nothing else).
#[derive(Clone, Debug)]
pub struct EnrollingUser {
    pub user: AuthUser,
    /// The token allows only enrolment.
    pub enrolment_only: bool,
}

impl<S> FromRequestParts<S> for EnrollingUser
where
    Access: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let access = Access::from_ref(state);
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
            .ok_or(ApiError::Unauthorized)?;
        let now = access.clock.now();
        let claims = access.keys.verify(token.trim(), now).await.ok_or(ApiError::Unauthorized)?;
        let enrolment_only = access.keys.scope_of(&claims) == Scope::FactorEnrolment;
        let user_id = UserId(claims.sub);
        let session = access.sessions.session(&user_id, &claims.sid).await?.ok_or(ApiError::Unauthorized)?;
        if session.expires_at <= now {
            return Err(ApiError::Unauthorized);
        }
        let auth_time = OffsetDateTime::from_unix_timestamp(claims.auth_time).map_err(|_| ApiError::Unauthorized)?;
        let max_age = access.keys.step_up_max_age();
        let user = AuthUser {
            user_id: session.user_id,
            session_id: session.id,
            role: claims.role,
            recently_authenticated: now - auth_time <= max_age,
            step_up_max_age_secs: max_age.as_secs(),
            auth_time,
            amr: claims.amr.clone(),
        };
        Ok(Self { user, enrolment_only })
    }
}
