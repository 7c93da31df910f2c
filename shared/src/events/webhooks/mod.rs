//! Account events as signed webhooks, by the Standard Webhooks specification: one event per
//! POST, its JSON as the body, `webhook-id` (the event's id: redeliveries repeat it),
//! `webhook-timestamp` and `webhook-signature` (HMAC-SHA256 with the endpoint's own secret, by
//! the specification's library). Endpoints are the operator's (URL, event types, secret);
//! requests go to nowhere else, never to an address a user gave, follow no redirect, and reach
//! a private or loopback address only where the operator allows it.

use std::net::IpAddr;

use anyhow::{Context, bail};
use base64::Engine;
use rand::RngCore;

pub use crate::config::WebhookConfig;
#[cfg(feature = "webhooks")]
pub use delivery::{Delivered, DeliveryFailed, Sender};

/// Sending (an HTTP client): the local server and the webhook worker, not every function.
#[cfg(feature = "webhooks")]
mod delivery;

/// An operator's webhook endpoint.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    /// The event types it receives (`account.deleted`, ...); empty: every type.
    pub types: Vec<String>,
    /// `whsec_` and the key in base64, as the specification's libraries read it.
    pub secret: String,
}

impl Endpoint {
    /// A new endpoint with a new secret; the URL is checked first (`check_url`).
    pub fn new(url: &str, types: Vec<String>) -> anyhow::Result<Self> {
        check_url(url)?;
        for kind in &types {
            if !super::examples().iter().any(|change| change.kind() == kind) {
                bail!("{kind:?} is not an event type (docs/events.md lists them)");
            }
        }
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Ok(Self {
            id: uuid::Uuid::now_v7().to_string(),
            url: url.to_string(),
            types,
            secret: format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key)),
        })
    }

    pub fn wants(&self, kind: &str) -> bool {
        self.types.is_empty() || self.types.iter().any(|t| t == kind)
    }
}

/// An endpoint's URL: http or https, a host, no credentials in it.
pub fn check_url(url: &str) -> anyhow::Result<url::Url> {
    let parsed = url::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("a webhook URL is http:// or https://");
    }
    if parsed.host().is_none() {
        bail!("a webhook URL names a host");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        bail!("a webhook URL carries no credentials: the signature authenticates the sender");
    }
    Ok(parsed)
}

/// Addresses a webhook may not reach unless the operator allows private ones: this machine,
/// the private networks, link-local (the cloud's metadata service) and the like.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
                || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
                || a >= 240
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private(IpAddr::V4(v4)),
            None => {
                v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || v6.is_unique_local()
                    || v6.is_unicast_link_local()
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_local_addresses_are_refused_and_public_ones_not() {
        for ip in ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0"] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["::1", "fd00::1", "fe80::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254"] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn an_endpoint_url_is_http_with_a_host_and_no_credentials() {
        assert!(check_url("https://hooks.example.com/ums").is_ok());
        for bad in ["ftp://example.com/", "file:///etc/passwd", "https://user:pw@example.com/", "not a url"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(Endpoint::new("https://example.com/", vec!["account.nope".into()]).is_err());
        let endpoint = Endpoint::new("https://example.com/", vec!["account.deleted".into()]).unwrap();
        assert!(endpoint.secret.starts_with("whsec_") && endpoint.wants("account.deleted"));
        assert!(!endpoint.wants("account.registered"));
    }
}
