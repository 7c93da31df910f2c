//! Email on AWS: SES v2, sent as the same MIME message the local outbox writes, at the pace
//! the account allows.
//!
//! Each instance of the email worker sends at most its share of the account's rate: the
//! account's maximum send rate (SES `GetAccount`, read once per instance, or
//! `UMS_SES_SEND_RATE`) divided by `UMS_SES_SENDERS`, the instances that may send at once (the
//! template's concurrency of the worker's queues). Sends beyond it wait their turn, so a batch
//! goes out concurrently up to the rate and never faster. What SES answers is told apart: a
//! throttle ([`SendFailure::Throttled`]: try later, no attempt spent), a refusal
//! ([`SendFailure::Refused`]: never worth trying again), or anything else (transient).
//!
//! The account's 24-hour quota is paced too: `GetAccount`'s `Max24HourSend` and
//! `SentLast24Hours`, read again every minute (and counted forward with this instance's sends
//! between reads). When what is left of the day's quota comes down to the share kept for
//! transactional email ([`TRANSACTIONAL_RESERVE`]), subscribers' copies of notifications are
//! held (`Mailer::notifications_held`: hidden on their queue for an hour, not failed), so links,
//! codes and alerts keep going out; SES's window rolls, and the held copies go when it frees.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_sesv2::{
    error::{ProvideErrorMetadata, SdkError},
    operation::send_email::SendEmailError,
    primitives::Blob,
    types::{EmailContent, RawMessage},
};
use shared::ports::{Mailer, OutgoingEmail, SendFailure};

use crate::Lazy;

/// The rate assumed when the account's cannot be read: SES's sandbox rate, one a second.
const FALLBACK_RATE: f64 = 1.0;

/// The share of the 24-hour quota that notifications leave to transactional email.
pub const TRANSACTIONAL_RESERVE: f64 = 0.05;
/// How long a notification's copy waits when the quota is kept (SQS hides it that long; a day
/// of holds is 24 of the delivery queue's receives).
pub const QUOTA_HOLD: Duration = Duration::from_secs(3600);
/// How often the quota is read again, at most.
const QUOTA_READ_EVERY: Duration = Duration::from_secs(60);

/// The account's 24-hour quota as last read, and what this instance sent since.
#[derive(Clone, Copy, Debug)]
struct QuotaReading {
    read_at: Instant,
    max_24_hour_send: f64,
    sent_last_24_hours: f64,
    sent_since: f64,
}

pub struct SesMailer {
    client: Lazy<aws_sdk_sesv2::Client>,
    /// Emails a second for the whole account, if set (`UMS_SES_SEND_RATE`); else read from SES.
    account_rate: Option<f64>,
    /// Instances sharing the account's rate (`UMS_SES_SENDERS`).
    senders: u32,
    /// This instance's share, once known.
    interval: tokio::sync::OnceCell<Duration>,
    /// When the next send may start.
    next_slot: Mutex<Option<Instant>>,
    /// The day's quota, once read.
    quota: Mutex<Option<QuotaReading>>,
    /// Notifications' copies that took a place in the quota and are being sent (SES counts them
    /// once sent; a reading meanwhile does not know them).
    copies_in_flight: std::sync::atomic::AtomicU32,
    /// How long notifications wait when the quota is kept ([`QUOTA_HOLD`]).
    hold: Duration,
}

impl SesMailer {
    pub fn new(client: impl Into<Lazy<aws_sdk_sesv2::Client>>, account_rate: Option<f64>, senders: u32) -> Self {
        Self {
            client: client.into(),
            account_rate,
            senders: senders.max(1),
            interval: tokio::sync::OnceCell::new(),
            next_slot: Mutex::new(None),
            quota: Mutex::new(None),
            copies_in_flight: Default::default(),
            hold: QUOTA_HOLD,
        }
    }

    /// Notifications held for `hold` when the quota is kept (`UMS_SES_QUOTA_HOLD_SECS`), the
    /// quota read again as often (at most every minute).
    pub fn holding_notifications_for(mut self, hold: Duration) -> Self {
        self.hold = hold.max(Duration::from_secs(1));
        self
    }

