//! Resources on the emulator, each test its own, deleted when the test ends.

use std::sync::Arc;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use shared::{
    clock::SystemClock,
    jobs::{EmailWorker, LinkIssuer, Worker},
};
use ums_aws::{DynamoStore, call_count::CallCounter, lambda};

pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "these tests need the AWS emulator: run scripts/test, which starts it, or run \
             `python3 scripts/emulator -p 5055` and export AWS_ENDPOINT_URL=http://127.0.0.1:5055"
        )
    })
}

pub async fn sdk() -> SdkConfig {
    let credentials = aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "emulator");
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(ums_aws::lambda::http_client())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .credentials_provider(credentials)
        .load()
        .await
}

/// A new, empty photo bucket.
pub async fn photo_bucket() -> String {
    let name = unique("photos");
    let s3 =
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk().await).force_path_style(true).build());
    s3.create_bucket().bucket(&name).send().await.expect("creating a bucket on the emulator");
    name
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// The table's definition, the one source that template.yaml (checked by
/// `deployment::the_template_defines_the_table_as_its_definition_says`), the emulator setup
/// script and these tests all follow.
pub fn table_definition() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/dynamodb-table.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn key_schema(keys: &serde_json::Value) -> Vec<KeySchemaElement> {
    let keys = keys.as_array().unwrap().iter();
    keys.map(|k| {
        let kind = KeyType::from(k["KeyType"].as_str().unwrap());
        KeySchemaElement::builder().attribute_name(k["AttributeName"].as_str().unwrap()).key_type(kind).build().unwrap()
    })
    .collect()
}

/// A table made from its definition, removed on drop.
pub struct Table {
    pub name: String,
    pub client: aws_sdk_dynamodb::Client,
    pub calls: CallCounter,
}

impl Table {
    pub async fn create() -> Self {
        let sdk = sdk().await;
        let calls = CallCounter::default();
        let client = lambda::dynamo_client(&sdk, Some(calls.clone()));
        let name = unique("ums-test");
        let definition = table_definition();
        let attributes = definition["AttributeDefinitions"].as_array().unwrap().iter().map(|a| {
            let kind = ScalarAttributeType::from(a["AttributeType"].as_str().unwrap());
            AttributeDefinition::builder()
                .attribute_name(a["AttributeName"].as_str().unwrap())
                .attribute_type(kind)
                .build()
                .unwrap()
        });
        let indexes = definition["GlobalSecondaryIndexes"].as_array().unwrap().iter().map(|index| {
            let projection = ProjectionType::from(index["Projection"]["ProjectionType"].as_str().unwrap());
            let included = index["Projection"]["NonKeyAttributes"]
                .as_array()
                .map(|names| names.iter().map(|n| n.as_str().unwrap().to_string()).collect::<Vec<_>>());
            GlobalSecondaryIndex::builder()
                .index_name(index["IndexName"].as_str().unwrap())
                .set_key_schema(Some(key_schema(&index["KeySchema"])))
                .projection(Projection::builder().projection_type(projection).set_non_key_attributes(included).build())
                .build()
                .unwrap()
        });
        client
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::from(definition["BillingMode"].as_str().unwrap()))
            .set_attribute_definitions(Some(attributes.collect()))
            .set_key_schema(Some(key_schema(&definition["KeySchema"])))
            .set_global_secondary_indexes(Some(indexes.collect()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("creating a table on the emulator at {}: {e:?}", endpoint()));
        let ttl = &definition["TimeToLiveSpecification"];
        client
            .update_time_to_live()
            .table_name(&name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(ttl["AttributeName"].as_str().unwrap())
                    .enabled(ttl["Enabled"].as_bool().unwrap())
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        calls.take();
        Self { name, client, calls }
    }

    pub fn store(&self) -> DynamoStore {
        DynamoStore::new(self.client.clone(), &self.name)
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        let (client, name) = (self.client.clone(), self.name.clone());
        // Drop cannot await: delete from a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let _ = runtime.block_on(client.delete_table().table_name(name).send());
        })
        .join();
    }
}

