use async_trait::async_trait;

/// A rendered email, ready to hand to a mail service.
#[derive(Clone, Debug)]
pub struct OutgoingEmail {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The link the email asks its reader to open; the local outbox logs it as a convenience.
    pub action_link: Option<String>,
    /// A mailing-list email's one-click unsubscribe URL (RFC 8058 headers).
    pub list_unsubscribe: Option<String>,
}

/// Why a mail service did not take an email, when it says: a sender tells a throttle (try
/// later, at no cost to the email's attempts) from a refusal (trying again cannot help) by
/// finding this in the error (`anyhow::Error::downcast_ref`). Any other error is transient.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendFailure {
    /// The service asks for fewer emails per second (or per day): send this one later.
    #[error("the mail service is throttling sends: {0}")]
    Throttled(String),
    /// The service will not send this email (a rejected message or address, a sender it does
    /// not accept, a paused account): counted as failed at once.
    #[error("the mail service refused the email: {0}")]
    Refused(String),
}

impl SendFailure {
    /// The failure an error carries, if it carries one.
    pub fn of(error: &anyhow::Error) -> Option<&SendFailure> {
        error.downcast_ref::<SendFailure>()
    }
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &OutgoingEmail) -> anyhow::Result<()>;

    /// Asked before a subscriber's copy of a notification is sent: how long it waits before it
    /// is tried again when the mail service's quota for the day is down to what transactional
    /// email keeps, or none, and its place in the quota is taken (a batch's copies ask at once,
    /// each sees the others'). A mail service without a daily quota holds nothing.
    async fn notifications_held(&self) -> Option<std::time::Duration> {
        None
    }
}
