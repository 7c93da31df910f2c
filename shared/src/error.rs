//! RFC 9457 problem details: every error a client sees, with a stable machine-readable `code`.
//!
//! What the client sees is decided here and only here; internal errors are logged with their
//! cause and answered with a bare 500.

use axum::{
    extract::rejection::{JsonRejection, QueryRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub code: &'static str,
    pub detail: String,
}

impl FieldError {
    pub fn new(field: &'static str, code: &'static str, detail: impl Into<String>) -> Self {
        Self { field, code, detail: detail.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("invalid query string: {0}")]
    InvalidQuery(String),
    #[error("expected a JSON body")]
    UnsupportedMediaType,
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("email already registered")]
    EmailTaken,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("email not confirmed")]
    EmailNotConfirmed,
    #[error("too many failed attempts")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("too many emails sent to this address")]
    TooManyEmails { retry_after_secs: u64 },
    #[error("missing or invalid access token")]
    Unauthorized,
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    #[error("refresh token reused")]
    RefreshTokenReused,
    #[error("invalid or already used token")]
    InvalidToken,
    #[error("token expired")]
    TokenExpired,
    #[error("forbidden")]
    Forbidden,
    #[error("account suspended")]
    AccountSuspended,
    #[error("current password is wrong")]
    WrongCurrentPassword,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("invalid cursor")]
    InvalidCursor,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:ums:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Stable, machine-readable: branch on this, not on `title` or `detail`.
    pub code: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            MalformedJson(_) | InvalidQuery(_) | InvalidToken | TokenExpired | InvalidCursor => StatusCode::BAD_REQUEST,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            EmailTaken => StatusCode::CONFLICT,
            InvalidCredentials | Unauthorized | InvalidRefreshToken | RefreshTokenReused => StatusCode::UNAUTHORIZED,
            EmailNotConfirmed | Forbidden | AccountSuspended | WrongCurrentPassword => StatusCode::FORBIDDEN,
            TooManyAttempts { .. } | TooManyEmails { .. } => StatusCode::TOO_MANY_REQUESTS,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            Validation(_) => "validation_failed",
            MalformedJson(_) => "malformed_json",
            InvalidQuery(_) => "invalid_query",
            UnsupportedMediaType => "unsupported_media_type",
            PayloadTooLarge => "payload_too_large",
            EmailTaken => "email_taken",
            InvalidCredentials => "invalid_credentials",
            EmailNotConfirmed => "email_not_confirmed",
            TooManyAttempts { .. } => "too_many_attempts",
            TooManyEmails { .. } => "too_many_emails",
            Unauthorized => "unauthorized",
            InvalidRefreshToken => "invalid_refresh_token",
            RefreshTokenReused => "refresh_token_reused",
            InvalidToken => "invalid_token",
            TokenExpired => "token_expired",
            Forbidden => "forbidden",
            AccountSuspended => "account_suspended",
            WrongCurrentPassword => "wrong_current_password",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            InvalidCursor => "invalid_cursor",
            Internal(_) => "internal_error",
        }
    }

    fn detail(&self) -> String {
        use ApiError::*;
        match self {
            Validation(_) => "One or more fields are invalid; see `errors`.".into(),
            MalformedJson(why) => format!("The request body could not be parsed: {why}"),
            InvalidQuery(why) => format!("The query string could not be parsed: {why}"),
            UnsupportedMediaType => "Send the body as JSON with `Content-Type: application/json`.".into(),
            PayloadTooLarge => "The request body is larger than this service accepts.".into(),
            EmailTaken => "An account with this email already exists.".into(),
            InvalidCredentials => "The email or password is wrong.".into(),
            EmailNotConfirmed => {
                "Confirm your email address before logging in; ask for a new link at `auth/send_confirm_email`.".into()
            }
            TooManyAttempts { retry_after_secs } => {
                format!("Too many failed attempts; try again in {retry_after_secs} seconds.")
            }
            TooManyEmails { retry_after_secs } => {
                format!("Too many emails were sent to this address; try again in {retry_after_secs} seconds.")
            }
            Unauthorized => "A valid bearer access token is required.".into(),
            InvalidRefreshToken => "The refresh token is invalid or expired; log in again.".into(),
            RefreshTokenReused => {
                "This refresh token was already used; the session has been ended. Log in again.".into()
            }
            InvalidToken => "The token is invalid or was already used.".into(),
            TokenExpired => "The token has expired; ask for a new one.".into(),
            Forbidden => "Your account is not allowed to do this.".into(),
            AccountSuspended => "This account is suspended.".into(),
            WrongCurrentPassword => "The current password is wrong.".into(),
            NotFound => "There is nothing here.".into(),
            MethodNotAllowed => "This route does not accept this method.".into(),
            InvalidCursor => "The cursor was not made by this service; start again without one.".into(),
            Internal(_) => "Something went wrong on our side; it has been logged.".into(),
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        let code = self.code();
        Problem {
            kind: format!("urn:ums:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.detail(),
            code,
            errors: match self {
                ApiError::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = ?cause, "internal error");
        }
        let problem = self.problem();
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        match self {
            ApiError::TooManyAttempts { retry_after_secs } | ApiError::TooManyEmails { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            ApiError::Unauthorized | ApiError::InvalidCredentials => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            r if r.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            JsonRejection::JsonDataError(e) => ApiError::MalformedJson(e.body_text()),
            other => ApiError::MalformedJson(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::InvalidQuery(rejection.body_text())
    }
}

impl From<crate::ports::StoreError> for ApiError {
    fn from(e: crate::ports::StoreError) -> Self {
        match e {
            crate::ports::StoreError::EmailTaken => ApiError::EmailTaken,
            crate::ports::StoreError::Other(e) => ApiError::Internal(e),
        }
    }
}
