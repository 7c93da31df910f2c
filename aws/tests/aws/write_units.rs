//! What a notification costs per subscriber, whatever its message's size: DynamoDB write units
//! (the items each write touches are logged from the requests by an SDK interceptor, then read
//! back and sized as DynamoDB sizes them; a unit is 1 KB written, a transaction's item costs
//! two), read units (the items each read returns, 4 KB a unit, half for an eventually
//! consistent read), the SQS requests the workers would send and their invocations. The notify
//! and email workers run in-process on the emulator's table, their jobs passed from one to the
//! other as the queues would. The figures are `scale_model::MEASURED`, the inputs of
//! `docs/scale.md`.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::Intercept,
        interceptors::context::{AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef},
        orchestrator::Metadata,
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use shared::{
    Config,
    clock::SystemClock,
    domain::Role,
    jobs::{EmailWorker, LinkIssuer, Worker},
    ports::{AccountStore, Job, JobQueue, Mailer, NotificationStore, OutgoingEmail, Queue},
};
use ums_aws::DynamoStore;

use crate::{
    emulator::{Table, sdk, unique},
    scale_model::{MEASURED, PerSubscriber},
};

const SUBSCRIBERS: usize = 300;
/// The most write units a subscriber may cost (the budget).
const BUDGET: f64 = 4.0;

/// A write as the table sees it: which items, and whether in a transaction.
#[derive(Clone, Debug)]
struct Write {
    operation: String,
    keys: Vec<(String, String)>,
    transactional: bool,
}

/// Logs the items every write request names, and the read units of every read.
#[derive(Clone, Debug, Default)]
struct WriteLog(Arc<Mutex<Vec<Write>>>, Arc<Mutex<BTreeMap<String, f64>>>);

/// Whether the read being sent is strongly consistent, for its answer's units.
#[derive(Clone, Copy, Debug)]
struct Consistent(bool);

impl Storable for Consistent {
    type Storer = StoreReplace<Self>;
}

/// Read units of items read in one request (`together`: sized as one, as a query is) or each
/// on its own (a batch read).
fn read_units<'a>(items: impl Iterator<Item = &'a Item>, together: bool, consistent: bool) -> f64 {
    let sizes: Vec<usize> = items.map(item_size).collect();
    let blocks = if together {
        sizes.iter().sum::<usize>().div_ceil(4096).max(1)
    } else {
        sizes.iter().map(|size| size.div_ceil(4096).max(1)).sum()
    };
    blocks as f64 * if consistent { 1.0 } else { 0.5 }
}

type Item = std::collections::HashMap<String, AttributeValue>;

fn key_of(value: &serde_json::Value) -> (String, String) {
    let text = |name: &str| value[name]["S"].as_str().unwrap_or_default().to_string();
    (text("PK"), text("SK"))
}

impl Intercept for WriteLog {
    fn name(&self) -> &'static str {
        "WriteLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let operation =
            request.headers().get("x-amz-target").unwrap_or_default().trim_start_matches("DynamoDB_20120810.");
        let body: serde_json::Value = serde_json::from_slice(request.body().bytes().unwrap_or_default())?;
        let consistent = match operation {
            "GetItem" | "Query" => Some(body["ConsistentRead"] == true),
            "BatchGetItem" => {
                Some(body["RequestItems"].as_object().into_iter().flatten().all(|(_, t)| t["ConsistentRead"] == true))
            }
            _ => None,
        };
        if let Some(consistent) = consistent {
            cfg.interceptor_state().store_put(Consistent(consistent));
            return Ok(());
        }
        let (keys, transactional) = match operation {
            "PutItem" => (vec![key_of(&body["Item"])], false),
            "UpdateItem" | "DeleteItem" => (vec![key_of(&body["Key"])], false),
            "TransactWriteItems" => {
                let items = body["TransactItems"].as_array().cloned().unwrap_or_default();
                let keys = items
                    .iter()
                    .filter_map(|item| {
                        let (kind, op) = item.as_object()?.iter().next()?;
                        Some(if kind == "Put" { key_of(&op["Item"]) } else { key_of(&op["Key"]) })
                    })
                    .collect();
                (keys, true)
            }
            "BatchWriteItem" => panic!("no batch writes in this path"),
            _ => return Ok(()),
        };
        let write = Write { operation: operation.to_string(), keys, transactional };
        self.0.lock().unwrap().push(write);
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::{
            batch_get_item::BatchGetItemOutput, get_item::GetItemOutput, query::QueryOutput,
        };
        let (Some(Consistent(consistent)), Ok(output)) = (cfg.load::<Consistent>().copied(), context.output_or_error())
        else {
            return Ok(());
        };
        let units = if let Some(got) = output.downcast_ref::<GetItemOutput>() {
            read_units(got.item.iter(), true, consistent)
        } else if let Some(page) = output.downcast_ref::<QueryOutput>() {
            read_units(page.items().iter(), true, consistent)
        } else if let Some(batch) = output.downcast_ref::<BatchGetItemOutput>() {
            read_units(batch.responses.iter().flat_map(|r| r.values().flatten()), false, consistent)
        } else {
            return Ok(());
        };
        let operation = cfg.load::<Metadata>().map_or("?", |m| m.name()).to_string();
        *self.1.lock().unwrap().entry(operation).or_default() += units;
        Ok(())
    }
}

