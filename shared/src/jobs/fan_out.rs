//! The notify worker, the social graph's: fans an author's notification out to their
//! subscribers; and erases a deleted account's links, subscriptions and follows, a page per
//! job (`accounts::erase_account_data`).
//!
//! A fan-out starts by cutting the subscribers into segments (by id; see [`plan_segments`]),
//! saved with the notification, and queuing a job per segment, so segments run at once (as many
//! as the worker's concurrency allows). A segment job reads a page of subscribers from where its
//! segment stands, queues their emails in batches, and moves the segment on past them,
//! conditionally on where it found it: a job redone, or two jobs on one segment, never skip a
//! subscriber, and the loser of a race stops. A job that fails is redelivered and takes up from
//! the saved position; one that fails for good marks the notification stalled (and counts a
//! metric the template alarms on) until a redrive moves it again.
//!
//! Exactly one email per subscriber, however the jobs are redelivered and wherever a worker
//! dies: an email job queued twice is sent once, since the email worker claims each
//! subscriber's delivery record (a conditional write) before sending and marks it after.

use std::{sync::Arc, time::Instant};

use async_trait::async_trait;

use super::Worker;
use crate::{
    clock::Clock,
    config::Config,
    credentials::JwtKeys,
    domain::{User, UserId},
    pagination::CursorSigner,
    ports::{
        AccountStore, IdRange, Job, JobQueue, Notification, NotificationEmail, NotificationStore, Segment,
        SegmentPosition, SocialStore, TokenStore,
    },
};

/// Subscribers per page of a segment (and per batch read of their accounts).
pub const FAN_OUT_PAGE: u32 = 100;
/// Subscribers below which a fan-out gets no further segment: a small one is one segment.
const SUBSCRIBERS_PER_SEGMENT: u64 = 250;
/// How long a segment job keeps taking pages before it hands over to a new job (well within
/// the worker function's 30 s; and locally, the queue's other jobs wait no longer).
const SEGMENT_STEP: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Clone)]
pub struct NotifyWorker {
    pub accounts: Arc<dyn AccountStore>,
    pub social: Arc<dyn SocialStore>,
    pub notifications: Arc<dyn NotificationStore>,
    /// A deleted account's emailed links.
    pub tokens: Arc<dyn TokenStore>,
    /// A deleted account's security activity.
    pub activity: Arc<dyn crate::ports::ActivityStore>,
    pub jobs: Arc<dyn JobQueue>,
    pub keys: Arc<JwtKeys>,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl Worker for NotifyWorker {
    async fn handle(&self, job: &Job) -> anyhow::Result<()> {
        match job {
            Job::FanOut { notification_id, segment: None } => self.start_fan_out(notification_id).await,
            Job::FanOut { notification_id, segment: Some(segment) } => {
                self.fan_out_segment(notification_id, segment).await
            }
            Job::EraseAccountData { user_id } => {
                let (social, tokens, jobs) = (self.social.as_ref(), self.tokens.as_ref(), self.jobs.as_ref());
                crate::accounts::erase_account_data(social, tokens, self.activity.as_ref(), jobs, user_id).await
            }
            _ => anyhow::bail!("a job of another queue reached the notify worker"),
        }
    }

    async fn give_up(&self, job: &Job) -> anyhow::Result<()> {
        if let Job::FanOut { notification_id, .. } = job {
            tracing::error!(notification = %notification_id, "a fan-out job failed for good; the notification is stalled");
            super::count_metric("FanOutsStalled", 1);
            self.notifications.mark_stalled(notification_id).await?;
        }
        Ok(())
    }
}

impl NotifyWorker {
    /// Cuts the subscribers into segments (the plan saved first wins) and queues a job each.
    async fn start_fan_out(&self, notification_id: &str) -> anyhow::Result<()> {
        let Some(notification) = self.notifications.notification(notification_id).await? else {
            return Ok(());
        };
        let plan = match self.accounts.account(&notification.author_id).await? {
            Some(author) => {
                let subscribers = self.social.counts(&author.id).await?.subscribers;
                let bounds = self.social.subscriber_id_bounds(&author.id).await?;
                plan_segments(bounds, subscribers, self.config.limits.fan_out_segments)
            }
            // The author is gone, and their subscriptions with them.
            None => Vec::new(),
        };
        let segments = self.notifications.start_fan_out(notification_id, &plan).await?;
        let jobs: Vec<Job> = segments
            .into_iter()
            .map(|segment| Job::FanOut { notification_id: notification_id.to_string(), segment: Some(segment) })
            .collect();
        self.jobs.enqueue_all(&jobs).await
    }

