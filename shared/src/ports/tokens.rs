use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::StoreResult;
use crate::domain::UserId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    EmailConfirmation,
    PasswordReset,
    /// Sent to the new address of an email change.
    EmailChange,
    /// The second step of a login with a second factor: handed to the client that gave the
    /// right password, bound to where it came from, completed once.
    LoginChallenge,
    /// A passkey registration started by the account's owner, finished once.
    PasskeyRegistration,
    /// A sign-in with a passkey (no password): bound to where it came from, finished once.
    PasskeySignIn,
    /// A step-up with a passkey, for the account's own session, bound to where it came from.
    PasskeyStepUp,
    /// A sign-in alert's link: ends the session it names (the payload), once.
    EndSession,
    /// A sign-in with a provider under way (its PKCE verifier and nonce, where to return): bound
    /// to the browser that started it, taken by the provider's answer.
    ProviderSignIn,
    /// What a provider's sign-in came to, for the front end to exchange once, from where the
    /// sign-in ended.
    ProviderResult,
    /// A provider's account whose address is an existing account's: linked only once that
    /// account is proven (its password), from where the sign-in ended.
    ProviderLink,
    /// A signed-in account's request to link a provider (from `POST /api/v1/user/identities`),
    /// taken by the sign-in it starts.
    ProviderLinkIntent,
    /// A link emailed to an existing account's address to link a provider's account to it
    /// (its payload: which one), taken by the button of the page it opens.
    ProviderLinkByEmail,
    /// A sign-in by email under way for one address (its code, link and flow, hashed): one per
    /// address, a newer ask replacing it; each code checked counts as one of its few uses.
    EmailSignIn,
    /// What an emailed sign-in link came to, for the front end to exchange once (from the
    /// browser that asked, when the ask bound it).
    EmailSignInResult,
    /// A code emailed to a signed-in account's address to prove it is its owner's (step-up, an
    /// email change or a deletion of an account without a password): one per account.
    AccountCode,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::EmailConfirmation => "email_confirmation",
            TokenKind::PasswordReset => "password_reset",
            TokenKind::EmailChange => "email_change",
            TokenKind::LoginChallenge => "login_challenge",
            TokenKind::PasskeyRegistration => "passkey_registration",
            TokenKind::PasskeySignIn => "passkey_sign_in",
            TokenKind::PasskeyStepUp => "passkey_step_up",
            TokenKind::EndSession => "end_session",
            TokenKind::ProviderSignIn => "provider_sign_in",
            TokenKind::ProviderResult => "provider_result",
            TokenKind::ProviderLink => "provider_link",
            TokenKind::ProviderLinkIntent => "provider_link_intent",
            TokenKind::ProviderLinkByEmail => "provider_link_by_email",
            TokenKind::EmailSignIn => "email_sign_in",
            TokenKind::EmailSignInResult => "email_sign_in_result",
            TokenKind::AccountCode => "account_code",
        }
    }
}

/// A single-use token sent by email, stored by its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OneTimeToken {
    pub hash: String,
    pub kind: TokenKind,
    pub user_id: UserId,
    /// The address the token was sent to: a confirmation is only good for that address.
    pub email_key: String,
    pub expires_at: OffsetDateTime,
    /// The account's credential version when the token was issued: a password change or a
    /// completed reset makes every earlier token unusable.
    pub credential_version: u64,
    /// The account's reset generation when the token was issued: a newer reset request makes
    /// every earlier reset link unusable.
    pub reset_generation: u32,
    /// What the server keeps for the token's second step (a passkey ceremony's state, as JSON):
    /// never sent to the client.
    pub payload: Option<String>,
}

/// Single-use tokens: sent by email, or a login's challenge.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Keeps the token; one kept under the same hash before is replaced (with its uses).
    async fn put_token(&self, token: &OneTimeToken) -> StoreResult<()>;
    /// Removes and returns the token if it exists with this kind: a token can be taken once.
    /// A token of another kind is left alone and not returned.
    async fn take_token(&self, kind: TokenKind, hash: &str) -> StoreResult<Option<OneTimeToken>>;
    /// The token if it exists with this kind, left in place (read strongly consistently): a
    /// login challenge is looked at by each attempt and taken by the one that completes it.
    async fn peek_token(&self, kind: TokenKind, hash: &str) -> StoreResult<Option<OneTimeToken>>;
    /// Counts one use of the token (an emailed code checked against it) and returns it, if it
    /// exists with this kind and was used fewer than `max` times: parallel checks get no more
    /// than `max` between them. `None` once it has been used `max` times.
    async fn use_token(&self, kind: TokenKind, hash: &str, max: u32) -> StoreResult<Option<OneTimeToken>>;
    /// Takes the token only while its payload is `payload` (the token that was checked): one
    /// put under the same hash since is left alone.
    async fn take_token_if(&self, kind: TokenKind, hash: &str, payload: &str) -> StoreResult<Option<OneTimeToken>>;
    /// Removes every token issued to this account (it is being deleted).
    async fn delete_user_tokens(&self, user_id: &UserId) -> StoreResult<()>;
}