/// A worker's queue with its dead-letter queue after `max_receives` failed deliveries.
pub struct Queues {
    pub client: aws_sdk_sqs::Client,
    pub url: String,
    pub arn: String,
    pub dead_letter_url: String,
}

impl Queues {
    /// Messages come back at once when not deleted: tests that take one at a time see their
    /// redeliveries without waiting.
    pub async fn create(max_receives: u32) -> Self {
        Self::create_with(max_receives, 0).await
    }

    /// A received message is hidden for `visibility_secs`, as on AWS.
    pub async fn create_with(max_receives: u32, visibility_secs: u32) -> Self {
        let client = aws_sdk_sqs::Client::new(&sdk().await);
        let dlq_name = unique("ums-jobs-dlq");
        let dead_letter_url = client.create_queue().queue_name(&dlq_name).send().await.unwrap().queue_url.unwrap();
        let dlq_arn = queue_arn(&client, &dead_letter_url).await;
        let redrive = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receives}"}}"#);
        let url = client
            .create_queue()
            .queue_name(unique("ums-jobs"))
            .attributes(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy, redrive)
            .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, visibility_secs.to_string())
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let arn = queue_arn(&client, &url).await;
        Self { client, url, arn, dead_letter_url }
    }

    /// What Lambda's SQS poller does: receive a batch, run the worker, delete what succeeded.
    pub async fn deliver_once(&self, worker: &dyn Worker, records: &DynamoStore) -> (usize, usize) {
        let received = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .unwrap();
        let messages = received.messages.unwrap_or_default();
        let event = sqs_event(&messages);
        let response = ums_aws::worker::handle_batch(event, worker, records).await;
        let failed: Vec<String> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
        for message in &messages {
            if !failed.contains(message.message_id.as_ref().unwrap()) {
                self.client
                    .delete_message()
                    .queue_url(&self.url)
                    .receipt_handle(message.receipt_handle.clone().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        (messages.len(), failed.len())
    }

    pub async fn count(&self, url: &str) -> usize {
        let attributes = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap();
        attributes[&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages].parse().unwrap()
    }
}

impl Drop for Queues {
    fn drop(&mut self) {
        let (client, urls) = (self.client.clone(), [self.url.clone(), self.dead_letter_url.clone()]);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            for url in urls {
                let _ = runtime.block_on(client.delete_queue().queue_url(url).send());
            }
        })
        .join();
    }
}

/// The event Lambda would build from received messages.
pub fn sqs_event(messages: &[aws_sdk_sqs::types::Message]) -> aws_lambda_events::event::sqs::SqsEvent {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            serde_json::json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": m.attributes.iter().flatten().map(|(k, v)| (k.as_str().to_string(), v.clone())).collect::<std::collections::BTreeMap<_, _>>(),
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
}