    /// Takes pages of the segment's subscribers from where it stands, for a few seconds, then
    /// hands over to a new job.
    async fn fan_out_segment(&self, notification_id: &str, segment: &Segment) -> anyhow::Result<()> {
        let started = Instant::now();
        let Some(notification) = self.notifications.notification(notification_id).await? else {
            return Ok(());
        };
        let author = self.accounts.account(&notification.author_id).await?;
        loop {
            let Some(position) = self.notifications.segment_position(notification_id, segment.index).await? else {
                return Ok(());
            };
            let after = match &position {
                SegmentPosition::Done => return Ok(()),
                SegmentPosition::Start => None,
                SegmentPosition::After(id) => Some(id.clone()),
            };
            let (next, emails) = match &author {
                Some(author) => self.page(&notification, author, &segment.range, after.as_ref()).await?,
                None => (SegmentPosition::Done, Vec::new()),
            };
            self.jobs.enqueue_all(&emails).await?;
            let queued = emails.len() as u64;
            let moved =
                self.notifications.advance_segment(notification_id, segment.index, &position, &next, queued).await?;
            if !moved || next == SegmentPosition::Done {
                return Ok(());
            }
            if started.elapsed() >= SEGMENT_STEP {
                let job = Job::FanOut { notification_id: notification_id.to_string(), segment: Some(segment.clone()) };
                return self.jobs.enqueue(&job).await;
            }
        }
    }

    /// The email jobs of the page of subscribers after `after`, and where the segment stands
    /// past it.
    async fn page(
        &self,
        notification: &Notification,
        author: &User,
        range: &IdRange,
        after: Option<&UserId>,
    ) -> anyhow::Result<(SegmentPosition, Vec<Job>)> {
        let ids = self.social.subscriber_ids(&author.id, range, after, FAN_OUT_PAGE).await?;
        let next = match ids.last() {
            Some(last) if ids.len() == FAN_OUT_PAGE as usize => SegmentPosition::After(last.clone()),
            _ => SegmentPosition::Done,
        };
        let now = self.clock.now();
        let signer = self.keys.cursor_signer().await;
        let emails = self
            .accounts
            .accounts_by_id(&ids)
            .await?
            .into_iter()
            // A suspended subscriber gets nothing while suspended; a pending one cannot exist.
            .filter(|subscriber| subscriber.can_receive_notifications(now))
            .map(|subscriber| Job::SendNotification(self.email(&signer, notification, author, &subscriber)))
            .collect();
        Ok((next, emails))
    }

