//! Sending webhooks: one HTTP client for every delivery, signed by the Standard Webhooks library.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use anyhow::Context;

use super::{Endpoint, WebhookConfig, check_url, is_private};
use crate::events::AccountEvent;

/// Resolves names for the webhook client, refusing private addresses unless allowed: the check
/// is made on the addresses the connection then uses, so a name cannot point elsewhere between
/// a check and the request.
struct CheckedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| allow_private || !is_private(addr.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address (private ones are not allowed)").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// How a delivery went, as the endpoint's log records it.
#[derive(Debug)]
pub struct Delivered {
    pub status: u16,
}

/// Why a delivery failed: the endpoint answered something other than 2xx, or never answered.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct DeliveryFailed {
    pub status: Option<u16>,
    pub detail: String,
}

/// Sends events to endpoints: one client (its connections kept between deliveries), a time
/// limit on each request, no redirects, and the address check above.
#[derive(Clone)]
pub struct Sender {
    /// Made at the first delivery: loading the system's root certificates takes milliseconds a
    /// cold start with nothing to deliver should not pay.
    client: Arc<std::sync::OnceLock<reqwest::Client>>,
    settings: WebhookConfig,
}

impl Sender {
    pub fn new(settings: &WebhookConfig) -> Self {
        Self { client: Default::default(), settings: settings.clone() }
    }

    fn client(&self) -> Result<&reqwest::Client, DeliveryFailed> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .timeout(self.settings.timeout)
            .connect_timeout(self.settings.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(CheckedResolver { allow_private: self.settings.allow_private }))
            .user_agent(concat!("ums-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the webhook client")
            .map_err(|e| DeliveryFailed { status: None, detail: format!("{e:#}") })?;
        Ok(self.client.get_or_init(|| client))
    }

    /// POSTs one event to one endpoint, signed; a 2xx answer is delivered.
    pub async fn send(&self, endpoint: &Endpoint, event: &AccountEvent) -> Result<Delivered, DeliveryFailed> {
        let failed = |detail: String| DeliveryFailed { status: None, detail };
        let url = check_url(&endpoint.url).map_err(|e| failed(e.to_string()))?;
        // An address written in the URL is not resolved: check it here.
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if literal.is_some_and(|ip| !self.settings.allow_private && is_private(ip)) {
            return Err(failed(format!("{} is a private address (not allowed)", endpoint.url)));
        }
        let body = serde_json::to_string(event).map_err(|e| failed(e.to_string()))?;
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let signature = standardwebhooks::Webhook::new(&endpoint.secret)
            .and_then(|hook| hook.sign(&event.id, timestamp, body.as_bytes()))
            .map_err(|e| failed(format!("signing: {e}")))?;
        let response = self
            .client()?
            .post(url)
            .header("content-type", "application/json")
            .header(standardwebhooks::HEADER_WEBHOOK_ID, &event.id)
            .header(standardwebhooks::HEADER_WEBHOOK_TIMESTAMP, timestamp.to_string())
            .header(standardwebhooks::HEADER_WEBHOOK_SIGNATURE, signature)
            .body(body)
            .send()
            .await
            .map_err(|e| failed(describe(&e)))?;
        let status = response.status();
        if status.is_success() {
            Ok(Delivered { status: status.as_u16() })
        } else {
            Err(DeliveryFailed { status: Some(status.as_u16()), detail: format!("answered {status}") })
        }
    }
}

/// A request error with its causes (reqwest's own message names only the outermost).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text += &format!(": {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_private_address_is_not_reached_unless_allowed() {
        let settings = WebhookConfig { allow_private: false, ..Default::default() };
        let sender = Sender::new(&settings);
        let event = AccountEvent::new("u1", crate::events::Change::Deleted {}, time::OffsetDateTime::now_utc());
        for url in ["http://127.0.0.1:9/", "http://[::1]:9/", "http://localhost:9/", "http://169.254.169.254/latest"] {
            let endpoint = Endpoint::new(url, vec![]).unwrap();
            let error = sender.send(&endpoint, &event).await.expect_err(url);
            assert!(error.detail.contains("private") || error.detail.contains("no public address"), "{url}: {error}");
        }
    }
}
