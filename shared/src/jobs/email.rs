//! The email worker: sends queued emails, issues and sends the confirmation and reset links
//! that routes ask for by address, and sends subscribers' copies of notifications (the
//! delivery queue). A send the mail service throttles is backed off, not failed ([`Backoff`]),
//! and so are subscribers' copies while the day's quota is kept for transactional email;
//! one it refuses is given up on at once and counted (`EmailsGivenUp`, which the template
//! alarms on).

use std::{collections::BTreeMap, sync::Arc};

use anyhow::Context;
use async_trait::async_trait;
use futures_util::future::join_all;

use super::{Backoff, Worker, count_metric};
use crate::{
    accounts::{AccountError, Lifecycle},
    clock::Clock,
    config::{CONFIRMATION_TOKEN_TTL, Config, RESET_TOKEN_TTL},
    credentials::tokens::{hash_token, random_token, with_token},
    domain::{AccountStatus, User},
    ports::{
        AccountStore, DeliveryClaim, EmailJob, EmailMessage, Finished, Job, LinkRequest, Mailer, NotificationEmail,
        NotificationStore, OneTimeToken, SendFailure, SessionStore, SignInAlert, TokenKind, TokenStore,
    },
};

#[derive(Clone)]
pub struct EmailWorker {
    pub mailer: Arc<dyn Mailer>,
    pub links: LinkIssuer,
    /// Where each subscriber's copy of a notification is recorded as sent.
    pub deliveries: Arc<dyn NotificationStore>,
}

/// How long a claimed delivery is held before a redelivery may take it over: longer than a
/// send takes, as long as the worker function's timeout.
pub const DELIVERY_LEASE: time::Duration = time::Duration::seconds(30);
/// Sends tried before a delivery is given up on (and counted as failed).
pub const DELIVERY_ATTEMPTS: u32 = 3;

#[async_trait]
impl Worker for EmailWorker {
    async fn handle(&self, job: &Job) -> anyhow::Result<()> {
        self.handle_batch(std::slice::from_ref(job)).await.pop().unwrap_or(Ok(()))
    }

    /// Sends a batch's emails at once (the mailer paces them); the subscribers' copies of one
    /// notification are marked sent together, in one write.
    async fn handle_batch(&self, jobs: &[Job]) -> Vec<anyhow::Result<()>> {
        let outcomes = join_all(jobs.iter().map(|job| self.send(job))).await;
        let mut finished: BTreeMap<&str, Vec<Finished>> = BTreeMap::new();
        for (job, outcome) in jobs.iter().zip(&outcomes) {
            if let (Job::SendNotification(email), Ok(Sent::Delivery(sent))) = (job, outcome) {
                let done = Finished { subscriber: email.subscriber_id.clone(), sent: *sent };
                finished.entry(email.notification_id.as_str()).or_default().push(done);
            }
        }
        let mut unrecorded = Vec::new();
        for (id, finished) in finished {
            if let Err(e) = self.deliveries.finish_deliveries(id, &finished).await {
                // Left `sending`: when their lease ends they are given up on (never sent twice).
                tracing::error!(notification = %id, error = %format!("{e:#}"), "deliveries not recorded");
                unrecorded.push(id);
            }
        }
        jobs.iter()
            .zip(outcomes)
            .map(|(job, outcome)| match (job, outcome) {
                (Job::SendNotification(email), Ok(_)) if unrecorded.contains(&email.notification_id.as_str()) => {
                    Err(anyhow::anyhow!("the delivery's outcome was not recorded"))
                }
                (_, outcome) => outcome.map(drop),
            })
            .collect()
    }
}

/// What sending one job came to.
enum Sent {
    /// A transactional email left, or there was nothing to send.
    Done,
    /// A subscriber's copy was sent (`true`) or given up on (`false`), to record.
    Delivery(bool),
}

