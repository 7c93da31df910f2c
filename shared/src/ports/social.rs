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
    /// Up to `limit` ids of the author's subscribers in `range`, after `after`, in id order
    /// (a fan-out segment's next page; on DynamoDB the index, eventually consistent).
    async fn subscriber_ids(
        &self,
        author: &UserId,
        range: &IdRange,
        after: Option<&UserId>,
        limit: u32,
    ) -> StoreResult<Vec<UserId>>;
    /// The author's first and last subscriber ids, in id order (a fan-out's segments are cut
    /// between them); `None` without subscribers.
    async fn subscriber_id_bounds(&self, author: &UserId) -> StoreResult<Option<(UserId, UserId)>>;
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
    /// Every subscriber has an email queued.
    pub fanned_out: bool,
    /// A segment of the fan-out failed for good (its job is in the dead-letter queue); moving
    /// it again (a redrive) clears this.
    pub stalled: bool,
}

/// Subscriber ids from `from` (inclusive) until `until` (exclusive); an open end is unbounded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

impl IdRange {
    pub fn contains(&self, id: &str) -> bool {
        self.from.as_deref().is_none_or(|from| id >= from) && self.until.as_deref().is_none_or(|until| id < until)
    }
}

/// One part of a fan-out: its number and the subscribers it covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub index: u32,
    #[serde(flatten)]
    pub range: IdRange,
}

/// Where a fan-out segment stands: not begun, past a subscriber, or done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegmentPosition {
    Start,
    After(UserId),
    Done,
}

impl SegmentPosition {
    /// As stored: `start`, `after:<id>`, `done`.
    pub fn to_stored(&self) -> String {
        match self {
            SegmentPosition::Start => "start".to_string(),
            SegmentPosition::After(id) => format!("after:{id}"),
            SegmentPosition::Done => "done".to_string(),
        }
    }

    pub fn from_stored(stored: &str) -> Option<Self> {
        match stored {
            "start" => Some(SegmentPosition::Start),
            "done" => Some(SegmentPosition::Done),
            _ => stored.strip_prefix("after:").map(|id| SegmentPosition::After(UserId(id.to_string()))),
        }
    }
}

/// A finished send: sent, or given up on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    pub subscriber: UserId,
    pub sent: bool,
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
}

/// Notifications, the progress of their fan-out, and their per-subscriber deliveries: a
/// subscriber gets at most one email per notification, however often the jobs that carry it
/// are redelivered. The notification's counts live apart from its message (on DynamoDB in a
/// small item), so counting a delivery costs the same whatever the message's size.
#[async_trait]
pub trait NotificationStore: Send + Sync {
    async fn create_notification(&self, notification: &Notification) -> StoreResult<()>;
    async fn notification(&self, id: &str) -> StoreResult<Option<Notification>>;
    /// Saves the fan-out's segments unless some were saved before; returns those that stand
    /// (the first plan wins, so a redone start queues the same segments). No segment: done.
    async fn start_fan_out(&self, id: &str, segments: &[Segment]) -> StoreResult<Vec<Segment>>;
    /// Where segment `index` stands; `None` if the fan-out has no such segment.
    async fn segment_position(&self, id: &str, index: u32) -> StoreResult<Option<SegmentPosition>>;
    /// Moves segment `index` from `from` to `to` and counts `queued` emails, atomically and
    /// only if it stands at `from` (`false` otherwise: another job moved it). Reaching `Done`
    /// ends the segment; the last one ends the fan-out. Clears `stalled`.
    async fn advance_segment(
        &self,
        id: &str,
        index: u32,
        from: &SegmentPosition,
        to: &SegmentPosition,
        queued: u64,
    ) -> StoreResult<bool>;
    /// A segment's job failed for good: the notification says so.
    async fn mark_stalled(&self, id: &str) -> StoreResult<()>;
    /// Takes the delivery to `subscriber` for sending, until `now + lease`, creating it if it is
    /// new or taking it back if it was released; tells a delivery whose sender's lease ran out
    /// ([`DeliveryClaim::Abandoned`]) from one still being sent.
    async fn claim_delivery(
        &self,
        id: &str,
        subscriber: &UserId,
        now: OffsetDateTime,
        lease: time::Duration,
    ) -> StoreResult<DeliveryClaim>;
    /// Marks claimed deliveries sent (or failed for good) and counts them, atomically; one
    /// finished already (by another delivery of its job) is left as it is and not counted.
    async fn finish_deliveries(&self, id: &str, finished: &[Finished]) -> StoreResult<()>;
    /// Gives a claimed delivery back, to be tried again; `spent_attempt: false` for a send the
    /// mail service throttled, which does not count against the delivery's attempts.
    async fn release_delivery(&self, id: &str, subscriber: &UserId, spent_attempt: bool) -> StoreResult<()>;
}