/// An item's size as DynamoDB counts it: each attribute's name and value (a number's digits,
/// about half a byte each, plus one).
fn item_size(item: &std::collections::HashMap<String, AttributeValue>) -> usize {
    fn value_size(value: &AttributeValue) -> usize {
        match value {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => n.trim_start_matches('-').len().div_ceil(2) + 1,
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
            AttributeValue::M(map) => 3 + map.iter().map(|(k, v)| 1 + k.len() + value_size(v)).sum::<usize>(),
            other => panic!("an attribute of an unexpected type: {other:?}"),
        }
    }
    item.iter().map(|(name, value)| name.len() + value_size(value)).sum()
}

/// Jobs kept in memory, by queue, for the test to hand to the workers, and the SQS requests
/// `SqsJobs` would have sent for them (one a job, or one a batch of up to 10).
#[derive(Default)]
struct HeldJobs(Mutex<BTreeMap<Queue, VecDeque<Job>>>, Mutex<usize>);

#[async_trait]
impl JobQueue for HeldJobs {
    async fn enqueue(&self, job: &Job) -> anyhow::Result<()> {
        self.0.lock().unwrap().entry(job.queue()).or_default().push_back(job.clone());
        *self.1.lock().unwrap() += 1;
        Ok(())
    }

    async fn enqueue_all(&self, jobs: &[Job]) -> anyhow::Result<()> {
        for job in jobs {
            self.0.lock().unwrap().entry(job.queue()).or_default().push_back(job.clone());
        }
        *self.1.lock().unwrap() += jobs.len().div_ceil(10);
        Ok(())
    }
}

impl HeldJobs {
    fn take(&self, queue: Queue, most: usize) -> Vec<Job> {
        let mut queues = self.0.lock().unwrap();
        let held = queues.entry(queue).or_default();
        let count = held.len().min(most);
        held.drain(..count).collect()
    }
}

struct Accepting;

