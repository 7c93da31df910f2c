//! The email worker: renders a queued email and hands it to the mail service.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::Worker;
use crate::ports::{Job, Mailer};

#[derive(Clone)]
pub struct EmailWorker {
    pub mailer: Arc<dyn Mailer>,
    pub email_from: String,
}

#[async_trait]
impl Worker for EmailWorker {
    async fn handle(&self, job: &Job) -> anyhow::Result<()> {
        let Job::SendEmail(email) = job;
        let rendered = email.render(&self.email_from).context("rendering the email")?;
        self.mailer.send(&rendered).await.context("sending the email")
    }
}
