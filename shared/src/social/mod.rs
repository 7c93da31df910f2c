//! The social route group: subscriptions (readers and authors to authors), follows (authors to
//! authors), their lists, and an author's notifications to their subscribers, with the
//! one-click unsubscribe link each email carries.

mod author_notifications;
mod graph;

pub use author_notifications::*;
pub use graph::*;

use std::sync::Arc;

use axum::extract::FromRef;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    clock::Clock,
    config::Config,
    credentials::JwtKeys,
    http::Access,
    ports::{AccountStore, JobQueue, LimitStore, NotificationStore, SessionStore, SocialStore},
};

/// What the social group uses: the accounts (only authors are subscribed to or followed; lists
/// show profiles), the graph, notifications, the daily limit's counter, and the notify queue.
#[derive(Clone)]
pub struct SocialState {
    pub config: Arc<Config>,
    pub accounts: Arc<dyn AccountStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub social: Arc<dyn SocialStore>,
    pub notifications: Arc<dyn NotificationStore>,
    pub limits: Arc<dyn LimitStore>,
    pub jobs: Arc<dyn JobQueue>,
    pub keys: Arc<JwtKeys>,
    pub clock: Arc<dyn Clock>,
}

impl FromRef<SocialState> for Access {
    fn from_ref(state: &SocialState) -> Self {
        Access { keys: state.keys.clone(), sessions: state.sessions.clone(), clock: state.clock.clone() }
    }
}

crate::http::route_group! {
    SocialState;
    [subscribe, unsubscribe],
    [follow, unfollow],
    [subscribers],
    [subscriptions],
    [followers],
    [follows],
    [notify_subscribers],
    [notification],
    [unsubscribe_page, unsubscribe_by_link],
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorQuery {
    /// The author's account id.
    pub id: String,
}
