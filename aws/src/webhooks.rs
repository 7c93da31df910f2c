//! The webhook worker on AWS: account events from the bus (a rule sends them to an ordered
//! FIFO queue) delivered to the operator's endpoints as signed webhooks, as the laptop's worker
//! delivers them. The endpoints are a JSON list in an SSM SecureString
//! (`UMS_WEBHOOK_ENDPOINTS_PARAMETER`, written by `ums-aws webhook add`), read again every
//! `UMS_WEBHOOK_ENDPOINTS_RELOAD_SECS`. An event that an endpoint refused stops the batch there
//! (the queue keeps the order: nothing after it goes first) and comes back after a doubling wait
//! (`ChangeMessageVisibility`); after the queue's receive limit (about a day of waits) it goes to
//! the dead-letter queue, with an alarm. Endpoints that took it already get it again then, with
//! the same `webhook-id`.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use shared::events::webhooks::Endpoint;
use tokio::sync::Mutex;
#[cfg(feature = "webhooks")]
pub use worker::WebhookWorker;

use crate::Lazy;

/// The endpoints' list in SSM, cached between reads.
pub struct EndpointsParameter {
    pub client: Lazy<aws_sdk_ssm::Client>,
    pub name: String,
    pub reload: Duration,
    cached: Mutex<Option<(Instant, Arc<Vec<Endpoint>>)>>,
}

impl EndpointsParameter {
    pub fn new(client: Lazy<aws_sdk_ssm::Client>, name: String, reload: Duration) -> Self {
        Self { client, name, reload, cached: Mutex::new(None) }
    }

    /// The list and the parameter's version; no parameter is no endpoint (version 0).
    pub async fn read(&self) -> anyhow::Result<(Vec<Endpoint>, i64)> {
        let output = self.client.get_parameter().name(&self.name).with_decryption(true).send().await;
        let parameter = match output {
            Ok(output) => output.parameter.context("the SSM parameter has no value")?,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_parameter_not_found()) => return Ok((Vec::new(), 0)),
            Err(e) => {
                return Err(anyhow::Error::new(e))
                    .with_context(|| format!("reading the webhook endpoints from SSM parameter {}", self.name));
            }
        };
        let text = parameter.value.unwrap_or_default();
        let endpoints = serde_json::from_str(&text)
            .with_context(|| format!("SSM parameter {} is not a list of webhook endpoints", self.name))?;
        Ok((endpoints, parameter.version))
    }

    /// Writes the list over the version read; refused when another writer came between (SSM
    /// has no conditional write: seen by the version numbers, after the fact).
    pub async fn write_over(&self, endpoints: &[Endpoint], read: i64) -> anyhow::Result<()> {
        let output = self
            .client
            .put_parameter()
            .name(&self.name)
            .value(serde_json::to_string(endpoints)?)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .with_context(|| format!("writing the webhook endpoints to SSM parameter {}", self.name))?;
        anyhow::ensure!(
            output.version == read + 1,
            "SSM parameter {} went from version {read} to {} meanwhile: another writer changed it; check it with `ums-aws webhook list`",
            self.name,
            output.version
        );
        Ok(())
    }

    /// The endpoints, read again when the last read is older than `reload`; a failed read
    /// keeps the list in use, if there is one.
    pub async fn current(&self) -> anyhow::Result<Arc<Vec<Endpoint>>> {
        let mut cached = self.cached.lock().await;
        if let Some((at, endpoints)) = cached.as_ref()
            && at.elapsed() < self.reload
        {
            return Ok(endpoints.clone());
        }
        match self.read().await {
            Ok((endpoints, _)) => {
                let endpoints = Arc::new(endpoints);
                *cached = Some((Instant::now(), endpoints.clone()));
                Ok(endpoints)
            }
            Err(e) => match cached.as_ref() {
                Some((_, endpoints)) => {
                    tracing::warn!(error = %format!("{e:#}"), "reading the webhook endpoints failed; the list in use is kept");
                    Ok(endpoints.clone())
                }
                None => Err(e),
            },
        }
    }
}

/// The worker itself (it sends: an HTTP client), in the webhook worker function only.
#[cfg(feature = "webhooks")]
mod worker {
    use std::collections::{BTreeMap, HashSet};

    use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
    use shared::{
        events::{
            AccountEvent,
            webhooks::{Sender, WebhookConfig},
        },
        ports::{WebhookDirectory, WebhookState},
    };
    use time::OffsetDateTime;

    use super::EndpointsParameter;
    use crate::{DynamoStore, Lazy};

