//! Workers: plain async functions from a job to a result, one per queue. On AWS each is its
//! own SQS-triggered Lambda (`functions/<name>-worker`); locally one background task drains
//! the durable queue (`adapters::local::queue`) and hands each job to the worker of its queue.

mod email;
mod notify;
mod photo;

use async_trait::async_trait;

pub use email::{DELIVERY_ATTEMPTS, DELIVERY_LEASE, EmailWorker, LinkIssuer};
pub use notify::{FAN_OUT_PAGE, NotifyWorker, open_unsubscribe_token, unsubscribe_token};
pub use photo::PhotoWorker;

use crate::ports::{Job, Queue};

/// Does one job. An error means "retry later"; the queue decides when to give up.
#[async_trait]
pub trait Worker: Send + Sync {
    async fn handle(&self, job: &Job) -> anyhow::Result<()>;
}

/// Every worker, each behind its queue: what the local server runs in-process.
pub struct Workers {
    pub email: EmailWorker,
    pub photo: PhotoWorker,
    pub notify: NotifyWorker,
}

#[async_trait]
impl Worker for Workers {
    async fn handle(&self, job: &Job) -> anyhow::Result<()> {
        match job.queue() {
            Queue::Email => self.email.handle(job).await,
            Queue::Photo => self.photo.handle(job).await,
            Queue::Notify => self.notify.handle(job).await,
        }
    }
}
