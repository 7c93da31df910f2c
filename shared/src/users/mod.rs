//! The users route group: accounts and profiles, and each account's own settings (its
//! authenticator app and recovery codes, sessions, security activity, export).

mod account;
mod email_change;
mod export;
mod factors;
mod lists;
mod manage;
mod photo;
mod profile;
mod security;
mod webhooks;

pub use account::*;
pub use email_change::*;
pub use export::*;
pub use factors::*;
pub use lists::*;
pub use manage::*;
pub use photo::*;
pub use profile::*;
pub use security::*;
pub use webhooks::*;

use std::sync::Arc;

use axum::extract::FromRef;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::{
    http::Access,
    identity::Identity,
    ports::{ModerationStore, SocialStore, UploadForms, WebhookDirectory},
};

/// What the users group uses: the sign-in service (accounts, sessions, the password check that
/// self-deletion and email changes ask for, the email queue, limits, activity), photo upload
/// forms, the social graph (counts on author profiles; the export's subscriptions and
/// follows), the audit trail (the export's reports; an admin's actions), and where the webhook
/// endpoints' deliveries stand. It never touches a photo file itself.
#[derive(Clone)]
pub struct UsersState {
    pub identity: Identity,
    pub uploads: Arc<dyn UploadForms>,
    pub social: Arc<dyn SocialStore>,
    pub moderation: Arc<dyn ModerationStore>,
    pub webhooks: Arc<dyn WebhookDirectory>,
}

impl FromRef<UsersState> for Access {
    fn from_ref(state: &UsersState) -> Self {
        state.identity.access()
    }
}

crate::http::route_group! {
    UsersState;
    [me, update_me, delete_me],
    [admin, update_admin, delete_admin],
    [moderator, update_moderator, delete_moderator],
    [export],
    [reset_factors],
    [factors],
    [begin_totp, remove_totp],
    [confirm_totp],
    [regenerate_recovery_codes],
    [sessions, end_session],
    [activity],
    [upload_photo, delete_photo],
    [confirm_email_change],
    [confirm_email_change_page, confirm_email_change_form],
    [author],
    [authors],
    [users],
    [admins],
    [moderators],
    [webhooks],
}

/// A session, as its owner (and admins) see it: no secret, not even hashed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Its login, or its latest refresh (an access token's use is not recorded).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_used_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    /// The address its login came from.
    #[schema(example = "203.0.113.7")]
    pub source: Option<String>,
    /// What its login came with, from the User-Agent (as the client told it).
    #[schema(example = "Firefox on Linux")]
    pub device: Option<String>,
    /// How its login proved who it was (RFC 8176: `pwd`, `otp`, `hwk`, `mfa`; and `fed` for a
    /// provider, `email` for an emailed code or link).
    pub amr: Vec<String>,
    /// The session of the request that asked.
    pub current: bool,
}

impl SessionView {
    pub fn new(session: crate::ports::Session, current_session: &str) -> Self {
        Self {
            current: session.id == current_session,
            last_used_at: session.last_used_at(),
            id: session.id,
            created_at: session.created_at,
            expires_at: session.expires_at,
            source: session.source,
            device: session.device,
            amr: session.amr,
        }
    }
}
