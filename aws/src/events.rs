//! Account events on AWS: the table's stream (old and new images of every write) is the outbox;
//! the events function turns each stream record into events, the same way the laptop turns its
//! change rows into them (`shared::events::events_of`), and puts them on the EventBridge bus,
//! in the stream's order. A record whose events could not be put is reported as the batch's
//! failure: Lambda retries from it (nothing after it goes first), and after the event source's
//! retry limit sends the batch's description to the dead-letter queue (with an alarm).

use std::{collections::HashSet, time::Duration};

use anyhow::{Context, bail};
use aws_lambda_events::{
    dynamodb::{Event, EventRecord},
    streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse},
};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde::Deserialize;
use shared::{
    domain::UserId,
    events::{AccountEvent, Change, Image, Record, events_of},
    ports::{AccountStore, EdgeKind},
};
use time::OffsetDateTime;

use crate::{DynamoStore, Lazy, dynamo::user_of};

/// The `source` of every event this service puts on the bus (rules match on it).
pub const EVENT_SOURCE: &str = "ums.accounts";

#[derive(Deserialize)]
struct Keys {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
}

#[derive(Deserialize)]
struct EdgeItem {
    from: String,
    to: String,
}

#[derive(Deserialize)]
struct ReportItem {
    author_id: String,
    reporter_id: String,
}

#[derive(Deserialize)]
struct FlagItem {
    author_id: String,
    moderator_id: String,
}

/// What an item's image is, if it is one events are made of: an account, an edge, a report, a
/// flag (sessions, counters, markers and the rest make none).
fn image(item: &serde_dynamo::Item) -> anyhow::Result<Option<Image>> {
    if item.is_empty() {
        return Ok(None);
    }
    let keys: Keys = serde_dynamo::from_item(item.clone()).context("an image without PK and SK")?;
    let is_user = keys.pk.starts_with("USER#");
    Ok(Some(match keys.sk.as_str() {
        "PROFILE" if is_user => Image::Account(Box::new(user_of(item.clone())?)),
        sk if is_user && (sk.starts_with("SUB#") || sk.starts_with("FOLLOW#")) => {
            let edge: EdgeItem = serde_dynamo::from_item(item.clone())?;
            let kind = if sk.starts_with("SUB#") { EdgeKind::Subscription } else { EdgeKind::Follow };
            Image::Edge { kind, from: edge.from, to: edge.to }
        }
        id if keys.pk == "REPORTS" => {
            let report: ReportItem = serde_dynamo::from_item(item.clone())?;
            Image::Report { id: id.to_string(), author_id: report.author_id, reporter_id: report.reporter_id }
        }
        id if keys.pk == "FLAGS" => {
            let flag: FlagItem = serde_dynamo::from_item(item.clone())?;
            Image::Flag { id: id.to_string(), author_id: flag.author_id, moderator_id: flag.moderator_id }
        }
        _ => return Ok(None),
    }))
}

/// A stream record as the record `events_of` reads; `None` for items no event is made of.
pub fn record_of(record: &EventRecord) -> anyhow::Result<Option<Record>> {
    let (old, new) = (image(&record.change.old_image)?, image(&record.change.new_image)?);
    if old.is_none() && new.is_none() {
        return Ok(None);
    }
    let millis = record.change.approximate_creation_date_time.timestamp_millis();
    let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)?;
    Ok(Some(Record { id: record.event_id.clone(), time, old, new }))
}

/// Puts events on the bus: ten to a request (PutEvents' limit), the entries it failed put again
/// with a growing wait, a few times; then an error (the stream record is retried).
pub struct EventPublisher {
    pub client: Lazy<aws_sdk_eventbridge::Client>,
    pub bus: String,
}

const PUT_ATTEMPTS: u32 = 5;

