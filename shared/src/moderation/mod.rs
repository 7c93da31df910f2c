//! The moderation route group: readers and authors report authors, moderators flag them,
//! admins suspend and reinstate them; every action leaves an audit record admins can list.

mod routes;

pub use routes::*;

use std::sync::Arc;

use axum::extract::FromRef;
use utoipa_axum::{router::OpenApiRouter, routes};

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

impl FromRef<ModerationState> for Access {
    fn from_ref(state: &ModerationState) -> Self {
        Access { keys: state.keys.clone(), sessions: state.sessions.clone(), clock: state.clock.clone() }
    }
}

pub fn routes() -> OpenApiRouter<ModerationState> {
    OpenApiRouter::new()
        .routes(routes!(report_author))
        .routes(routes!(reported_authors))
        .routes(routes!(flag_author))
        .routes(routes!(flagged_authors))
        .routes(routes!(suspend_author))
        .routes(routes!(unsuspend_author))
        .routes(routes!(suspended_authors))
        .routes(routes!(moderation_audit))
}

/// The group's routes over its state, without the shared layers (`http::finish` adds them).
pub fn router(state: ModerationState) -> axum::Router {
    routes().split_for_parts().0.with_state(state)
}