    pub struct WebhookWorker {
        pub endpoints: EndpointsParameter,
        pub sender: Sender,
        pub sqs: Lazy<aws_sdk_sqs::Client>,
        /// The queue it reads (for `ChangeMessageVisibility`).
        pub queue_url: String,
        pub config: WebhookConfig,
        /// Each endpoint's delivery state (what admins see; a disabled endpoint is skipped).
        pub store: DynamoStore,
    }

    /// The event in an EventBridge message (`detail`).
    fn event_in(message: &SqsMessage) -> anyhow::Result<AccountEvent> {
        let envelope: serde_json::Value = serde_json::from_str(message.body.as_deref().unwrap_or_default())?;
        Ok(serde_json::from_value(envelope["detail"].clone())?)
    }

    impl WebhookWorker {
        pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
            let mut response = SqsBatchResponse::default();
            let fail_from = |response: &mut SqsBatchResponse, from: usize| {
                for message in &event.records[from..] {
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = message.message_id.clone().unwrap_or_default();
                    response.batch_item_failures.push(failure);
                }
            };
            if event.records.is_empty() {
                return response;
            }
            let endpoints = match self.endpoints.current().await {
                Ok(endpoints) => endpoints,
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "no webhook endpoints to deliver to; the batch is retried");
                    fail_from(&mut response, 0);
                    return response;
                }
            };
            // Endpoints that failed for the whole retry window are skipped until enabled again.
            let disabled: HashSet<String> = match self.store.webhook_statuses().await {
                Ok(statuses) => {
                    statuses.into_iter().filter(|s| s.state == WebhookState::Disabled).map(|s| s.id).collect()
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "reading the endpoints' state failed; delivering to all");
                    HashSet::new()
                }
            };
            let mut delivered: BTreeMap<&str, String> = BTreeMap::new();
            let mut dropped: HashSet<&str> = HashSet::new();
            for (index, message) in event.records.iter().enumerate() {
                let event = match event_in(message) {
                    Ok(event) => event,
                    Err(e) => {
                        tracing::error!(message = ?message.message_id, error = %format!("{e:#}"), "not an account event; dropped");
                        continue;
                    }
                };
                let mut refused = false;
                let wanting: Vec<_> = endpoints
                    .iter()
                    .filter(|endpoint| {
                        endpoint.wants(event.change.kind())
                            && !disabled.contains(&endpoint.id)
                            && !dropped.contains(endpoint.id.as_str())
                    })
                    .collect();
                for endpoint in wanting {
                    match self.sender.send(endpoint, &event).await {
                        Ok(_) => {
                            delivered.insert(&endpoint.id, event.id.clone());
                        }
                        Err(failed) => {
                            let now = OffsetDateTime::now_utc();
                            let recorded = self
                                .store
                                .webhook_failed(&endpoint.id, &failed.detail, now, self.config.retry_for)
                                .await;
                            if matches!(recorded, Ok(true)) {
                                tracing::warn!(endpoint = %endpoint.id, url = %endpoint.url, error = %failed, "webhook endpoint disabled: it kept failing for the whole retry window");
                                dropped.insert(&endpoint.id);
                            } else {
                                tracing::warn!(endpoint = %endpoint.id, url = %endpoint.url, event = %event.id, error = %failed, "webhook delivery failed; retried later");
                                refused = true;
                            }
                        }
                    }
                }
                if refused {
                    if let Err(e) = self.back_off(message).await {
                        tracing::warn!(error = %format!("{e:#}"), "could not delay the retry; it comes after the queue's visibility timeout");
                    }
                    fail_from(&mut response, index);
                    break;
                }
            }
            // One write per endpoint and batch: the last event it took.
            let now = OffsetDateTime::now_utc();
            for (endpoint, event_id) in delivered {
                if let Err(e) = self.store.webhook_delivered(endpoint, &event_id, now).await {
                    tracing::warn!(endpoint, error = %format!("{e:#}"), "recording a delivery failed");
                }
            }
            response
        }

        /// Hides the message for the wait its receive count calls for.
        async fn back_off(&self, message: &SqsMessage) -> anyhow::Result<()> {
            let receives = message.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1);
            let wait = self.config.retry_after(receives);
            self.sqs
                .change_message_visibility()
                .queue_url(&self.queue_url)
                .receipt_handle(message.receipt_handle.clone().unwrap_or_default())
                .visibility_timeout(i32::try_from(wait.as_secs().max(1)).unwrap_or(43_200))
                .send()
                .await?;
            Ok(())
        }
    }
}
