//! RFC 9457 problem details: every error a client sees, with a stable machine-readable `code`.
//!
//! What the client sees is decided here and only here; internal errors are logged with their
//! cause and answered with a bare 500.

use axum::{
    extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use std::borrow::Cow;

use serde::Serialize;
use utoipa::ToSchema;

pub use crate::domain::FieldError;
use crate::{
    accounts::{AccountError, FactorRefusal},
    credentials::password::HashError,
    pagination,
    ports::StoreError,
};

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
    AccountSuspended { until: Option<time::OffsetDateTime> },
    #[error("current password is wrong")]
    WrongCurrentPassword,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("the record changed meanwhile")]
    Conflict,
    #[error("the last admin")]
    LastAdmin,
    #[error("already reported")]
    AlreadyReported,
    #[error("report not open")]
    ReportNotOpen { report_id: String },
    #[error("not suspended")]
    NotSuspended,
    #[error("too many notifications")]
    TooManyNotifications { retry_after_secs: u64 },
    #[error("refresh token just rotated")]
    RefreshConflict,
    #[error("too many email changes")]
    TooManyEmailChanges { retry_after_secs: u64 },
    #[error("too many registrations")]
    TooManyRegistrations { retry_after_secs: u64 },
    #[error("server busy")]
    ServerBusy { retry_after_secs: u64 },
    #[error("a recent authentication is needed")]
    StepUpRequired { max_age_secs: u64 },
    #[error("a second factor must be enrolled first")]
    SecondFactorEnrolmentRequired,
    #[error("this account steps up with its second factor")]
    StepUpNeedsFactor,
    #[error("invalid second factor")]
    InvalidSecondFactor,
    #[error("invalid or expired login challenge")]
    InvalidChallenge,
    #[error("invalid passkey")]
    InvalidPasskey,
    #[error("too many passkeys")]
    TooManyPasskeys,
    #[error("no such factor")]
    NoSuchFactor,
    #[error("the factor exists")]
    FactorExists,
    #[error("staff keep a factor")]
    FactorRequired,
    #[error("identity linked elsewhere")]
    IdentityTaken,
    #[error("unknown provider")]
    UnknownProvider,
    #[error("redirect not allowed")]
    RedirectNotAllowed,
    #[error("provider unavailable")]
    ProviderUnavailable { retry_after_secs: u64 },
    #[error("password check unavailable")]
    PasswordCheckUnavailable { retry_after_secs: u64 },
    #[error("provider sign-in failed")]
    ProviderSignInFailed,
    #[error("invalid sign-in flow")]
    InvalidSignInFlow,
    #[error("invalid code")]
    InvalidCode,
    #[error("provider email unverified")]
    ProviderEmailUnverified,
    #[error("last way in")]
    LastWayIn,
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
    /// With `account_suspended`: when the suspension ends by itself (absent: until reinstated).
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub suspended_until: Option<time::OffsetDateTime>,
}

/// One row of the error table: what a client sees for one stable code.
pub struct ErrorCode {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: &'static str,
}

const fn row(status: StatusCode, code: &'static str, title: &'static str) -> ErrorCode {
    ErrorCode { status, code, title }
}