/// Emails the emulator's SES has accepted, as raw MIME (newest last).
pub async fn sent_emails() -> Vec<String> {
    let url = format!("{}/moto-api/data.json", endpoint());
    // The emulator serialises all its state for this; a write racing it can fail the dump.
    let mut data = serde_json::Value::Null;
    for attempt in 0..5 {
        match reqwest::get(&url).await.unwrap().json::<serde_json::Value>().await {
            Ok(dump) => {
                data = dump;
                break;
            }
            Err(e) if attempt == 4 => panic!("the emulator's sent mail could not be read: {e}"),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    let messages = data["ses"]["RawMessage"].as_array().cloned().unwrap_or_default();
    messages.iter().filter_map(|m| m["raw_data"].as_str().map(str::to_string)).collect()
}

/// The email worker on the emulator: SES v2 with the sender verified, and `table` for the
/// links it issues.
pub async fn ses_worker(table: &Table, email_from: &str) -> EmailWorker {
    let sdk = sdk().await;
    let address = email_from.rsplit_once('<').map_or(email_from, |(_, address)| address.trim_end_matches('>'));
    let ses = aws_sdk_sesv2::Client::new(&sdk);
    ses.create_email_identity().email_identity(address).send().await.unwrap();
    let mut config = shared::Config::local(std::env::temp_dir(), "127.0.0.1:3000".parse().unwrap());
    config.email_from = email_from.into();
    let store = Arc::new(table.store());
    let links = LinkIssuer {
        accounts: store.clone(),
        sessions: store.clone(),
        tokens: store.clone(),
        clock: Arc::new(SystemClock),
        config: Arc::new(config),
    };
    // The emulator takes any pace: this one keeps a test of a thousand emails short.
    EmailWorker { mailer: Arc::new(ums_aws::SesMailer::new(ses, Some(1000.0), 1)), links, deliveries: store }
}

/// The notify worker over `store`, queueing on `jobs`, with a signing key of its own.
pub fn notify_worker(
    store: &Arc<DynamoStore>,
    jobs: Arc<dyn shared::ports::JobQueue>,
    config: Arc<shared::Config>,
) -> shared::jobs::NotifyWorker {
    let keys = shared::credentials::JwtKeys::fixed(&shared::credentials::jwt::generate_pem().unwrap(), &config.jwt);
    shared::jobs::NotifyWorker {
        accounts: store.clone(),
        social: store.clone(),
        notifications: store.clone(),
        tokens: store.clone(),
        activity: store.clone(),
        jobs,
        keys: Arc::new(keys.unwrap()),
        config,
        clock: Arc::new(SystemClock),
    }
}

/// Runs the spawned writes `size` at a time, each batch awaited before the next starts: the
/// emulator takes DynamoDB calls one at a time, and more in flight only queue up.
pub async fn in_batches(size: usize, writes: impl Iterator<Item = tokio::task::JoinHandle<()>>) {
    let mut pending = Vec::new();
    for write in writes {
        pending.push(write);
        if pending.len() == size {
            for write in pending.drain(..) {
                write.await.unwrap();
            }
        }
    }
    for write in pending {
        write.await.unwrap();
    }
}

/// A notification of `author`'s, as the social route makes it: nothing queued yet.
pub fn new_notification(author: &shared::domain::UserId, subject: &str, message: &str) -> shared::ports::Notification {
    shared::ports::Notification {
        id: uuid::Uuid::now_v7().to_string(),
        author_id: author.clone(),
        subject: subject.into(),
        message: Some(message.into()),
        article_url: None,
        created_at: time::OffsetDateTime::now_utc(),
        queued: 0,
        sent: 0,
        failed: 0,
        fanned_out: false,
        stalled: false,
    }
}

/// A queue's ARN, as a redrive policy or a bucket notification names it.
pub async fn queue_arn(client: &aws_sdk_sqs::Client, url: &str) -> String {
    use aws_sdk_sqs::types::QueueAttributeName::QueueArn;
    let attributes = client.get_queue_attributes().queue_url(url).attribute_names(QueueArn).send().await.unwrap();
    attributes.attributes.unwrap()[&QueueArn].clone()
}

/// `count` readers subscribed to `author`, their addresses at `domain`, written 25 at a time.
pub async fn subscribers(store: &Arc<DynamoStore>, author: &shared::domain::UserId, domain: &str, count: usize) {
    use shared::ports::{AccountStore, Edge, EdgeKind, SocialStore};
    let writes = (0..count).map(|i| {
        let (store, author) = (store.clone(), author.clone());
        let reader = crate::store_conformance::cases::user(&format!("reader{i}@{domain}"));
        tokio::spawn(async move {
            store.create_account(&reader).await.unwrap();
            let edge =
                Edge { kind: EdgeKind::Subscription, from: reader.id, to: author, created_at: reader.created_at };
            store.add_edge(&edge).await.unwrap();
        })
    });
    in_batches(25, writes).await;
}
