//! Account writes every group makes the same way.

use time::OffsetDateTime;

use crate::{
    domain::{User, UserId},
    http::ApiError,
    ports::{AccountStore, StoreError},
};

/// Reads the account, applies `change` and writes it back conditionally on the version read;
/// a write that lost a race is tried again on a fresh read, up to three times (409 `conflict`
/// after). `change` refuses (with its error) when the fresh read no longer allows it; a missing
/// account is `missing()`.
pub async fn modify_account(
    accounts: &dyn AccountStore,
    id: &UserId,
    now: OffsetDateTime,
    missing: impl Fn() -> ApiError,
    change: impl Fn(&mut User) -> Result<(), ApiError>,
) -> Result<User, ApiError> {
    for _ in 0..3 {
        let mut user = accounts.account(id).await?.ok_or_else(&missing)?;
        change(&mut user)?;
        user.updated_at = now;
        match accounts.update_account(&user).await {
            Ok(()) => {
                user.version += 1;
                return Ok(user);
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Conflict)
}