    /// The quota as of now: read again when the last reading is older than a minute (or the
    /// hold, if shorter). A failed read is logged and holds nothing until the next one (an
    /// account whose quota cannot be read sends as before there were quotas).
    async fn quota(&self) -> QuotaReading {
        let fresh_for = QUOTA_READ_EVERY.min(self.hold);
        let last = *self.quota.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(reading) = last.filter(|r| r.read_at.elapsed() < fresh_for) {
            return reading;
        }
        let quota = match self.client.get_account().send().await {
            Ok(account) => account.send_quota.map(|q| (q.max24_hour_send, q.sent_last24_hours)),
            Err(e) => {
                tracing::warn!(error = %aws_sdk_sesv2::error::DisplayErrorContext(&e), "SES GetAccount failed; no daily quota until the next reading");
                None
            }
        };
        let (max_24_hour_send, sent_last_24_hours) = quota.unwrap_or((0.0, 0.0));
        let reading = QuotaReading { read_at: Instant::now(), max_24_hour_send, sent_last_24_hours, sent_since: 0.0 };
        *self.quota.lock().unwrap_or_else(|e| e.into_inner()) = Some(reading);
        reading
    }

    fn count_sent(&self) {
        if let Some(reading) = self.quota.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            reading.sent_since += 1.0;
        }
    }

    /// The time between two sends of this instance.
    async fn interval(&self) -> Duration {
        *self
            .interval
            .get_or_init(|| async {
                let rate = match self.account_rate {
                    Some(rate) => rate,
                    None => self.read_account_rate().await,
                };
                let share = (rate / self.senders as f64).max(0.01);
                tracing::info!(account_rate = rate, senders = self.senders, share, "sending emails at this pace");
                Duration::from_secs_f64(1.0 / share)
            })
            .await
    }

    async fn read_account_rate(&self) -> f64 {
        match self.client.get_account().send().await {
            Ok(account) => account.send_quota.map(|q| q.max_send_rate).filter(|r| *r > 0.0).unwrap_or(FALLBACK_RATE),
            Err(e) => {
                tracing::warn!(error = %aws_sdk_sesv2::error::DisplayErrorContext(&e), "SES GetAccount failed; sending at one email a second");
                FALLBACK_RATE
            }
        }
    }

    /// Waits for this send's turn.
    async fn pace(&self) {
        let interval = self.interval().await;
        let slot = {
            let mut next = self.next_slot.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let slot = next.filter(|at| *at > now).unwrap_or(now);
            *next = Some(slot + interval);
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

/// What an SES refusal means for the email.
fn failure_of(error: &SdkError<SendEmailError, aws_smithy_runtime_api::http::Response>) -> Option<SendFailure> {
    let described = aws_sdk_sesv2::error::DisplayErrorContext(error).to_string();
    match error.as_service_error()? {
        // A rate or the daily quota: later, it will go.
        SendEmailError::TooManyRequestsException(_) | SendEmailError::LimitExceededException(_) => {
            Some(SendFailure::Throttled(described))
        }
        SendEmailError::MessageRejected(_)
        | SendEmailError::MailFromDomainNotVerifiedException(_)
        | SendEmailError::AccountSuspendedException(_)
        | SendEmailError::SendingPausedException(_)
        | SendEmailError::NotFoundException(_)
        | SendEmailError::BadRequestException(_) => Some(SendFailure::Refused(described)),
        other if other.code() == Some("ThrottlingException") => Some(SendFailure::Throttled(described)),
        _ => None,
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn notifications_held(&self) -> Option<Duration> {
        self.quota().await;
        let mut reading = self.quota.lock().unwrap_or_else(|e| e.into_inner());
        let quota = reading.as_mut()?;
        // A quota of zero or less: none set (SES always sets one; a stand-in may not).
        if quota.max_24_hour_send <= 0.0 {
            return None;
        }
        let in_flight = self.copies_in_flight.load(std::sync::atomic::Ordering::SeqCst) as f64;
        let left = quota.max_24_hour_send - quota.sent_last_24_hours - quota.sent_since - in_flight;
        if left <= quota.max_24_hour_send * TRANSACTIONAL_RESERVE {
            return Some(self.hold);
        }
        // Its place is taken now, until it is sent (or not).
        self.copies_in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        None
    }

    async fn send(&self, email: &OutgoingEmail) -> anyhow::Result<()> {
        let raw =
            RawMessage::builder().data(Blob::new(email.to_mime()?)).build().context("building the SES message")?;
        self.pace().await;
        let copy = email.list_unsubscribe.is_some();
        let sent = self
            .client
            .send_email()
            .from_email_address(&email.from)
            .destination(aws_sdk_sesv2::types::Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().raw(raw).build())
            .send()
            .await;
        if copy {
            // It asked `notifications_held` first, which took its place.
            let _ = self.copies_in_flight.fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            );
        }
        match sent {
            Ok(output) => {
                tracing::info!(message_id = output.message_id().unwrap_or_default(), "email sent through SES");
                self.count_sent();
                Ok(())
            }
            Err(e) => match failure_of(&e) {
                Some(failure) => Err(anyhow::Error::new(failure)),
                None => Err(anyhow::Error::new(e).context("sending through SES")),
            },
        }
    }
}
