//! The local mailer: each email becomes an `.eml` file in the outbox folder.

use std::path::PathBuf;

use anyhow::Context;
use async_trait::async_trait;

use crate::ports::{Mailer, OutgoingEmail};

pub struct OutboxMailer {
    dir: PathBuf,
}

impl OutboxMailer {
    pub fn new(dir: PathBuf) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self { dir })
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, email: &OutgoingEmail) -> anyhow::Result<()> {
        let mime = email.to_mime()?;
        // Time-ordered names, so `ls` lists the outbox oldest first.
        let path = self.dir.join(format!("{}.eml", uuid::Uuid::now_v7()));
        tokio::fs::write(&path, mime).await.with_context(|| format!("writing {}", path.display()))?;
        // A laptop-only convenience, and the one log line allowed to carry a token: the
        // outbox target exists only on the embedded path.
        match &email.action_link {
            Some(link) => {
                tracing::info!(target: "outbox", to = %email.to, file = %path.display(), %link, "email written to the outbox")
            }
            None => {
                tracing::info!(target: "outbox", to = %email.to, file = %path.display(), "email written to the outbox")
            }
        }
        Ok(())
    }
}
