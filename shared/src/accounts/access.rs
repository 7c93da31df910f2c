//! What admins change on an account: its profile, role and status. The one path that
//! suspends and reinstates an account (the admin update routes and moderation's
//! suspend/unsuspend alike), and it writes the audit record.

use time::OffsetDateTime;

use super::{AccountError, AccountResult, Lifecycle, ProfileChanges};
use crate::{
    domain::{AccountStatus, Reason, Role, Suspension, User, UserId},
    ports::{AuditRecord, ModerationAction, ModerationStore},
};

/// The account an admin acts on: `role`, if given, is the role it must have (the routes
/// narrowed to one role answer 404 for another).
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub id: &'a UserId,
    pub role: Option<Role>,
}

/// A change of status an admin asks for.
#[derive(Clone, Debug)]
pub enum StatusChange {
    /// Suspended from now: until a date (or until reinstated), for a reason.
    Suspend { until: Option<OffsetDateTime>, reason: Option<Reason> },
    /// On a suspended account: its end date or reason, each as given (`Some(None)` clears).
    Amend { until: Option<Option<OffsetDateTime>>, reason: Option<Option<Reason>> },
    /// A suspended account active again; `NotSuspended` for any other.
    Reinstate { reason: Option<Reason> },
    /// Active: a suspended account is reinstated, an active one stays as it is.
    Activate,
}

/// An admin's change to an account; what is `None` stays.
#[derive(Clone, Debug, Default)]
pub struct AccessChange {
    pub profile: ProfileChanges,
    pub role: Option<Role>,
    pub status: Option<StatusChange>,
}

impl AccessChange {
    pub fn status(change: StatusChange) -> Self {
        Self { status: Some(change), ..Self::default() }
    }
}

/// What the audit trail records of a status change.
struct Audited {
    action: ModerationAction,
    reason: Option<Reason>,
    until: Option<OffsetDateTime>,
}

impl Lifecycle<'_> {
    /// Applies an admin's change to the target account, in one conditional write, and records
    /// a suspension, a change to one, or a reinstatement on the audit trail. A change of role
    /// or status ends the account's sessions ([`Lifecycle::modify`]); the last active admin can
    /// be neither demoted nor suspended (`LastAdmin`).
    pub async fn change_access(
        &self,
        audit: &dyn ModerationStore,
        actor: &UserId,
        target: Target<'_>,
        change: AccessChange,
    ) -> AccountResult<User> {
        let (user, audited) = self
            .modify(target.id, |user| {
                if target.role.is_some_and(|role| user.role != role) {
                    return Err(AccountError::NotFound);
                }
                change.profile.apply(user)?;
                if let Some(role) = change.role {
                    user.role = role;
                }
                match &change.status {
                    None => Ok(None),
                    Some(status) => change_status(user, status),
                }
            })
            .await?;
        if let Some(audited) = audited {
            let reason = audited.reason.map(Reason::into_string).unwrap_or_default();
            let now = self.now();
            let record =
                AuditRecord { until: audited.until, ..AuditRecord::new(actor, audited.action, &user.id, reason, now) };
            audit.record_action(&record).await?;
            tracing::info!(user_id = %user.id, actor_id = %actor, action = audited.action.as_str(), "status changed");
        }
        tracing::info!(user_id = %user.id, "account updated");
        Ok(user)
    }
}

/// The status as `change` leaves it, and what the audit trail records of it.
fn change_status(user: &mut User, change: &StatusChange) -> AccountResult<Option<Audited>> {
    if user.status == AccountStatus::Pending {
        return Err(AccountError::PendingAccount);
    }
    let suspended =
        |s: &Suspension| Audited { action: ModerationAction::Suspend, reason: s.reason.clone(), until: s.until };
    match change {
        StatusChange::Suspend { until, reason } => {
            let suspension = Suspension { until: *until, reason: reason.clone() };
            let audited = suspended(&suspension);
            user.status = AccountStatus::Suspended(suspension);
            Ok(Some(audited))
        }
        StatusChange::Amend { until, reason } => {
            let AccountStatus::Suspended(suspension) = &mut user.status else {
                // Clearing what an account that is not suspended does not have changes nothing.
                if until.is_some_and(|u| u.is_some()) || reason.as_ref().is_some_and(Option::is_some) {
                    let why = "only a suspended account has a suspension end date or reason";
                    return Err(AccountError::invalid("status", "not_suspended", why));
                }
                return Ok(None);
            };
            if let Some(until) = until {
                suspension.until = *until;
            }
            if let Some(reason) = reason {
                suspension.reason = reason.clone();
            }
            Ok(Some(suspended(suspension)))
        }
        StatusChange::Reinstate { reason } => {
            if user.status.suspension().is_none() {
                return Err(AccountError::NotSuspended);
            }
            user.status = AccountStatus::Active;
            Ok(Some(Audited { action: ModerationAction::Unsuspend, reason: reason.clone(), until: None }))
        }
        StatusChange::Activate => {
            if user.status.suspension().is_none() {
                return Ok(None);
            }
            user.status = AccountStatus::Active;
            Ok(Some(Audited { action: ModerationAction::Unsuspend, reason: None, until: None }))
        }
    }
}