impl EmailWorker {
    async fn send(&self, job: &Job) -> anyhow::Result<Sent> {
        let email = match job {
            Job::SendEmail(email) => email.clone(),
            Job::SendLink(request) => match self.links.issue(request).await? {
                Some(email) => email,
                None => return Ok(Sent::Done),
            },
            Job::SendNotification(email) => return self.send_notification(email).await,
            Job::SignInAlert(alert) => match self.links.sign_in_alert(alert).await? {
                Some(email) => email,
                None => return Ok(Sent::Done),
            },
            Job::ProcessPhoto { .. }
            | Job::DeletePhoto { .. }
            | Job::DeleteAccountPhotos { .. }
            | Job::FanOut { .. }
            | Job::EraseAccountData { .. } => {
                anyhow::bail!("a job of another queue reached the email worker")
            }
        };
        let rendered = email.render(&self.links.config.email_from).context("rendering the email")?;
        match self.mailer.send(&rendered).await {
            Ok(()) => Ok(Sent::Done),
            Err(e) => Err(match SendFailure::of(&e) {
                Some(SendFailure::Throttled(why)) => anyhow::Error::new(Backoff::new(why.clone())),
                Some(SendFailure::Refused(why)) => {
                    // Trying again cannot help: visible at once (the dead-letter queue's alarm
                    // would take five tries to say it).
                    tracing::error!(error = %why, "a transactional email was refused for good");
                    count_metric("EmailsGivenUp", 1);
                    return Ok(Sent::Done);
                }
                None => e.context("sending the email"),
            }),
        }
    }

    /// Sends one subscriber's copy unless it was sent (or given up on) before: the delivery
    /// record is claimed first and marked after (by the batch), so a redelivered job sends
    /// nothing twice. A send that failed is given back and tried again (up to
    /// `DELIVERY_ATTEMPTS`; a throttled one does not count); one refused for good is given up
    /// on at once; one whose sender vanished mid-send is not sent again, since it may have
    /// left: at most one email each.
    async fn send_notification(&self, email: &NotificationEmail) -> anyhow::Result<Sent> {
        let (id, subscriber) = (&email.notification_id, &email.subscriber_id);
        let rendered = email.render(&self.links.config.email_from);
        if rendered.is_ok()
            && let Some(wait) = self.mailer.notifications_held().await
        {
            // Not claimed, not failed: it goes when the day's quota has room again.
            count_metric("NotificationsHeldForQuota", 1);
            let why = "the day's sending quota is down to what transactional email keeps";
            return Err(anyhow::Error::new(Backoff::held_for(why, wait)));
        }
        let now = self.links.clock.now();
        let attempt = match self.deliveries.claim_delivery(id, subscriber, now, DELIVERY_LEASE).await? {
            DeliveryClaim::Acquired { attempt } => attempt,
            DeliveryClaim::Done => return Ok(Sent::Done),
            DeliveryClaim::Busy => anyhow::bail!("delivery {id}/{subscriber} is being sent by another job"),
            DeliveryClaim::Abandoned => {
                tracing::warn!(notification = %id, subscriber = %subscriber, "a sender vanished mid-send; not sent again");
                count_metric("EmailsGivenUp", 1);
                return Ok(Sent::Delivery(false));
            }
        };
        let sent = match rendered {
            Ok(rendered) => self.mailer.send(&rendered).await,
            Err(e) => Err(e),
        };
        let Err(e) = sent else {
            return Ok(Sent::Delivery(true));
        };
        let give_up = match SendFailure::of(&e) {
            Some(SendFailure::Throttled(why)) => {
                self.deliveries.release_delivery(id, subscriber, false).await?;
                return Err(anyhow::Error::new(Backoff::new(why.clone())));
            }
            Some(SendFailure::Refused(_)) => true,
            None => attempt >= DELIVERY_ATTEMPTS,
        };
        if give_up {
            tracing::warn!(notification = %id, subscriber = %subscriber, error = %format!("{e:#}"), "delivery given up");
            count_metric("EmailsGivenUp", 1);
            return Ok(Sent::Delivery(false));
        }
        self.deliveries.release_delivery(id, subscriber, true).await?;
        Err(e.context("sending a notification"))
    }
}

/// What issuing a link takes: the accounts, the tokens, the time, the URLs.
#[derive(Clone)]
pub struct LinkIssuer {
    pub accounts: Arc<dyn AccountStore>,
    /// Only for the lifecycle's shape: a reset request changes no role, status or password,
    /// so it never ends a session.
    pub sessions: Arc<dyn SessionStore>,
    pub tokens: Arc<dyn TokenStore>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
}

