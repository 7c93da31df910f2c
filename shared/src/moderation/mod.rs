//! The moderation route group: readers and authors report authors, moderators flag them,
//! admins suspend and reinstate them; every action leaves an audit record admins can list.

mod routes;

pub use routes::*;

use std::sync::Arc;

use axum::extract::FromRef;

use crate::{
    clock::Clock,
    config::Config,
    credentials::JwtKeys,
    http::Access,
    ports::{AccountStore, ModerationStore, SessionStore},
};

/// What the moderation group uses: the accounts (only authors are reported, flagged and
/// suspended; a suspension is written on the account and ends its sessions) and the records.
#[derive(Clone)]
pub struct ModerationState {
    pub config: Arc<Config>,
    pub accounts: Arc<dyn AccountStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub moderation: Arc<dyn ModerationStore>,
    pub keys: Arc<JwtKeys>,
    pub clock: Arc<dyn Clock>,
}

impl ModerationState {
    /// The account lifecycle over this group's stores.
    pub fn lifecycle(&self) -> crate::accounts::Lifecycle<'_> {
        crate::accounts::Lifecycle {
            accounts: self.accounts.as_ref(),
            sessions: self.sessions.as_ref(),
            clock: self.clock.as_ref(),
        }
    }
}

impl FromRef<ModerationState> for Access {
    fn from_ref(state: &ModerationState) -> Self {
        Access { keys: state.keys.clone(), sessions: state.sessions.clone(), clock: state.clock.clone() }
    }
}

crate::http::route_group! {
    ModerationState;
    [report_author],
    [reported_authors],
    [flag_author],
    [flagged_authors],
    [suspend_author],
    [unsuspend_author],
    [suspended_authors],
    [moderation_audit],
}
