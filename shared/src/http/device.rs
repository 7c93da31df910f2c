//! The requesting client's description, from its User-Agent header.

use axum::{extract::FromRequestParts, http::header::USER_AGENT};

pub use crate::identity::Device;

impl<S: Send + Sync> FromRequestParts<S> for Device {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Device::from_user_agent(parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok())))
    }
}
