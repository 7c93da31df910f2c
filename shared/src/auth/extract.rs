use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    http::request::Parts,
};

use crate::{
    app::AppState,
    domain::{Role, UserId},
    error::ApiError,
};

/// The caller of an authenticated route: a valid access token whose session still exists.
/// Checking the session on every call is what makes logout take effect at once.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub user_id: UserId,
    pub session_id: String,
    pub role: Role,
}

impl AuthUser {
    pub fn require_role(&self, role: Role) -> Result<(), ApiError> {
        if self.role == role { Ok(()) } else { Err(ApiError::Forbidden) }
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
            .ok_or(ApiError::Unauthorized)?;
        let now = state.clock.now();
        let claims = state.keys.verify(token.trim(), now).ok_or(ApiError::Unauthorized)?;
        let user_id = UserId(claims.sub);
        let session = state.store.session(&user_id, &claims.sid).await?.ok_or(ApiError::Unauthorized)?;
        if session.expires_at <= now {
            return Err(ApiError::Unauthorized);
        }
        Ok(Self { user_id: session.user_id, session_id: session.id, role: claims.role })
    }
}

/// `Option<AuthUser>`: no `Authorization` header means anonymous; a header with a bad token
/// is still refused.
impl OptionalFromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        if parts.headers.contains_key(axum::http::header::AUTHORIZATION) {
            <Self as FromRequestParts<AppState>>::from_request_parts(parts, state).await.map(Some)
        } else {
            Ok(None)
        }
    }
}
