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
}

impl SesMailer {
    pub fn new(client: impl Into<Lazy<aws_sdk_sesv2::Client>>, account_rate: Option<f64>, senders: u32) -> Self {
        Self {
            client: client.into(),
            account_rate,
            senders: senders.max(1),
            interval: tokio::sync::OnceCell::new(),
            next_slot: Mutex::new(None),
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
    async fn send(&self, email: &OutgoingEmail) -> anyhow::Result<()> {
        let raw =
            RawMessage::builder().data(Blob::new(email.to_mime()?)).build().context("building the SES message")?;
        self.pace().await;
        let sent = self
            .client
            .send_email()
            .from_email_address(&email.from)
            .destination(aws_sdk_sesv2::types::Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().raw(raw).build())
            .send()
            .await;
        match sent {
            Ok(output) => {
                tracing::info!(message_id = output.message_id().unwrap_or_default(), "email sent through SES");
                Ok(())
            }
            Err(e) => match failure_of(&e) {
                Some(failure) => Err(anyhow::Error::new(failure)),
                None => Err(anyhow::Error::new(e).context("sending through SES")),
            },
        }
    }
}
