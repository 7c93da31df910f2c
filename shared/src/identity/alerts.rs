//! What the owner is told by email as it happens: a login from a device (and network) the
//! account has not signed in from, once per device, with a link that ends that session; and
//! a new second factor, whoever added it. The account remembers its devices as keys that name
//! neither the device nor the address; a known device's login costs nothing more than any
//! login.

use std::net::IpAddr;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest as _, Sha256};

use super::{
    Identity,
    client::{Client, Device, Source},
};
use crate::{
    domain::User,
    ports::{ActivityKind, EmailJob, EmailMessage, Job, Session, SignInAlert},
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

/// After a login: a device the account (as the login read it) knows is nothing more; a new
/// one is remembered, and alerted if the account knew another (an account's first login has
/// nothing to compare with). Remembering is not the login's business: if it fails the login
/// still stands, and the next login from the device tries again.
pub(crate) async fn notice_device(state: &Identity, user: &User, session: &Session, client: Client<'_>) {
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

/// A second factor just added to an account.
pub enum NewFactor<'a> {
    AuthenticatorApp,
    Passkey { id: &'a str, name: &'a str },
}

/// Records a new factor on the account's security activity and emails its owner: a stolen
/// session that enrols its holder's authenticator owns the account's next sign-in, so the owner
/// hears of it at once, with where it came from and what to do. The factor is the account's
/// whatever follows: a notice that cannot be queued is logged, not the enrolment undone.
pub(crate) async fn announce_factor(state: &Identity, user: &User, factor: NewFactor<'_>, client: Client<'_>) {
    let (what, about) = match factor {
        NewFactor::AuthenticatorApp => ("an authenticator app".to_string(), "authenticator app".to_string()),
        NewFactor::Passkey { id, name } => ("a passkey".to_string(), format!("passkey {id} ({name})")),
    };
    if let Err(e) = state.record(&user.id, ActivityKind::FactorAdded, client, about).await {
        tracing::warn!(user_id = %user.id, error = %e, "a new factor was not recorded");
    }
    let at = state.clock.now().format(&time::macros::format_description!(
        "[weekday repr:long] [day padding:none] [month repr:long] [year] at [hour]:[minute] UTC"
    ));
    let message = EmailMessage::FactorAdded {
        factor: what,
        at: at.unwrap_or_default(),
        source: client.0.0.clone(),
        device: client.1.0.clone().unwrap_or_else(|| "an unknown device".into()),
    };
    let job = Job::SendEmail(EmailJob { to: user.email.to_string(), message });
    if let Err(e) = state.jobs.enqueue(&job).await {
        tracing::error!(user_id = %user.id, error = %format!("{e:#}"), "a new factor's notice was not queued");
    }
}
