//! The events function on the emulator: stream records of our own items become account events
//! on an EventBridge bus, in order, the same events each time a record is read again; a record
//! whose events cannot be put stops the batch there; an erased account's edges publish nothing.

use aws_lambda_events::event::dynamodb::Event;
use serde_json::{Value, json};
use shared::{
    domain::Role,
    ports::{AccountStore, EdgeKind},
};
use ums_aws::events::{EVENT_SOURCE, EventPublisher, handle_stream};

use crate::{
    emulator::{Table, queue_arn, sdk, unique},
    store_conformance::cases::user,
};

/// A bus whose rule sends every account event to a queue this test reads.
struct Bus {
    publisher: EventPublisher,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Bus {
    async fn create() -> Self {
        let sdk = sdk().await;
        let events = aws_sdk_eventbridge::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let bus = unique("ums-accounts");
        events.create_event_bus().name(&bus).send().await.unwrap();
        let queue_url = sqs.create_queue().queue_name(unique("ums-events")).send().await.unwrap().queue_url.unwrap();
        let rule = unique("all");
        let pattern = json!({ "source": [EVENT_SOURCE] }).to_string();
        events.put_rule().name(&rule).event_bus_name(&bus).event_pattern(pattern).send().await.unwrap();
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("q")
            .arn(queue_arn(&sqs, &queue_url).await)
            .build()
            .unwrap();
        events.put_targets().rule(&rule).event_bus_name(&bus).targets(target).send().await.unwrap();
        Self { publisher: EventPublisher { client: events.into(), bus }, sqs, queue_url }
    }

    /// The EventBridge messages the rule delivered so far, oldest first.
    async fn received(&self) -> Vec<Value> {
        let mut messages = Vec::new();
        loop {
            let batch =
                self.sqs.receive_message().queue_url(&self.queue_url).max_number_of_messages(10).send().await.unwrap();
            let batch = batch.messages.unwrap_or_default();
            if batch.is_empty() {
                return messages;
            }
            for message in batch {
                messages.push(serde_json::from_str(message.body.as_deref().unwrap()).unwrap());
                let handle = message.receipt_handle.unwrap();
                self.sqs.delete_message().queue_url(&self.queue_url).receipt_handle(handle).send().await.unwrap();
            }
        }
    }
}

fn sample_stream() -> Event {
    let path = format!("{}/../events/events/stream.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("the sample is a DynamoDB stream event")
}

#[tokio::test]
async fn the_sample_stream_event_becomes_account_events_on_the_bus_in_order_and_the_same_when_read_again() {
    let (table, bus) = (Table::create().await, Bus::create().await);
    let response = handle_stream(sample_stream(), &bus.publisher, &table.store()).await;
    assert!(response.batch_item_failures.is_empty());

    let messages = bus.received().await;
    let kinds: Vec<_> = messages.iter().map(|m| m["detail-type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["account.registered", "account.email_confirmed", "author.subscribed"]);
    assert!(messages.iter().all(|m| m["source"] == EVENT_SOURCE));
    let first = &messages[0]["detail"];
    assert_eq!(first["type"], "account.registered");
    assert_eq!(first["account_id"], "01936f4e-0000-7000-8000-0000000000c3");
    assert_eq!(first["data"], json!({ "role": "author", "email": "ada@example.com", "pending": true }));
    assert_eq!(first["time"], "2026-12-02T12:00:00Z");
    assert_eq!(messages[2]["detail"]["account_id"], "01936f4e-0000-7000-8000-0000000000d4", "the subscriber acted");
    assert!(!messages.iter().any(|m| m.to_string().contains("argon2")), "the stream's hash never leaves");

    // Lambda retries a batch: the same records make the same event ids (consumers deduplicate).
    handle_stream(sample_stream(), &bus.publisher, &table.store()).await;
    let again: Vec<_> = bus.received().await.iter().map(|m| m["detail"]["id"].clone()).collect();
    let ids: Vec<_> = messages.iter().map(|m| m["detail"]["id"].clone()).collect();
    assert_eq!(again, ids);
}

#[tokio::test]
async fn a_record_whose_events_cannot_be_put_stops_the_batch_there() {
    let table = Table::create().await;
    let mut bus = Bus::create().await;
    bus.publisher.bus = unique("no-such-bus");
    let response = handle_stream(sample_stream(), &bus.publisher, &table.store()).await;
    let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, [Some("111".to_string())], "retried from the first record, nothing after it first");
}

#[tokio::test]
async fn an_unsubscription_is_published_while_both_accounts_exist_and_not_with_an_erased_account() {
    let (table, bus) = (Table::create().await, Bus::create().await);
    let store = table.store();
    let reader = user("reader@example.com");
    let author = shared::domain::User { role: Role::Author, ..user("author@example.com") };
    let removal = |from: &str, to: &str| -> Event {
        let kind = EdgeKind::Subscription;
        let image = json!({
            "PK": { "S": format!("USER#{from}") }, "SK": { "S": format!("SUB#{to}") },
            "from": { "S": from }, "to": { "S": to }, "created_at": { "N": "1796212920" }
        });
        serde_json::from_value(json!({ "Records": [{
            "eventID": unique(kind.as_str()), "eventName": "REMOVE", "awsRegion": "us-east-1",
            "dynamodb": { "ApproximateCreationDateTime": 1796212980, "Keys": {}, "OldImage": image,
                          "SequenceNumber": "444", "SizeBytes": 100, "StreamViewType": "NEW_AND_OLD_IMAGES" }
        }]}))
        .unwrap()
    };
    // The author's account is gone (its edges are erased after it): no event.
    store.create_account(&reader).await.unwrap();
    handle_stream(removal(&reader.id.0, &author.id.0), &bus.publisher, &store).await;
    assert_eq!(bus.received().await.len(), 0);

    store.create_account(&author).await.unwrap();
    handle_stream(removal(&reader.id.0, &author.id.0), &bus.publisher, &store).await;
    let messages = bus.received().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["detail"]["type"], "author.unsubscribed");
    assert_eq!(messages[0]["detail"]["data"]["author_id"], author.id.0.as_str());
}

#[tokio::test]
async fn a_webhook_endpoints_state_on_dynamodb_goes_from_delivering_to_failing_to_disabled_and_back() {
    use shared::{
        events::webhooks::Endpoint,
        ports::{WebhookDirectory, WebhookState},
    };
    let table = Table::create().await;
    let store = table.store();
    let endpoint = Endpoint::new("https://hooks.example.com/ums", vec!["account.deleted".into()]).unwrap();
    store.webhook_added(&endpoint).await.unwrap();
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let day = std::time::Duration::from_secs(86_400);

    store.webhook_delivered(&endpoint.id, "e1", now).await.unwrap();
    let status = store.webhook_statuses().await.unwrap().remove(0);
    assert_eq!((status.state, status.last_delivered_event.as_deref()), (WebhookState::Delivering, Some("e1")));
    assert_eq!(
        (status.url.as_str(), status.types.as_slice()),
        (endpoint.url.as_str(), ["account.deleted".to_string()].as_slice())
    );

    assert!(!store.webhook_failed(&endpoint.id, "answered 500", now, day).await.unwrap());
    let later = now + time::Duration::hours(25);
    assert!(store.webhook_failed(&endpoint.id, "answered 503", later, day).await.unwrap(), "a day of failing");
    let status = store.webhook_statuses().await.unwrap().remove(0);
    assert_eq!((status.state, status.failures), (WebhookState::Disabled, 2));
    assert_eq!((status.failing_since, status.disabled_at), (Some(now), Some(later)));
    assert_eq!(status.last_error.as_deref(), Some("answered 503"));

    assert!(store.webhook_enabled(&endpoint.id).await.unwrap());
    assert!(!store.webhook_enabled(&endpoint.id).await.unwrap(), "not disabled any more");
    let status = store.webhook_statuses().await.unwrap().remove(0);
    assert_eq!((status.state, status.failures, status.failing_since), (WebhookState::Delivering, 0, None));
    store.webhook_removed(&endpoint.id).await.unwrap();
    store.webhook_delivered(&endpoint.id, "e2", now).await.unwrap();
    assert!(store.webhook_statuses().await.unwrap().is_empty(), "a removed endpoint's late record makes none");
}