#[async_trait]
impl Mailer for Accepting {
    async fn send(&self, _email: &OutgoingEmail) -> anyhow::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_with_a_10000_character_message_costs_at_most_4_write_units_per_subscriber() {
    let table = Table::create().await;
    let setup = Arc::new(table.store());
    let domain = format!("{}.example", unique("units"));
    let author =
        shared::domain::User { role: Role::Author, ..crate::store_conformance::cases::user(&format!("bob@{domain}")) };
    setup.create_account(&author).await.unwrap();
    crate::emulator::subscribers(&setup, &author.id, &domain, SUBSCRIBERS).await;

    // The workers' store logs its writes.
    let log = WriteLog::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk().await).interceptor(log.clone()).build();
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), &table.name));
    let mut settings = Config::local(std::env::temp_dir(), "127.0.0.1:3000".parse().unwrap());
    settings.limits.fan_out_segments = 4;
    let settings = Arc::new(settings);
    let jobs = Arc::new(HeldJobs::default());
    let notify = crate::emulator::notify_worker(&store, jobs.clone(), settings.clone());
    let links = LinkIssuer {
        accounts: store.clone(),
        sessions: store.clone(),
        tokens: store.clone(),
        clock: Arc::new(SystemClock),
        config: settings,
    };
    let email = EmailWorker { mailer: Arc::new(Accepting), links, deliveries: store.clone() };

    // Ten thousand characters of two bytes each: 20 KB.
    let message = "ü".repeat(10_000);
    let notification = crate::emulator::new_notification(&author.id, "A long letter", &message);
    store.create_notification(&notification).await.unwrap();
    jobs.enqueue(&Job::FanOut { notification_id: notification.id.clone(), segment: None }).await.unwrap();
    let mut invocations = 0;
    loop {
        let fan_outs = jobs.take(Queue::Notify, 1);
        for job in &fan_outs {
            notify.handle(job).await.unwrap();
            invocations += 1;
        }
        // As SQS hands them to the email worker: ten at a time.
        let emails = jobs.take(Queue::Delivery, 10);
        for result in email.handle_batch(&emails).await {
            result.unwrap();
        }
        invocations += usize::from(!emails.is_empty());
        if fan_outs.is_empty() && emails.is_empty() {
            break;
        }
    }
    let done = store.notification(&notification.id).await.unwrap().unwrap();
    assert_eq!((done.sent, done.failed, done.fanned_out), (SUBSCRIBERS as u64, 0, true));

    // Every item written, sized as it is now (no write here shrinks an item).
    let writes = log.0.lock().unwrap().clone();
    let mut sizes: BTreeMap<(String, String), usize> = BTreeMap::new();
    for write in &writes {
        for key in &write.keys {
            if sizes.contains_key(key) {
                continue;
            }
            let item = table
                .client
                .get_item()
                .table_name(&table.name)
                .key("PK", AttributeValue::S(key.0.clone()))
                .key("SK", AttributeValue::S(key.1.clone()))
                .send()
                .await
                .unwrap()
                .item
                .unwrap_or_default();
            sizes.insert(key.clone(), item_size(&item));
        }
    }
    let mut units_by_operation: BTreeMap<String, f64> = BTreeMap::new();
    for write in &writes {
        for key in &write.keys {
            let units = sizes[key].div_ceil(1024).max(1) as f64 * if write.transactional { 2.0 } else { 1.0 };
            *units_by_operation.entry(write.operation.clone()).or_default() += units;
        }
    }
    let total: f64 = units_by_operation.values().sum();
    let per_subscriber = total / SUBSCRIBERS as f64;
    let largest = sizes.iter().filter(|(key, _)| key.1 != "NOTIFICATION").map(|(_, size)| *size).max().unwrap();
    eprintln!(
        "{per_subscriber:.2} write units per subscriber ({units_by_operation:?} for {SUBSCRIBERS}); the largest item \
         written per subscriber or per page is {largest} bytes, the notification {} bytes",
        sizes.iter().find(|(key, _)| key.1 == "NOTIFICATION").map_or(0, |(_, size)| *size)
    );
    assert!(per_subscriber <= BUDGET, "{per_subscriber:.2} write units per subscriber");
    assert!(largest < 1024, "every delivery and progress write is under 1 KB: {largest}");

    // The rest of what a subscriber costs, against the scale model's inputs.
    let reads = log.1.lock().unwrap().clone();
    let subscribers = SUBSCRIBERS as f64;
    let measured = PerSubscriber {
        write_units: per_subscriber,
        read_units: reads.values().sum::<f64>() / subscribers,
        send_requests: *jobs.1.lock().unwrap() as f64 / subscribers,
        invocations: invocations as f64 / subscribers,
    };
    eprintln!("read units {reads:?}; per subscriber: {measured:?}");
    let close = |what: &str, measured: f64, modelled: f64| {
        assert!(
            (measured - modelled).abs() <= modelled * 0.05 + 0.005,
            "{what}: measured {measured:.3} per subscriber, docs/scale.md's model has {modelled}: update MEASURED"
        );
    };
    close("write units", measured.write_units, MEASURED.write_units);
    close("read units", measured.read_units, MEASURED.read_units);
    close("SQS requests", measured.send_requests, MEASURED.send_requests);
    close("invocations", measured.invocations, MEASURED.invocations);
}