impl LinkIssuer {
    /// The email carrying a fresh link, or `None` when the address has no account in a state
    /// to receive one (which the route that asked never tells).
    pub async fn issue(&self, request: &LinkRequest) -> anyhow::Result<Option<EmailJob>> {
        let now = self.clock.now();
        let user = match &request.user_id {
            Some(id) => self.accounts.account(id).await?,
            None => self.accounts.account_by_email(&request.email).await?,
        };
        let ttl = self.config.limits.pending_account_ttl;
        let Some(user) = user.filter(|u| u.email.key() == request.email && !u.is_expired_pending(now, ttl)) else {
            return Ok(None);
        };
        let (user, ttl, confirmation) = match request.kind {
            // Email-change links are made by the route that records the change, never asked for.
            // Neither are login challenges.
            TokenKind::EmailChange
            | TokenKind::LoginChallenge
            | TokenKind::PasskeyRegistration
            | TokenKind::PasskeySignIn
            | TokenKind::PasskeyStepUp
            | TokenKind::EndSession
            | TokenKind::ProviderSignIn
            | TokenKind::ProviderResult
            | TokenKind::ProviderLink
            | TokenKind::ProviderLinkIntent
            | TokenKind::ProviderLinkByEmail
            | TokenKind::EmailSignIn
            | TokenKind::EmailSignInResult
            | TokenKind::AccountCode => return Ok(None),
            TokenKind::EmailConfirmation if user.status != AccountStatus::Pending => return Ok(None),
            TokenKind::EmailConfirmation => (user, CONFIRMATION_TOKEN_TTL, true),
            // Each reset request makes the links sent before it unusable.
            TokenKind::PasswordReset => match self.next_reset_generation(user).await? {
                Some(user) => (user, RESET_TOKEN_TTL, false),
                None => return Ok(None),
            },
        };
        let token = random_token();
        self.tokens
            .put_token(&OneTimeToken {
                hash: hash_token(&token),
                kind: request.kind,
                user_id: user.id.clone(),
                email_key: user.email.key(),
                expires_at: now + ttl,
                credential_version: user.credential_version,
                reset_generation: user.reset_generation,
                payload: None,
            })
            .await?;
        let message = if confirmation {
            EmailMessage::ConfirmEmail { link: with_token(&self.config.confirm_email_url, &token) }
        } else {
            EmailMessage::ResetPassword { link: with_token(&self.config.password_reset_url, &token) }
        };
        Ok(Some(EmailJob { to: user.email.to_string(), message }))
    }

    /// A sign-in alert with a fresh link that ends the session it is about; `None` if the
    /// account is gone or the session ended already (nothing to alert about).
    pub async fn sign_in_alert(&self, alert: &SignInAlert) -> anyhow::Result<Option<EmailJob>> {
        let Some(user) = self.accounts.account(&alert.user_id).await? else { return Ok(None) };
        if self.sessions.session(&user.id, &alert.session_id).await?.is_none() {
            return Ok(None);
        }
        let token = random_token();
        self.tokens
            .put_token(&OneTimeToken {
                hash: hash_token(&token),
                kind: TokenKind::EndSession,
                user_id: user.id.clone(),
                email_key: user.email.key(),
                expires_at: self.clock.now() + crate::identity::alerts::END_SESSION_LINK_TTL,
                credential_version: user.credential_version,
                reset_generation: user.reset_generation,
                payload: Some(alert.session_id.clone()),
            })
            .await?;
        let at = alert.at.format(&time::macros::format_description!(
            "[weekday repr:long] [day padding:none] [month repr:long] [year] at [hour]:[minute] UTC"
        ))?;
        let message = EmailMessage::SignInAlert {
            link: with_token(&format!("{}/end-session", self.config.public_url), &token),
            at,
            source: alert.source.clone().unwrap_or_else(|| "an unknown address".into()),
            device: alert.device.clone().unwrap_or_else(|| "an unknown device".into()),
            last_today: alert.last_today,
        };
        Ok(Some(EmailJob { to: user.email.to_string(), message }))
    }

    /// The account with its reset generation moved on, through the account lifecycle; `None`
    /// if the account is gone.
    async fn next_reset_generation(&self, user: User) -> anyhow::Result<Option<User>> {
        let lifecycle = Lifecycle {
            accounts: self.accounts.as_ref(),
            sessions: self.sessions.as_ref(),
            clock: self.clock.as_ref(),
        };
        match lifecycle.next_reset_generation(&user.id).await {
            Ok(user) => Ok(Some(user)),
            Err(AccountError::NotFound) => Ok(None),
            Err(e) => Err(anyhow::anyhow!("issuing a reset link: {e}")),
        }
    }
}
