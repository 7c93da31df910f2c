//! Why a sign-in operation did not happen, in the service's words. `http` decides what a client
//! sees for each (status, stable code, headers); the operator command prints them.

use time::OffsetDateTime;

use crate::{accounts::AccountError, credentials::password::HashError, domain::FieldError, ports::StoreError};

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{}", describe_fields(.0))]
    Validation(Vec<FieldError>),
    #[error("the email or password is wrong")]
    InvalidCredentials,
    #[error("the email address is not confirmed")]
    EmailNotConfirmed,
    #[error("the account is suspended")]
    AccountSuspended { until: Option<OffsetDateTime> },
    #[error("too many failed attempts; try again in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("too many emails to this address; try again in {retry_after_secs} s")]
    TooManyEmails { retry_after_secs: u64 },
    #[error("too many email changes; try again in {retry_after_secs} s")]
    TooManyEmailChanges { retry_after_secs: u64 },
    #[error("too many registrations; try again in {retry_after_secs} s")]
    TooManyRegistrations { retry_after_secs: u64 },
    #[error("password hashing is at capacity; try again in {retry_after_secs} s")]
    ServerBusy { retry_after_secs: u64 },
    /// No valid access token, or its session or account is gone.
    #[error("not signed in")]
    Unauthorized,
    #[error("not allowed for this account's role")]
    Forbidden,
    #[error("a recent authentication is needed")]
    StepUpRequired { max_age_secs: u64 },
    #[error("a second factor must be enrolled first")]
    SecondFactorEnrolmentRequired,
    #[error("this account steps up with its second factor")]
    StepUpNeedsFactor,
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    #[error("the refresh token is invalid or expired")]
    InvalidRefreshToken,
    #[error("the refresh token was used already; its session is ended")]
    RefreshTokenReused,
    #[error("the refresh token was rotated a moment ago")]
    RefreshConflict,
    #[error("the link is invalid or used")]
    InvalidToken,
    #[error("the link has expired")]
    TokenExpired,
    #[error("the second factor is wrong, expired or used")]
    InvalidSecondFactor,
    #[error("the login challenge is unknown, used or expired")]
    InvalidChallenge,
    #[error("the passkey's answer did not verify")]
    InvalidPasskey,
    #[error("the account has as many passkeys as it may keep")]
    TooManyPasskeys,
    #[error("no such factor")]
    NoSuchFactor,
    #[error("the factor exists already")]
    FactorExists,
    #[error("staff keep a second factor")]
    FactorRequired,
    #[error("no sign-in provider has this id")]
    UnknownProvider,
    #[error("the address to return to is not on the operator's list")]
    RedirectNotAllowed,
    #[error("the sign-in provider cannot be reached; try again in {retry_after_secs} s")]
    ProviderUnavailable { retry_after_secs: u64 },
    /// The list of breached passwords could not be asked, and the operator chose to refuse then.
    #[error("passwords cannot be checked against breaches now; try again in {retry_after_secs} s")]
    PasswordCheckUnavailable { retry_after_secs: u64 },
    /// The provider's answer did not prove anyone (a token that does not verify, a refusal).
    #[error("the provider's sign-in did not succeed")]
    ProviderSignInFailed,
    /// A provider sign-in's state or code that is unknown, used, expired or from elsewhere.
    #[error("the sign-in is unknown, used, expired or from another browser")]
    InvalidSignInFlow,
    #[error("the provider does not vouch for the account's address")]
    ProviderEmailUnverified,
    /// An emailed code that is wrong, used, replaced by a newer one, expired or checked too often.
    #[error("the code is wrong, used, replaced or expired")]
    InvalidCode,
    #[error("the account has no other way to sign in")]
    LastWayIn,
    /// Nothing of the kind asked for (a session of another account, say).
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn describe_fields(errors: &[FieldError]) -> String {
    errors.iter().map(|e| format!("{}: {}", e.field, e.detail)).collect::<Vec<_>>().join("; ")
}

impl IdentityError {
    /// An account operation's error, where a missing account is `missing` (the caller's own
    /// account gone is `Unauthorized`, not `NotFound`).
    pub fn or_missing(missing: IdentityError) -> impl FnOnce(AccountError) -> IdentityError {
        move |e| match e {
            AccountError::NotFound => missing,
            e => e.into(),
        }
    }
}

impl From<StoreError> for IdentityError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Other(e) => IdentityError::Internal(e),
            e => IdentityError::Account(e.into()),
        }
    }
}

impl From<HashError> for IdentityError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => IdentityError::ServerBusy { retry_after_secs: 1 },
            HashError::Failed(e) => IdentityError::Internal(e),
        }
    }
}
