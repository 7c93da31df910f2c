//! The permission table of SPEC.md as data: every action a route can perform, and who may.
//!
//! Authorization reads the role in the access token, not the stored one. That is safe because
//! every change of a role or a status ends all of that user's sessions, and no session can be
//! granted at the old ones (see `accounts::Lifecycle::modify` and `grant_session`), and every
//! authenticated request checks its session: a token minted before the change stops working
//! at the next request. A suspended account
//! therefore has no working token at all, and cannot log in for a new one.

use super::Role;

/// Everything a caller can ask the service to do, one variant per row of SPEC.md's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Register as a reader or an author.
    RegisterSelf,
    /// Register a moderator or an admin.
    RegisterStaff,
    /// Log in, refresh, confirm an email, reset a forgotten password, read the public keys.
    SignIn,
    /// Log out, change one's own password.
    ManageOwnSessions,
    /// Enrol, list and remove one's own second factors and linked providers; step up.
    ManageOwnFactors,
    ReadOwnAccount,
    UpdateOwnAccount,
    DeleteOwnAccount,
    ExportOwnData,
    ReadPublicProfiles,
    /// Read, update or delete any account; list all users.
    ManageAnyAccount,
    /// List admins and moderators.
    ListStaff,
    /// Remove another account's second factors (a lost authenticator); audited.
    ResetAnyFactors,
    ReportAuthor,
    ListReports,
    FlagAuthor,
    ListFlags,
    SuspendAuthor,
    ListSuspended,
    /// List the moderation audit trail.
    ReadModerationAudit,
    /// See where the deliveries of account events to the webhook endpoints stand.
    ViewWebhookDeliveries,
    Subscribe,
    Follow,
    NotifySubscribers,
    /// Unsubscribe through an emailed one-click link: the signed link is the authority.
    UnsubscribeByLink,
    ManageOwnPhoto,
    /// Health and the API documents.
    ReadDocs,
}

/// Who may perform an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allowed {
    /// No account needed; a bearer token is not even looked at.
    Anyone,
    /// A signed-in account with one of these roles.
    Roles(&'static [Role]),
}

const EVERY_ROLE: &[Role] = &[Role::Reader, Role::Author, Role::Moderator, Role::Admin];

impl Action {
    pub const fn allowed(self) -> Allowed {
        use Action::*;
        use Role::*;
        match self {
            RegisterSelf | SignIn | ReadPublicProfiles | ReadDocs | UnsubscribeByLink => Allowed::Anyone,
            ManageOwnSessions | ManageOwnFactors | ReadOwnAccount | UpdateOwnAccount | DeleteOwnAccount
            | ExportOwnData | ManageOwnPhoto => Allowed::Roles(EVERY_ROLE),
            RegisterStaff
            | ManageAnyAccount
            | ListStaff
            | ResetAnyFactors
            | SuspendAuthor
            | ReadModerationAudit
            | ViewWebhookDeliveries => Allowed::Roles(&[Admin]),
            ReportAuthor | Subscribe => Allowed::Roles(&[Reader, Author]),
            ListReports | ListFlags | ListSuspended => Allowed::Roles(&[Moderator, Admin]),
            FlagAuthor => Allowed::Roles(&[Moderator]),
            Follow => Allowed::Roles(&[Author]),
            NotifySubscribers => Allowed::Roles(&[Author, Admin]),
        }
    }

    /// Whether an account with this role may perform the action.
    pub fn allows(self, role: Role) -> bool {
        match self.allowed() {
            Allowed::Anyone => true,
            Allowed::Roles(roles) => roles.contains(&role),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_actions_are_for_staff_only() {
        assert!(Action::RegisterStaff.allows(Role::Admin));
        for role in [Role::Reader, Role::Author, Role::Moderator] {
            assert!(!Action::RegisterStaff.allows(role), "{role:?}");
            assert!(!Action::SuspendAuthor.allows(role), "{role:?}");
        }
        assert!(Action::FlagAuthor.allows(Role::Moderator) && !Action::FlagAuthor.allows(Role::Admin));
        assert!(Action::Follow.allows(Role::Author) && !Action::Follow.allows(Role::Reader));
    }
}
