//! The notify worker, the social graph's: fans an author's notification out to their
//! subscribers, one page of subscribers per job, one email job per subscriber; and erases a
//! deleted account's links, subscriptions and follows, a page per job
//! (`accounts::erase_account_data`).
//!
//! Exactly one email per subscriber, however the jobs are redelivered and wherever a worker
//! dies: each subscriber's delivery is recorded (a conditional write) before its email job is
//! queued; a page done again re-queues only deliveries still queued; the email worker claims a
//! delivery before sending and marks it sent after, so a second job for it sends nothing.

use std::sync::Arc;

use async_trait::async_trait;

use super::Worker;
use crate::{
    clock::Clock,
    config::Config,
    credentials::JwtKeys,
    domain::{User, UserId},
    ports::{
        AccountStore, DeliveryState, EdgeKind, Job, JobQueue, Notification, NotificationEmail, NotificationStore,
        Position, Side, SocialStore, TokenStore,
    },
};

/// Subscribers per fan-out job (and per batch read of their accounts).
pub const FAN_OUT_PAGE: u32 = 100;

#[derive(Clone)]
pub struct NotifyWorker {
    pub accounts: Arc<dyn AccountStore>,
    pub social: Arc<dyn SocialStore>,
    pub notifications: Arc<dyn NotificationStore>,
    /// A deleted account's emailed links.
    pub tokens: Arc<dyn TokenStore>,
    pub jobs: Arc<dyn JobQueue>,
    pub keys: Arc<JwtKeys>,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl Worker for NotifyWorker {
    async fn handle(&self, job: &Job) -> anyhow::Result<()> {
        match job {
            Job::FanOut { notification_id, after } => self.fan_out(notification_id, after.as_ref()).await,
            Job::EraseAccountData { user_id } => {
                let (social, tokens, jobs) = (self.social.as_ref(), self.tokens.as_ref(), self.jobs.as_ref());
                crate::accounts::erase_account_data(social, tokens, jobs, user_id).await
            }
            _ => anyhow::bail!("a job of another queue reached the notify worker"),
        }
    }
}

impl NotifyWorker {
    async fn fan_out(&self, notification_id: &str, after: Option<&Position>) -> anyhow::Result<()> {
        let Some(notification) = self.notifications.notification(notification_id).await? else {
            return Ok(());
        };
        let Some(author) = self.accounts.account(&notification.author_id).await? else {
            // The author is gone, and their subscriptions with them.
            return Ok(self.notifications.finish_fan_out(notification_id).await?);
        };
        let side = Side::To(author.id.clone());
        let (edges, next) = self.social.edges(EdgeKind::Subscription, &side, FAN_OUT_PAGE, after).await?;
        let ids: Vec<UserId> = edges.into_iter().map(|e| e.from).collect();
        let now = self.clock.now();
        for subscriber in self.accounts.accounts_by_id(&ids).await? {
            // A suspended subscriber gets nothing while suspended; a pending one cannot exist.
            if !subscriber.can_receive_notifications(now) {
                continue;
            }
            let state = self.notifications.record_delivery(notification_id, &subscriber.id).await?;
            // Queued: new, or recorded by a run that may have died before queuing its email.
            // Sending, sent or failed: its email job exists or did its work.
            if state == DeliveryState::Queued {
                self.jobs.enqueue(&Job::SendNotification(self.email(&notification, &author, &subscriber))).await?;
            }
        }
        match next {
            Some(next) => {
                self.jobs
                    .enqueue(&Job::FanOut { notification_id: notification_id.to_string(), after: Some(next) })
                    .await
            }
            None => Ok(self.notifications.finish_fan_out(notification_id).await?),
        }
    }

    fn email(&self, notification: &Notification, author: &User, subscriber: &User) -> NotificationEmail {
        let profile = &author.profile;
        let author_name =
            profile.nickname.clone().unwrap_or_else(|| format!("{} {}", profile.first_name, profile.last_name));
        let token = unsubscribe_token(&self.keys, &subscriber.id, &author.id);
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

/// The listing name unsubscribe tokens are sealed for: no list cursor opens as one.
const UNSUBSCRIBE: &str = "unsubscribe";

/// A one-click unsubscribe token: this subscriber from this author, sealed with the service's
/// key (the list cursors' HMAC, bound to its own purpose), so it names nobody else.
pub fn unsubscribe_token(keys: &JwtKeys, subscriber: &UserId, author: &UserId) -> String {
    keys.cursor_signer().seal_for(UNSUBSCRIBE, &serde_json::json!({ "subscriber": subscriber.0, "author": author.0 }))
}

/// The subscriber and the author a token names, if this service sealed it.
pub fn open_unsubscribe_token(keys: &JwtKeys, token: &str) -> Option<(UserId, UserId)> {
    let sealed = keys.cursor_signer().open_for(UNSUBSCRIBE, token).ok()?;
    let (subscriber, author) = (sealed["subscriber"].as_str()?, sealed["author"].as_str()?);
    Some((UserId(subscriber.to_string()), UserId(author.to_string())))
}
