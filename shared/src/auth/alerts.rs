//! Sign-in alerts: a login from a device (and network) the account has not signed in from is
//! emailed to its owner, once per device, with a link that ends that session. The account
//! remembers its devices as keys that name neither the device nor the address; a known
//! device's login costs nothing more than any login.

use std::net::IpAddr;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest as _, Sha256};

use super::{AuthState, flows::take_token};
use crate::{
    accounts::{AccountResult, Lifecycle},
    domain::{MAX_KNOWN_DEVICES, User, UserId},
    http::{ApiError, Device, Source},
    ports::{ActivityKind, Job, Session, SignInAlert, TokenKind},
};

/// At most this many sign-in alerts per account and day (UTC): someone who has the password
/// could otherwise bury a real alert under alerts of their own, one per made-up device. The
/// last one says so; later new devices that day are remembered and on the security activity,
/// not emailed.
pub const SIGN_IN_ALERTS_PER_DAY: u32 = 5;

/// How long an alert's link ends its session: as long as the session could last unrefreshed
/// is longer than anyone reads mail about it; a week is what a reader needs.
pub const END_SESSION_LINK_TTL: time::Duration = time::Duration::days(7);

/// What the account remembers of a device: its description and the network it came from (an
/// IPv4 /24, an IPv6 /48, so that a phone moving between addresses of its provider is not new
/// each time), hashed.
pub fn device_key(source: &Source, device: &Device) -> String {
    let network = match source.0.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        Err(_) => source.0.clone(),
    };
    let digest = Sha256::digest(format!("{}\n{network}", device.0.as_deref().unwrap_or("unknown")));
    URL_SAFE_NO_PAD.encode(&digest[..12])
}

impl Lifecycle<'_> {
    /// Remembers the device `key` for the account (forgetting the oldest past
    /// [`MAX_KNOWN_DEVICES`]). True when this write added it and the account knew another
    /// device before: that login is the one to alert, whatever logins race it.
    pub async fn remember_device(&self, id: &UserId, key: &str) -> AccountResult<bool> {
        let (_, alert) = self
            .modify(id, |user| {
                if user.known_devices.iter().any(|known| known == key) {
                    return Ok(false);
                }
                let knew_others = !user.known_devices.is_empty();
                user.known_devices.push(key.to_string());
                let excess = user.known_devices.len().saturating_sub(MAX_KNOWN_DEVICES);
                user.known_devices.drain(..excess);
                Ok(knew_others)
            })
            .await?;
        Ok(alert)
    }
}

/// After a login: a device the account (as the login read it) knows is nothing more; a new
/// one is remembered, and alerted if the account knew another (an account's first login has
/// nothing to compare with). Remembering is not the login's business: if it fails the login
/// still stands, and the next login from the device tries again.
pub(crate) async fn notice_device(state: &AuthState, user: &User, session: &Session, client: (&Source, &Device)) {
    let key = device_key(client.0, client.1);
    if user.known_devices.contains(&key) {
        return;
    }
    let alert = match state.lifecycle().remember_device(&user.id, &key).await {
        Ok(alert) => alert,
        Err(e) => {
            tracing::warn!(user_id = %user.id, error = %e, "a new device was not remembered");
            return;
        }
    };
    if !alert {
        return;
    }
    let sent_today = match state.throttle().count_sign_in_alert(&user.id).await {
        Ok(count) => count,
        Err(e) => {
            tracing::warn!(user_id = %user.id, error = %e, "a sign-in alert was not counted");
            return;
        }
    };
    if sent_today > SIGN_IN_ALERTS_PER_DAY {
        tracing::info!(user_id = %user.id, "a new device, not alerted: the day's alerts were sent");
        return;
    }
    let job = Job::SignInAlert(SignInAlert {
        user_id: user.id.clone(),
        session_id: session.id.clone(),
        at: session.created_at,
        source: session.source.clone(),
        device: session.device.clone(),
        last_today: sent_today == SIGN_IN_ALERTS_PER_DAY,
    });
    if let Err(e) = state.jobs.enqueue(&job).await {
        tracing::error!(user_id = %user.id, error = %format!("{e:#}"), "a sign-in alert was not queued");
        return;
    }
    let about = format!("session {}: {}", session.id, session.device.as_deref().unwrap_or("an unknown device"));
    if let Err(e) = state.record(&user.id, ActivityKind::SignInAlertSent, client, about).await {
        tracing::warn!(user_id = %user.id, error = %e, "a sign-in alert was not recorded");
    }
}

/// The alert's link: ends the session it was sent about (if it still exists), once.
pub async fn end_session_from_alert(
    state: &AuthState,
    token: &str,
    client: (&Source, &Device),
) -> Result<(), ApiError> {
    let (link, _) = take_token(state.tokens.as_ref(), state.clock.as_ref(), TokenKind::EndSession, token).await?;
    let session_id = link.payload.ok_or(ApiError::InvalidToken)?;
    let existed = state.sessions.session(&link.user_id, &session_id).await?.is_some();
    state.sessions.delete_session(&link.user_id, &session_id).await?;
    tracing::info!(user_id = %link.user_id, existed, "a session ended from its sign-in alert");
    let detail = match existed {
        true => format!("session {session_id}: ended from the sign-in alert's link"),
        false => format!("session {session_id}: the sign-in alert's link used; it had ended already"),
    };
    state.record(&link.user_id, ActivityKind::SessionEnded, client, detail).await
}