impl ApiError {
    /// The error table: each variant's status, code and title, and the detail it sends.
    fn describe(&self) -> (ErrorCode, Cow<'static, str>) {
        use ApiError::*;
        use StatusCode as S;
        match self {
            Validation(_) => (
                row(S::UNPROCESSABLE_ENTITY, "validation_failed", "Validation failed"),
                "One or more fields are invalid; see `errors`.".into(),
            ),
            MalformedJson(why) => (
                row(S::BAD_REQUEST, "malformed_json", "Malformed JSON"),
                format!("The request body could not be parsed: {why}").into(),
            ),
            InvalidQuery(why) => (
                row(S::BAD_REQUEST, "invalid_query", "Invalid query string"),
                format!("The query string could not be parsed: {why}").into(),
            ),
            UnsupportedMediaType => (
                row(S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Unsupported media type"),
                "Send the body as JSON with `Content-Type: application/json`.".into(),
            ),
            PayloadTooLarge => (
                row(S::PAYLOAD_TOO_LARGE, "payload_too_large", "Payload too large"),
                "The request body is larger than this service accepts.".into(),
            ),
            EmailTaken => {
                (row(S::CONFLICT, "email_taken", "Email taken"), "An account with this email already exists.".into())
            }
            InvalidCredentials => (
                row(S::UNAUTHORIZED, "invalid_credentials", "Invalid credentials"),
                "The email or password is wrong.".into(),
            ),
            EmailNotConfirmed => (
                row(S::FORBIDDEN, "email_not_confirmed", "Email not confirmed"),
                "Confirm your email address before logging in; ask for a new link at `auth/send_confirm_email`.".into(),
            ),
            TooManyAttempts { retry_after_secs } => (
                row(S::TOO_MANY_REQUESTS, "too_many_attempts", "Too many attempts"),
                format!("Too many failed attempts; try again in {retry_after_secs} seconds.").into(),
            ),
            TooManyEmails { retry_after_secs } => (
                row(S::TOO_MANY_REQUESTS, "too_many_emails", "Too many emails"),
                format!("Too many emails were sent to this address; try again in {retry_after_secs} seconds.").into(),
            ),
            Unauthorized => (
                row(S::UNAUTHORIZED, "unauthorized", "Unauthorized"),
                "A valid bearer access token is required.".into(),
            ),
            InvalidRefreshToken => (
                row(S::UNAUTHORIZED, "invalid_refresh_token", "Invalid refresh token"),
                "The refresh token is invalid or expired; log in again.".into(),
            ),
            RefreshTokenReused => (
                row(S::UNAUTHORIZED, "refresh_token_reused", "Refresh token reused"),
                "This refresh token was already used; the session has been ended. Log in again.".into(),
            ),
            InvalidToken => (
                row(S::BAD_REQUEST, "invalid_token", "Invalid token"),
                "The token is invalid or was already used.".into(),
            ),
            TokenExpired => (
                row(S::BAD_REQUEST, "token_expired", "Token expired"),
                "The token has expired; ask for a new one.".into(),
            ),
            Forbidden => {
                (row(S::FORBIDDEN, "forbidden", "Forbidden"), "Your account is not allowed to do this.".into())
            }
            AccountSuspended { until } => (
                row(S::FORBIDDEN, "account_suspended", "Account suspended"),
                match until.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()) {
                    Some(until) => format!("This account is suspended until {until}.").into(),
                    None => "This account is suspended.".into(),
                },
            ),
            WrongCurrentPassword => (
                row(S::FORBIDDEN, "wrong_current_password", "Wrong current password"),
                "The current password is wrong.".into(),
            ),
            NotFound => (row(S::NOT_FOUND, "not_found", "Not found"), "There is nothing here.".into()),
            MethodNotAllowed => (
                row(S::METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed"),
                "This route does not accept this method.".into(),
            ),
            InvalidCursor => (
                row(S::BAD_REQUEST, "invalid_cursor", "Invalid cursor"),
                "The cursor was not made by this service; start again without one.".into(),
            ),
            Conflict => (
                row(S::CONFLICT, "conflict", "Conflict"),
                "The account changed while this request was handled; try again.".into(),
            ),
            LastAdmin => (
                row(S::CONFLICT, "last_admin", "Last admin"),
                "This is the last active admin: it can be neither deleted, demoted nor suspended.".into(),
            ),
            AlreadyReported => (
                row(S::CONFLICT, "already_reported", "Already reported"),
                "You already have an open report on this author; a moderator will look at it.".into(),
            ),
            ReportNotOpen { report_id } => (
                row(S::CONFLICT, "report_not_open", "Report not open"),
                format!("Report {report_id} is not an open report on this author.").into(),
            ),
            NotSuspended => {
                (row(S::CONFLICT, "not_suspended", "Not suspended"), "This author is not suspended.".into())
            }
            TooManyNotifications { retry_after_secs } => (
                row(S::TOO_MANY_REQUESTS, "too_many_notifications", "Too many notifications"),
                format!("You reached today's limit of notifications; try again in {retry_after_secs} seconds.").into(),
            ),
            RefreshConflict => (
                row(S::CONFLICT, "refresh_conflict", "Refresh conflict"),
                "This refresh token was rotated a moment ago by another request of yours; use the tokens that \
                 request received. The session is still valid."
                    .into(),
            ),
            TooManyRegistrations { retry_after_secs } => (
                row(S::TOO_MANY_REQUESTS, "too_many_registrations", "Too many registrations"),
                format!("Too many registrations; try again in {retry_after_secs} seconds.").into(),
            ),
            TooManyEmailChanges { retry_after_secs } => (
                row(S::TOO_MANY_REQUESTS, "too_many_email_changes", "Too many email changes"),
                format!("Too many email changes were asked for; try again in {retry_after_secs} seconds.").into(),
            ),
            ServerBusy { retry_after_secs } => (
                row(S::SERVICE_UNAVAILABLE, "server_busy", "Server busy"),
                format!("The service is busy; try again in {retry_after_secs} seconds.").into(),
            ),
            StepUpRequired { .. } => (
                row(S::UNAUTHORIZED, "step_up_required", "Recent authentication required"),
                "This action needs a recent authentication: confirm it with `POST /api/v1/auth/step_up` \
                 (the password or a second factor), then send the access token that answers."
                    .into(),
            ),
            SecondFactorEnrolmentRequired => (
                row(S::FORBIDDEN, "second_factor_enrolment_required", "Second factor required"),
                "Staff accounts sign in with a second factor: this token can only enrol one \
                 (`POST /api/v1/auth/factors/totp`)."
                    .into(),
            ),
            StepUpNeedsFactor => (
                row(S::FORBIDDEN, "step_up_needs_second_factor", "Step up with the second factor"),
                "This account has a second factor: a step-up proves who you are with it (a code, a \
                 recovery code or a passkey), not with the password alone."
                    .into(),
            ),
            InvalidSecondFactor => (
                row(S::UNAUTHORIZED, "invalid_second_factor", "Invalid second factor"),
                "The code is wrong, expired or already used.".into(),
            ),
            InvalidChallenge => (
                row(S::UNAUTHORIZED, "invalid_challenge", "Invalid login challenge"),
                "The login challenge is unknown, used, expired or from elsewhere; log in again.".into(),
            ),
            InvalidPasskey => (
                row(S::UNAUTHORIZED, "invalid_passkey", "Invalid passkey"),
                "The passkey's answer did not verify, or its ceremony is unknown, used, expired or from \
                 elsewhere; start again."
                    .into(),
            ),
            TooManyPasskeys => (
                row(S::CONFLICT, "too_many_passkeys", "Too many passkeys"),
                format!("An account keeps at most {} passkeys; remove one first.", crate::domain::MAX_PASSKEYS).into(),
            ),
            NoSuchFactor => (
                row(S::NOT_FOUND, "no_such_factor", "No such factor"),
                "The account has no such factor (or no enrolment is under way).".into(),
            ),
            FactorExists => (
                row(S::CONFLICT, "factor_exists", "Factor exists"),
                "The account already has this factor; remove it first to enrol another.".into(),
            ),
            FactorRequired => (
                row(S::CONFLICT, "second_factor_required", "Second factor required"),
                "Staff accounts keep a second factor: this one is their last.".into(),
            ),
            IdentityTaken => (
                row(S::CONFLICT, "identity_taken", "Identity linked elsewhere"),
                "This provider's account is linked to another account.".into(),
            ),
            UnknownProvider => (
                row(S::NOT_FOUND, "unknown_provider", "Unknown provider"),
                "No sign-in provider has this id; `GET /api/v1/auth/providers` lists them.".into(),
            ),
            RedirectNotAllowed => (
                row(S::BAD_REQUEST, "redirect_not_allowed", "Redirect not allowed"),
                "`redirect_to` is not one of the front-end addresses the operator listed.".into(),
            ),
            ProviderUnavailable { retry_after_secs } => (
                row(S::SERVICE_UNAVAILABLE, "provider_unavailable", "Provider unavailable"),
                format!(
                    "The sign-in provider cannot be reached; try again in {retry_after_secs} seconds, or sign in \
                     another way."
                )
                .into(),
            ),
            PasswordCheckUnavailable { retry_after_secs } => (
                row(S::SERVICE_UNAVAILABLE, "password_check_unavailable", "Password check unavailable"),
                format!(
                    "New passwords are checked against those published from data breaches, and that list cannot be \
                     reached now; try again in {retry_after_secs} seconds."
                )
                .into(),
            ),
            ProviderSignInFailed => (
                row(S::UNAUTHORIZED, "provider_sign_in_failed", "Provider sign-in failed"),
                "The provider's answer did not prove who you are; start the sign-in again.".into(),
            ),
            InvalidSignInFlow => (
                row(S::BAD_REQUEST, "invalid_sign_in_flow", "Invalid sign-in flow"),
                "This sign-in is unknown, used, expired or was started in another browser; start again.".into(),
            ),
            InvalidCode => (
                row(S::BAD_REQUEST, "invalid_code", "Invalid code"),
                "The code is wrong, was used, has expired, or a newer email replaced it; after five tries it stops \
                 working. Ask for a new one."
                    .into(),
            ),
            ProviderEmailUnverified => (
                row(S::FORBIDDEN, "provider_email_unverified", "Address not verified by the provider"),
                "The provider does not vouch for this account's address: verify it there, or register with it \
                 here."
                    .into(),
            ),
            LastWayIn => (
                row(S::CONFLICT, "last_way_in", "Last way in"),
                "This is the account's last way to sign in: set a password (by the reset flow) or link \
                 another provider first."
                    .into(),
            ),
            Internal(_) => (
                row(S::INTERNAL_SERVER_ERROR, "internal_error", "Internal error"),
                "Something went wrong on our side; it has been logged.".into(),
            ),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.describe().0.status
    }

    pub fn code(&self) -> &'static str {
        self.describe().0.code
    }

    pub fn problem(&self) -> Problem {
        let (row, detail) = self.describe();
        Problem {
            kind: format!("urn:ums:problem:{}", row.code),
            title: row.title,
            status: row.status.as_u16(),
            detail: detail.into_owned(),
            code: row.code,
            errors: match self {
                ApiError::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
            suspended_until: match self {
                ApiError::AccountSuspended { until } => *until,
                _ => None,
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
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        match self {
            ApiError::TooManyAttempts { retry_after_secs }
            | ApiError::TooManyEmails { retry_after_secs }
            | ApiError::TooManyRegistrations { retry_after_secs }
            | ApiError::TooManyEmailChanges { retry_after_secs }
            | ApiError::TooManyNotifications { retry_after_secs }
            | ApiError::ServerBusy { retry_after_secs }
            | ApiError::ProviderUnavailable { retry_after_secs }
            | ApiError::PasswordCheckUnavailable { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            // RFC 9470's challenge: the authentication is too old for this resource.
            ApiError::StepUpRequired { max_age_secs } => {
                let challenge = format!("Bearer error=\"insufficient_user_authentication\", max_age={max_age_secs}");
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
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

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::MalformedJson(rejection.body_text())
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        ApiError::NotFound
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::InvalidQuery(rejection.body_text())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::EmailTaken => ApiError::EmailTaken,
            StoreError::IdentityTaken => ApiError::IdentityTaken,
            StoreError::Conflict => ApiError::Conflict,
            StoreError::LastAdmin => ApiError::LastAdmin,
            StoreError::Other(e) => ApiError::Internal(e),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::NotFound => ApiError::NotFound,
            AccountError::Conflict => ApiError::Conflict,
            AccountError::LastAdmin => ApiError::LastAdmin,
            AccountError::EmailTaken => ApiError::EmailTaken,
            AccountError::IdentityTaken => ApiError::IdentityTaken,
            AccountError::InvalidLink => ApiError::InvalidToken,
            AccountError::NotSuspended => ApiError::NotSuspended,
            AccountError::EmailNotConfirmed => ApiError::EmailNotConfirmed,
            AccountError::Suspended { until } => ApiError::AccountSuspended { until },
            AccountError::PendingAccount => ApiError::Validation(vec![FieldError::new(
                "status",
                "pending_account",
                "the account has not confirmed its email yet",
            )]),
            AccountError::Invalid(errors) => ApiError::Validation(errors),
            AccountError::Factor(refusal) => match refusal {
                FactorRefusal::Spent => ApiError::InvalidSecondFactor,
                FactorRefusal::Exists => ApiError::FactorExists,
                FactorRefusal::Missing => ApiError::NoSuchFactor,
                FactorRefusal::StaffKeepOne => ApiError::FactorRequired,
                FactorRefusal::TooMany => ApiError::TooManyPasskeys,
            },
            AccountError::Store(e) => ApiError::Internal(e),
        }
    }
}

impl ApiError {
    /// An account operation's error, where a missing account is `missing` (the caller's own
    /// account gone is 401, not 404).
    pub fn or_missing(missing: ApiError) -> impl FnOnce(AccountError) -> ApiError {
        move |e| match e {
            AccountError::NotFound => missing,
            e => e.into(),
        }
    }
}

impl From<crate::ports::ModerationError> for ApiError {
    fn from(e: crate::ports::ModerationError) -> Self {
        use crate::ports::ModerationError as M;
        match e {
            M::AlreadyReported => ApiError::AlreadyReported,
            M::ReportNotOpen(report_id) => ApiError::ReportNotOpen { report_id },
            M::Store(e) => e.into(),
        }
    }
}

impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => ApiError::ServerBusy { retry_after_secs: 1 },
            HashError::Failed(e) => ApiError::Internal(e),
        }
    }
}

impl From<pagination::InvalidCursor> for ApiError {
    fn from(_: pagination::InvalidCursor) -> Self {
        ApiError::InvalidCursor
    }
}

impl From<crate::identity::IdentityError> for ApiError {
    fn from(e: crate::identity::IdentityError) -> Self {
        use crate::identity::IdentityError as I;
        match e {
            I::Validation(errors) => ApiError::Validation(errors),
            I::InvalidCredentials => ApiError::InvalidCredentials,
            I::EmailNotConfirmed => ApiError::EmailNotConfirmed,
            I::AccountSuspended { until } => ApiError::AccountSuspended { until },
            I::TooManyAttempts { retry_after_secs } => ApiError::TooManyAttempts { retry_after_secs },
            I::TooManyEmails { retry_after_secs } => ApiError::TooManyEmails { retry_after_secs },
            I::TooManyEmailChanges { retry_after_secs } => ApiError::TooManyEmailChanges { retry_after_secs },
            I::TooManyRegistrations { retry_after_secs } => ApiError::TooManyRegistrations { retry_after_secs },
            I::ServerBusy { retry_after_secs } => ApiError::ServerBusy { retry_after_secs },
            I::Unauthorized => ApiError::Unauthorized,
            I::Forbidden => ApiError::Forbidden,
            I::StepUpRequired { max_age_secs } => ApiError::StepUpRequired { max_age_secs },
            I::SecondFactorEnrolmentRequired => ApiError::SecondFactorEnrolmentRequired,
            I::StepUpNeedsFactor => ApiError::StepUpNeedsFactor,
            I::WrongCurrentPassword => ApiError::WrongCurrentPassword,
            I::InvalidRefreshToken => ApiError::InvalidRefreshToken,
            I::RefreshTokenReused => ApiError::RefreshTokenReused,
            I::RefreshConflict => ApiError::RefreshConflict,
            I::InvalidToken => ApiError::InvalidToken,
            I::TokenExpired => ApiError::TokenExpired,
            I::InvalidSecondFactor => ApiError::InvalidSecondFactor,
            I::InvalidChallenge => ApiError::InvalidChallenge,
            I::InvalidPasskey => ApiError::InvalidPasskey,
            I::TooManyPasskeys => ApiError::TooManyPasskeys,
            I::NoSuchFactor => ApiError::NoSuchFactor,
            I::FactorExists => ApiError::FactorExists,
            I::FactorRequired => ApiError::FactorRequired,
            I::UnknownProvider => ApiError::UnknownProvider,
            I::RedirectNotAllowed => ApiError::RedirectNotAllowed,
            I::ProviderUnavailable { retry_after_secs } => ApiError::ProviderUnavailable { retry_after_secs },
            I::PasswordCheckUnavailable { retry_after_secs } => ApiError::PasswordCheckUnavailable { retry_after_secs },
            I::ProviderSignInFailed => ApiError::ProviderSignInFailed,
            I::InvalidSignInFlow => ApiError::InvalidSignInFlow,
            I::ProviderEmailUnverified => ApiError::ProviderEmailUnverified,
            I::LastWayIn => ApiError::LastWayIn,
            I::InvalidCode => ApiError::InvalidCode,
            I::NotFound => ApiError::NotFound,
            I::Account(e) => e.into(),
            I::Internal(e) => ApiError::Internal(e),
        }
    }
}
