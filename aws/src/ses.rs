//! Email on AWS: SES v2, sent as the same MIME message the local outbox writes.

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_sesv2::{
    primitives::Blob,
    types::{EmailContent, RawMessage},
};
use shared::ports::{Mailer, OutgoingEmail};

use crate::Lazy;

pub struct SesMailer {
    client: Lazy<aws_sdk_sesv2::Client>,
}

impl SesMailer {
    pub fn new(client: impl Into<Lazy<aws_sdk_sesv2::Client>>) -> Self {
        Self { client: client.into() }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &OutgoingEmail) -> anyhow::Result<()> {
        let raw =
            RawMessage::builder().data(Blob::new(email.to_mime()?)).build().context("building the SES message")?;
        let output = self
            .client
            .send_email()
            .from_email_address(&email.from)
            .destination(aws_sdk_sesv2::types::Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().raw(raw).build())
            .send()
            .await
            .context("sending through SES")?;
        tracing::info!(message_id = output.message_id().unwrap_or_default(), "email sent through SES");
        Ok(())
    }
}