impl EventPublisher {
    pub async fn publish(&self, events: &[AccountEvent]) -> anyhow::Result<()> {
        for chunk in events.chunks(10) {
            let mut pending: Vec<&AccountEvent> = chunk.iter().collect();
            for attempt in 1..=PUT_ATTEMPTS {
                let entries = pending
                    .iter()
                    .map(|event| {
                        Ok(PutEventsRequestEntry::builder()
                            .event_bus_name(&self.bus)
                            .source(EVENT_SOURCE)
                            .detail_type(event.change.kind())
                            .detail(serde_json::to_string(event)?)
                            .resources(format!("account/{}", event.account_id))
                            .build())
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let failed: Vec<&AccountEvent> = match self.client.put_events().set_entries(Some(entries)).send().await {
                    // The answer's entries are in the request's order; a failed one has an error code.
                    Ok(output) => pending
                        .iter()
                        .zip(output.entries())
                        .filter(|(_, entry)| entry.error_code().is_some())
                        .map(|(event, entry)| {
                            tracing::warn!(event = %event.id, code = entry.error_code().unwrap_or_default(), "an event was not put; again");
                            *event
                        })
                        .collect(),
                    Err(e) => {
                        tracing::warn!(error = %aws_sdk_eventbridge::error::DisplayErrorContext(&e), attempt, "PutEvents failed; again");
                        pending.clone()
                    }
                };
                if failed.is_empty() {
                    break;
                }
                if attempt == PUT_ATTEMPTS {
                    bail!("{} events were not put on the bus after {PUT_ATTEMPTS} attempts", failed.len());
                }
                pending = failed;
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
        }
        Ok(())
    }
}

/// The edge removals of an account erased with its deletion make no event (`account.deleted`
/// says it), as on the laptop: a removal is published only while both accounts exist. Asked once
/// for a whole batch (a BatchGetItem per 100 ids): erasing an author streams a removal per edge.
async fn erased_accounts(events: &[AccountEvent], accounts: &DynamoStore) -> anyhow::Result<HashSet<String>> {
    let mut ids: Vec<UserId> = events.iter().filter_map(removal_ids).flatten().collect();
    ids.sort_by(|a, b| a.0.cmp(&b.0));
    ids.dedup();
    let mut existing = HashSet::new();
    for chunk in ids.chunks(100) {
        existing.extend(accounts.accounts_by_id(chunk).await?.into_iter().map(|user| user.id.0));
    }
    Ok(ids.into_iter().map(|id| id.0).filter(|id| !existing.contains(id)).collect())
}

/// The two accounts of a removed subscription or follow.
fn removal_ids(event: &AccountEvent) -> Option<[UserId; 2]> {
    match &event.change {
        Change::Unsubscribed { author_id } | Change::Unfollowed { author_id } => {
            Some([UserId(event.account_id.clone()), UserId(author_id.clone())])
        }
        _ => None,
    }
}

/// The events function: each stream record, in order, made into events and put on the bus. The
/// first record that fails is the batch's failure (Lambda retries from it); an image that cannot
/// be read is logged and skipped, as no retry would read it better.
pub async fn handle_stream(event: Event, publisher: &EventPublisher, accounts: &DynamoStore) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    let fail_at = |response: &mut DynamoDbEventResponse, record: &EventRecord| {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = record.change.sequence_number.clone();
        response.batch_item_failures.push(failure);
    };
    let mut made: Vec<(&EventRecord, Vec<AccountEvent>)> = Vec::new();
    for record in &event.records {
        match record_of(record) {
            Ok(Some(read)) => made.push((record, events_of(&read))),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(record = %record.event_id, error = %format!("{e:#}"), "a stream record that is not an item we wrote; skipped");
            }
        }
    }
    let all: Vec<AccountEvent> = made.iter().flat_map(|(_, events)| events.iter().cloned()).collect();
    let erased = match erased_accounts(&all, accounts).await {
        Ok(erased) => erased,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "looking up accounts failed; the stream retries the batch");
            if let Some((record, _)) = made.first() {
                fail_at(&mut response, record);
            }
            return response;
        }
    };
    for (record, events) in made {
        let events: Vec<AccountEvent> = events
            .into_iter()
            .filter(|event| removal_ids(event).is_none_or(|pair| pair.iter().all(|id| !erased.contains(&id.0))))
            .collect();
        if let Err(e) = publisher.publish(&events).await {
            tracing::error!(record = %record.event_id, error = %format!("{e:#}"), "events not published; the stream retries from this record");
            fail_at(&mut response, record);
            break;
        }
    }
    response
}
