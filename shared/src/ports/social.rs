use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Position, StoreResult};
use crate::domain::{AuthorCounts, UserId};

/// A subscription (a reader or an author gets an author's notifications) or a follow (an
/// author follows another).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    Subscription,
    Follow,
}

impl EdgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Subscription => "subscription",
            EdgeKind::Follow => "follow",
        }
    }
}

/// `from` subscribes to, or follows, the author `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    pub kind: EdgeKind,
    pub from: UserId,
    pub to: UserId,
    pub created_at: OffsetDateTime,
}

/// Which side of an edge a listing fixes: the edges an account made, or those made to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Side {
    From(UserId),
    To(UserId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeAdded {
    New,
    /// It was there already: adding is idempotent.
    Existing,
    /// `to` is not an author's account (or no account at all).
    NotAnAuthor,
}

/// Subscriptions and follows, with the counts that go with them.
#[async_trait]
pub trait SocialStore: Send + Sync {
    /// Adds the edge and counts it, atomically with the checks that it is new and that `to`
    /// is an author's account.
    async fn add_edge(&self, edge: &Edge) -> StoreResult<EdgeAdded>;
    /// Removes the edge and uncounts it; `false` if there was none.
    async fn remove_edge(&self, kind: EdgeKind, from: &UserId, to: &UserId) -> StoreResult<bool>;
    /// Edges of one kind on one side, in a stable order (by the other side's id), and the
    /// position after the last one if there may be more.
    async fn edges(
        &self,
        kind: EdgeKind,
        side: &Side,
        limit: u32,
        after: Option<&Position>,
    ) -> StoreResult<(Vec<Edge>, Option<Position>)>;
    async fn counts(&self, user: &UserId) -> StoreResult<AuthorCounts>;
    /// Removes up to `limit` edges to or from the account (its deletion), each with its
    /// counts; `true` if some may remain. Once none remain, the account's counts go too.
    async fn delete_user_edges(&self, user: &UserId, limit: u32) -> StoreResult<bool>;
}

/// An author's email to their subscribers, and how its delivery stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    pub author_id: UserId,
    pub subject: String,
    pub message: Option<String>,
    pub article_url: Option<String>,
    pub created_at: OffsetDateTime,
    /// Deliveries recorded (one per subscriber reached), sent, and given up on.
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
    /// Every subscriber has a delivery recorded.
    pub fanned_out: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    Queued,
    Sending,
    Sent,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sending => "sending",
            DeliveryState::Sent => "sent",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Queued, Self::Sending, Self::Sent, Self::Failed].into_iter().find(|s| s.as_str() == name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryClaim {
    /// Ours to send now; this is attempt number `attempt`.
    Acquired { attempt: u32 },
    /// Sent, or given up on, before: nothing to do.
    Done,
    /// Another delivery of the job holds it; try again later.
    Busy,
    /// A sender took it and vanished (its lease ran out): whether the email left is unknown,
    /// so it is not sent again (at most one email each); give it up as failed.
    Abandoned,
    /// No such delivery (its notification is gone).
    Missing,
}

/// Notifications and their per-subscriber deliveries: a subscriber gets at most one email per
/// notification, however often the jobs that carry it are redelivered.
#[async_trait]
pub trait NotificationStore: Send + Sync {
    async fn create_notification(&self, notification: &Notification) -> StoreResult<()>;
    async fn notification(&self, id: &str) -> StoreResult<Option<Notification>>;
    /// Records the delivery to `subscriber` as queued and counts it, unless it is recorded
    /// already (atomically); returns its state.
    async fn record_delivery(&self, notification_id: &str, subscriber: &UserId) -> StoreResult<DeliveryState>;
    /// Takes a queued delivery for sending, until `now + lease`; tells a delivery whose
    /// sender's lease ran out ([`DeliveryClaim::Abandoned`]) from one still being sent.
    async fn claim_delivery(
        &self,
        notification_id: &str,
        subscriber: &UserId,
        now: OffsetDateTime,
        lease: time::Duration,
    ) -> StoreResult<DeliveryClaim>;
    /// Marks a claimed delivery sent (or failed for good) and counts it, atomically.
    async fn finish_delivery(&self, notification_id: &str, subscriber: &UserId, sent: bool) -> StoreResult<()>;
    /// Gives a claimed delivery back, to be tried again.
    async fn release_delivery(&self, notification_id: &str, subscriber: &UserId) -> StoreResult<()>;
    /// Every subscriber has a delivery recorded.
    async fn finish_fan_out(&self, notification_id: &str) -> StoreResult<()>;
}
