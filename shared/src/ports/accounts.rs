use async_trait::async_trait;

use super::StoreResult;
use crate::domain::{Role, Status, User, UserId};

/// Which accounts a listing takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountFilter {
    pub role: Option<Role>,
    pub status: Option<Status>,
}

/// Where a listing stopped, as the store that made it understands it (a DynamoDB
/// `LastEvaluatedKey`, a SQLite row key). Clients only ever see it sealed into a cursor.
pub type Position = serde_json::Value;

/// Accounts, unique by email.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates the account, atomically with its unique email: fails with
    /// [`super::StoreError::EmailTaken`] if an account that is not pending holds the email key.
    /// A pending account that holds it is replaced (and gone with it, its confirmation links):
    /// a registration never confirmed does not keep an address from its owner. Its linked
    /// identities are claimed in the same write: [`super::StoreError::IdentityTaken`] if another
    /// account has one, and nothing is written.
    async fn create_account(&self, user: &User) -> StoreResult<()>;
    async fn account(&self, id: &UserId) -> StoreResult<Option<User>>;
    /// The account a provider's subject is linked to (read strongly consistently).
    async fn account_by_identity(&self, provider: &str, subject: &str) -> StoreResult<Option<User>>;
    async fn account_by_email(&self, email_key: &str) -> StoreResult<Option<User>>;
    /// The accounts of these ids that exist (at most 100 ids), in no particular order.
    async fn accounts_by_id(&self, ids: &[UserId]) -> StoreResult<Vec<User>>;
    /// Replaces the stored account (same id) if its stored version is still `user.version`,
    /// and stores it as version `user.version + 1`; otherwise [`super::StoreError::Conflict`].
    /// An email change moves the unique email with it, in the same atomic write; a pending
    /// account holding the new address gives it up (it is deleted in that write, as
    /// `create_account` does). Identities added are claimed and those removed freed in the same
    /// write ([`super::StoreError::IdentityTaken`] if another account has one). A write that
    /// would leave no account that [`User::counts_as_admin`] fails with
    /// [`super::StoreError::LastAdmin`], also when two such writes race.
    async fn update_account(&self, user: &User) -> StoreResult<()>;
    /// Deletes the account and frees its email and identities, if its stored version is still
    /// `user.version` ([`super::StoreError::Conflict`] otherwise), and not if it is the last
    /// admin ([`super::StoreError::LastAdmin`]), atomically with both checks.
    async fn delete_account(&self, user: &User) -> StoreResult<()>;
    /// Up to `limit` accounts matching `filter` after `after` (a position this store returned),
    /// ordered by role name then age (ids are time-ordered), or by age within one role; and the
    /// position after the last one, if there may be more.
    async fn list_accounts(
        &self,
        filter: AccountFilter,
        limit: u32,
        after: Option<&Position>,
    ) -> StoreResult<(Vec<User>, Option<Position>)>;
}
