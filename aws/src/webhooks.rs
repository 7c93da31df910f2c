//! The webhook worker on AWS: account events from the bus (a rule sends them to an ordered
//! FIFO queue, one message group) delivered to the operator's endpoints as signed webhooks, as
//! the laptop's worker delivers them. The endpoints are a JSON list in an SSM SecureString
//! (`UMS_WEBHOOK_ENDPOINTS_PARAMETER`, written by `ums-aws webhook add`), read again every
//! `UMS_WEBHOOK_ENDPOINTS_RELOAD_SECS`.
//!
//! Each endpoint has a lane of its own: an event from the bus is handed on, in order, as one
//! message per endpoint that wants it, into the same queue under a message group named by the
//! endpoint ([`Lane`]); each of those is delivered to its one endpoint. A refused delivery stops
//! that lane (FIFO gives no later message of its group while it waits) and comes back after a
//! doubling wait (`ChangeMessageVisibility`); the other endpoints' lanes go on. After the
//! queue's receive limit (about a day of waits) it goes to the dead-letter queue, with an
//! alarm; an endpoint that failed through the whole retry window is disabled and its lane
//! drained (what it missed is in `ums-aws webhook list`).

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
    use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
    use shared::{
        events::{
            AccountEvent,
            webhooks::{Endpoint, Sender, WebhookConfig},
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

    /// One endpoint's copy of an event, in the endpoint's lane (its message group).
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Lane {
        lane: String,
        event: AccountEvent,
    }

    /// What a message of the queue is: an event from the bus (`detail`), or a lane's copy.
    enum Message {
        FromBus(AccountEvent),
        Lane(Lane),
    }

    fn message_of(message: &SqsMessage) -> anyhow::Result<Message> {
        let body: serde_json::Value = serde_json::from_str(message.body.as_deref().unwrap_or_default())?;
        if body.get("lane").is_some() {
            return Ok(Message::Lane(serde_json::from_value(body)?));
        }
        Ok(Message::FromBus(serde_json::from_value(body["detail"].clone())?))
    }

    /// The message's group (Lambda gives it with a FIFO queue's messages).
    fn group_of(message: &SqsMessage) -> String {
        message.attributes.get("MessageGroupId").cloned().unwrap_or_default()
    }

    impl WebhookWorker {
        /// Each message in its group's order: a group whose message failed takes no later one
        /// of the batch (reported failed, they come back in order); other groups go on.
        pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
            let mut response = SqsBatchResponse::default();
            if event.records.is_empty() {
                return response;
            }
            let fail = |response: &mut SqsBatchResponse, message: &SqsMessage| {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message.message_id.clone().unwrap_or_default();
                response.batch_item_failures.push(failure);
            };
            let endpoints = match self.endpoints.current().await {
                Ok(endpoints) => endpoints,
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "no webhook endpoints to deliver to; the batch is retried");
                    for message in &event.records {
                        fail(&mut response, message);
                    }
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
            let mut stopped: HashSet<String> = HashSet::new();
            let mut dropped: HashSet<String> = HashSet::new();
            let mut delivered: BTreeMap<String, String> = BTreeMap::new();
            for message in &event.records {
                let group = group_of(message);
                if stopped.contains(&group) {
                    fail(&mut response, message);
                    continue;
                }
                let done = match message_of(message) {
                    Err(e) => {
                        tracing::error!(message = ?message.message_id, error = %format!("{e:#}"), "not an account event; dropped");
                        true
                    }
                    Ok(Message::FromBus(event)) => self.hand_on(&event, &endpoints, &disabled).await,
                    Ok(Message::Lane(Lane { lane, event })) => {
                        let endpoint = endpoints.iter().find(|e| e.id == lane);
                        match endpoint {
                            // Removed, or disabled: what was in its lane is not delivered.
                            None => true,
                            Some(_) if disabled.contains(&lane) || dropped.contains(&lane) => true,
                            Some(endpoint) => match self.deliver(endpoint, &event).await {
                                Delivery::Taken => {
                                    delivered.insert(lane, event.id.clone());
                                    true
                                }
                                Delivery::Disabled => {
                                    dropped.insert(lane);
                                    true
                                }
                                Delivery::Refused => {
                                    if let Err(e) = self.back_off(message).await {
                                        tracing::warn!(error = %format!("{e:#}"), "could not delay the retry; it comes after the queue's visibility timeout");
                                    }
                                    false
                                }
                            },
                        }
                    }
                };
                if !done {
                    stopped.insert(group);
                    fail(&mut response, message);
                }
            }
            // One write per endpoint and batch: the last event it took.
            let now = OffsetDateTime::now_utc();
            for (endpoint, event_id) in delivered {
                if let Err(e) = self.store.webhook_delivered(&endpoint, &event_id, now).await {
                    tracing::warn!(endpoint, error = %format!("{e:#}"), "recording a delivery failed");
                }
            }
            response
        }

        /// Puts the event in the lane of each endpoint that wants it (in batches of ten, each
        /// copy deduplicated by event and endpoint, so a retried hand-on adds none twice).
        /// Whether it was handed on.
        async fn hand_on(&self, event: &AccountEvent, endpoints: &[Endpoint], disabled: &HashSet<String>) -> bool {
            let wanting: Vec<&Endpoint> =
                endpoints.iter().filter(|e| e.wants(event.change.kind()) && !disabled.contains(&e.id)).collect();
            for chunk in wanting.chunks(10) {
                let mut entries = Vec::new();
                for (index, endpoint) in chunk.iter().enumerate() {
                    let lane = Lane { lane: endpoint.id.clone(), event: event.clone() };
                    let entry = SendMessageBatchRequestEntry::builder()
                        .id(index.to_string())
                        .message_body(serde_json::to_string(&lane).expect("a lane's copy serializes"))
                        .message_group_id(&endpoint.id)
                        .message_deduplication_id(lane_dedup_id(&event.id, &endpoint.id))
                        .build();
                    match entry {
                        Ok(entry) => entries.push(entry),
                        Err(e) => {
                            tracing::error!(error = %e, "a lane's copy could not be built");
                            return false;
                        }
                    }
                }
                let sent =
                    self.sqs.send_message_batch().queue_url(&self.queue_url).set_entries(Some(entries)).send().await;
                match sent {
                    Ok(output) if output.failed.is_empty() => {}
                    Ok(output) => {
                        tracing::warn!(failed = output.failed.len(), event = %event.id, "some lanes' copies were not queued; the event is handed on again");
                        return false;
                    }
                    Err(e) => {
                        tracing::warn!(event = %event.id, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "the event's lanes were not queued; it is handed on again");
                        return false;
                    }
                }
            }
            true
        }

        async fn deliver(&self, endpoint: &Endpoint, event: &AccountEvent) -> Delivery {
            let Err(failed) = self.sender.send(endpoint, event).await else {
                return Delivery::Taken;
            };
            let now = OffsetDateTime::now_utc();
            let recorded = self.store.webhook_failed(&endpoint.id, &failed.detail, now, self.config.retry_for).await;
            if matches!(recorded, Ok(true)) {
                tracing::warn!(endpoint = %endpoint.id, url = %endpoint.url, error = %failed, "webhook endpoint disabled: it kept failing for the whole retry window");
                Delivery::Disabled
            } else {
                tracing::warn!(endpoint = %endpoint.id, url = %endpoint.url, event = %event.id, error = %failed, "webhook delivery failed; its lane retries later");
                Delivery::Refused
            }
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

    enum Delivery {
        Taken,
        /// Refused: its lane waits.
        Refused,
        /// Refused through the whole retry window: the endpoint is disabled.
        Disabled,
    }

    /// A FIFO deduplication id (at most 128 characters) for an event's copy in a lane.
    fn lane_dedup_id(event_id: &str, endpoint_id: &str) -> String {
        use sha2::{Digest as _, Sha256};
        let digest = Sha256::digest(format!("{event_id}\n{endpoint_id}").as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}
