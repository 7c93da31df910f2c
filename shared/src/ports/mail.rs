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

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &OutgoingEmail) -> anyhow::Result<()>;
}