    fn email(
        &self,
        signer: &CursorSigner,
        notification: &Notification,
        author: &User,
        subscriber: &User,
    ) -> NotificationEmail {
        let profile = &author.profile;
        let author_name =
            profile.nickname.clone().unwrap_or_else(|| format!("{} {}", profile.first_name, profile.last_name));
        let token = unsubscribe_token(signer, &subscriber.id, &author.id);
        NotificationEmail {
            to: subscriber.email.to_string(),
            notification_id: notification.id.clone(),
            subscriber_id: subscriber.id.clone(),
            author_name,
            subject: notification.subject.clone(),
            message: notification.message.clone(),
            article_url: notification.article_url.clone(),
            unsubscribe_url: format!("{}/api/v1/unsubscribe?token={token}", self.config.public_url),
        }
    }
}

/// The segments of a fan-out to `subscribers` subscribers whose ids run from `bounds.0` to
/// `bounds.1`: at most `most`, and one per [`SUBSCRIBERS_PER_SEGMENT`] at least. Account ids
/// are UUIDv7, whose first 48 bits are their creation time: the time between the first and
/// the last subscriber's is cut in equal parts, each part's ids a range (`0190a1b2-c3d4`, the
/// time as an id's first 13 characters, sorts before every id made from that millisecond
/// on). Any other ids make one segment. The segments cover every id, each once.
pub fn plan_segments(bounds: Option<(UserId, UserId)>, subscribers: u64, most: u32) -> Vec<Segment> {
    let Some((first, last)) = bounds else {
        return Vec::new();
    };
    let wanted = subscribers.div_ceil(SUBSCRIBERS_PER_SEGMENT).clamp(1, most.max(1) as u64);
    let millis = |id: &UserId| {
        let uuid = uuid::Uuid::parse_str(&id.0).ok().filter(|u| u.get_version_num() == 7)?;
        Some((uuid.as_u128() >> 80) as u64)
    };
    let mut cuts: Vec<String> = match (millis(&first), millis(&last)) {
        (Some(from), Some(to)) if to > from && wanted > 1 => (1..wanted)
            .map(|k| from + ((to - from) as u128 * k as u128 / wanted as u128) as u64)
            .filter(|cut| *cut > from)
            .map(|cut| {
                let hex = format!("{cut:012x}");
                format!("{}-{}", &hex[..8], &hex[8..])
            })
            .collect(),
        _ => Vec::new(),
    };
    cuts.dedup();
    let mut starts = vec![None];
    starts.extend(cuts.iter().cloned().map(Some));
    let mut ends: Vec<Option<String>> = cuts.into_iter().map(Some).collect();
    ends.push(None);
    starts
        .into_iter()
        .zip(ends)
        .enumerate()
        .map(|(index, (from, until))| Segment { index: index as u32, range: IdRange { from, until } })
        .collect()
}

/// The listing name unsubscribe tokens are sealed for: no list cursor opens as one.
const UNSUBSCRIBE: &str = "unsubscribe";

/// A one-click unsubscribe token: this subscriber from this author, sealed with the service's
/// key (the list cursors' HMAC, bound to its own purpose), so it names nobody else.
pub fn unsubscribe_token(signer: &CursorSigner, subscriber: &UserId, author: &UserId) -> String {
    signer.seal_for(UNSUBSCRIBE, &serde_json::json!({ "subscriber": subscriber.0, "author": author.0 }))
}

/// The subscriber and the author a token names, if this service sealed it.
pub async fn open_unsubscribe_token(keys: &JwtKeys, token: &str) -> Option<(UserId, UserId)> {
    let sealed = keys.cursor_signer().await.open_for(UNSUBSCRIBE, token).ok()?;
    let (subscriber, author) = (sealed["subscriber"].as_str()?, sealed["author"].as_str()?);
    Some((UserId(subscriber.to_string()), UserId(author.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_at(millis: u64, rest: u128) -> UserId {
        UserId(uuid::Uuid::from_u128(((millis as u128) << 80) | (0x7u128 << 76) | (rest & ((1 << 76) - 1))).to_string())
    }

    #[test]
    fn a_small_fan_out_is_one_segment_and_none_without_subscribers() {
        let (a, b) = (id_at(1_700_000_000_000, 1), id_at(1_800_000_000_000, 2));
        assert_eq!(plan_segments(None, 0, 8), Vec::new());
        let one = plan_segments(Some((a.clone(), b.clone())), 249, 8);
        assert_eq!(one, vec![Segment { index: 0, range: IdRange::default() }]);
        assert_eq!(plan_segments(Some((a.clone(), b.clone())), 1_000, 8).len(), 4, "one a 250 subscribers");
        assert_eq!(plan_segments(Some((a, b)), 1_000_000, 1).len(), 1);
    }

    #[test]
    fn segments_cover_every_id_once_in_order() {
        let (first, last) = (id_at(1_700_000_000_000, 5), id_at(1_700_000_900_000, 9));
        let segments = plan_segments(Some((first.clone(), last.clone())), 50_000, 8);
        assert_eq!(segments.len(), 8);
        assert_eq!((segments[0].range.from.as_deref(), segments[7].range.until.as_deref()), (None, None));
        for pair in segments.windows(2) {
            assert_eq!(pair[0].range.until, pair[1].range.from);
        }
        for step in 0..=1000u64 {
            let id = id_at(1_700_000_000_000 + step * 900, step as u128 * 7919);
            let holders = segments.iter().filter(|s| s.range.contains(&id.0)).count();
            assert_eq!(holders, 1, "{id}");
        }
        // Ids that are not UUIDv7: one segment.
        let plain = plan_segments(Some((UserId("a".into()), UserId("z".into()))), 50_000, 8);
        assert_eq!(plain.len(), 1);
    }
}
