//! What staff do to accounts other than their own: change a role, a status or a suspension,
//! delete, reset the second factors (ending another account's session is [`super::sessions::end`]).
//!
//! Each operation asks the caller's permission and, for anything that changes who may sign in
//! or what they may do, a recent authentication, before the lifecycle's write: every way in
//! (the API's routes, moderation's suspend and reinstate, a console) gets the same rule.

use super::{AuthUser, Identity, IdentityError, client::Client};
use crate::{
    accounts::{AccessChange, Deletion, Lifecycle, Target},
    domain::{Action, User, UserId},
    ports::{ActivityKind, ModerationStore},
};

/// Applies a change to another account, as the caller's `permission` allows (an admin's
/// update, or moderation suspending and reinstating authors). A change of role, status or
/// suspension needs a recent authentication: it can make an admin, or lock one out. A profile
/// edit alone does not. The lifecycle ends the account's sessions on a role or status change
/// and writes the audit record. It takes the lifecycle alone: moderation holds no more.
pub async fn change_access(
    lifecycle: Lifecycle<'_>,
    audit: &dyn ModerationStore,
    caller: &AuthUser,
    permission: Action,
    target: Target<'_>,
    change: AccessChange,
) -> Result<User, IdentityError> {
    caller.require(permission)?;
    if change.role.is_some() || change.status.is_some() {
        caller.require_recent_authentication()?;
    }
    Ok(lifecycle.change_access(audit, &caller.user_id, target, change).await?)
}

/// Deletes another account (of `target.role`, if given) for good, as an admin with a recent
/// authentication; never the last active admin.
pub async fn delete_account(identity: &Identity, caller: &AuthUser, target: Target<'_>) -> Result<(), IdentityError> {
    caller.require(Action::ManageAnyAccount)?;
    caller.require_recent_authentication()?;
    let deletion = Deletion { id: target.id, role: target.role, verified: None, read: None };
    Ok(identity.lifecycle().delete_account(identity.jobs.as_ref(), deletion).await?)
}

/// Removes every second factor of another account (a lost authenticator), as an admin with a
/// recent authentication; its sessions end and the reset goes on the audit trail and on the
/// account's security activity. An admin's own factors are theirs to manage: staff keep one.
pub async fn reset_factors(
    identity: &Identity,
    audit: &dyn ModerationStore,
    caller: &AuthUser,
    account: &UserId,
    client: Client<'_>,
) -> Result<(), IdentityError> {
    caller.require(Action::ResetAnyFactors)?;
    caller.require_recent_authentication()?;
    if *account == caller.user_id {
        return Err(IdentityError::FactorRequired);
    }
    identity.lifecycle().reset_factors(audit, &caller.user_id, account).await?;
    let about = format!("by admin {}; every session ended", caller.user_id);
    identity.record(account, ActivityKind::FactorsReset, client, about).await
}
