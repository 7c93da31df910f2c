//! The caller of an authenticated route, from its `Authorization: Bearer` header (the token is
//! verified by `identity::caller`).

use axum::{
    extract::{FromRef, FromRequestParts},
    http::request::Parts,
};

use super::ApiError;
use crate::identity::{Access, AuthUser, IdentityError, caller::authenticate};

/// The bearer token's caller, and whether the token allows only enrolling a factor.
async fn bearer<S>(parts: &Parts, state: &S) -> Result<(AuthUser, bool), IdentityError>
where
    Access: FromRef<S>,
{
    let token = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
        .ok_or(IdentityError::Unauthorized)?;
    authenticate(&Access::from_ref(state), token).await
}

/// The caller, or why the request has none: for a route open to anyone whose rules depend on
/// who asks (registering staff), which the service decides.
pub struct MaybeCaller(pub Result<AuthUser, IdentityError>);

impl<S> FromRequestParts<S> for MaybeCaller
where
    Access: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(match bearer(parts, state).await {
            Ok((_, true)) => Err(IdentityError::SecondFactorEnrolmentRequired),
            Ok((user, false)) => Ok(user),
            Err(e) => Err(e),
        }))
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
        let (user, enrolment_only) = bearer(parts, state).await?;
        Ok(Self { user, enrolment_only })
    }
}
