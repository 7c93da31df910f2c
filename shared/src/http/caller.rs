//! Who is calling: a bearer access token whose session still exists, and the one permission
//! check every authenticated route makes.

use std::sync::Arc;

use axum::{
    extract::{FromRef, FromRequestParts},
    http::request::Parts,
};

use super::ApiError;
use crate::{
    clock::Clock,
    credentials::JwtKeys,
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
}

impl AuthUser {
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
        let access = Access::from_ref(state);
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
            .ok_or(ApiError::Unauthorized)?;
        let now = access.clock.now();
        let claims = access.keys.verify(token.trim(), now).await.ok_or(ApiError::Unauthorized)?;
        let user_id = UserId(claims.sub);
        let session = access.sessions.session(&user_id, &claims.sid).await?.ok_or(ApiError::Unauthorized)?;
        if session.expires_at <= now {
            return Err(ApiError::Unauthorized);
        }
        Ok(Self { user_id: session.user_id, session_id: session.id, role: claims.role })
    }
}
