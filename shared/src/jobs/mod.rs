//! Workers: plain async functions from a job to a result, one per queue. On AWS each is its
//! own SQS-triggered Lambda (`functions/<name>-worker`); locally one background task drains
//! the durable queue (`adapters::local::queue`) and hands each job to the worker of its queue.

mod email;
mod fan_out;
mod photo;

use std::time::Duration;

use async_trait::async_trait;

pub use email::{DELIVERY_ATTEMPTS, DELIVERY_LEASE, EmailWorker, LinkIssuer};
pub use fan_out::{FAN_OUT_PAGE, NotifyWorker, open_unsubscribe_token, plan_segments, unsubscribe_token};
pub use photo::PhotoWorker;

use crate::ports::{Job, Queue};

/// Does jobs. An error means "retry later"; the queue decides when to give up.
#[async_trait]
pub trait Worker: Send + Sync {
    async fn handle(&self, job: &Job) -> anyhow::Result<()>;

    /// Does a batch of jobs (an SQS batch), each with its own result, in order; by default
    /// one after another.
    async fn handle_batch(&self, jobs: &[Job]) -> Vec<anyhow::Result<()>> {
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs {
            results.push(self.handle(job).await);
        }
        results
    }

    /// The queue gives up on the job (it failed its last attempt): record what that means.
    async fn give_up(&self, _job: &Job) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The error of a job to do again later that did not fail: the mail service asked us to slow
/// down, or the day's sending quota is kept for transactional email. The queue hides it (for
/// `wait` when the cause knows how long, else for [`backoff_delay`]) and counts no failed
/// attempt for it.
#[derive(Debug, thiserror::Error)]
#[error("asked to slow down: {why}")]
pub struct Backoff {
    pub why: String,
    pub wait: Option<Duration>,
}

impl Backoff {
    /// Backed off for a while that grows with each time.
    pub fn new(why: impl Into<String>) -> Self {
        Self { why: why.into(), wait: None }
    }

    /// Held for `wait`.
    pub fn held_for(why: impl Into<String>, wait: Duration) -> Self {
        Self { why: why.into(), wait: Some(wait) }
    }

    pub fn of(error: &anyhow::Error) -> Option<&Backoff> {
        error.downcast_ref::<Backoff>()
    }

    /// How long to hide the job the `times`-th time it backs off.
    pub fn delay(&self, times: u32) -> Duration {
        self.wait.unwrap_or_else(|| backoff_delay(times))
    }
}

/// How long a job backed off for the `times`-th time waits: about 2 s doubling to 5 minutes,
/// each wait a random 50 to 100% of that, so throttled jobs do not come back together.
pub fn backoff_delay(times: u32) -> Duration {
    let ceiling = 2u64.saturating_pow(times.clamp(1, 9)).min(300);
    let millis = ceiling * 1000;
    Duration::from_millis(rand::Rng::gen_range(&mut rand::thread_rng(), millis / 2..=millis))
}

pub use crate::metrics::count_metric;

/// Every worker, each behind its queue: what the local server runs in-process.
pub struct Workers {
    pub email: EmailWorker,
    pub photo: PhotoWorker,
    pub notify: NotifyWorker,
}

impl Workers {
    fn of(&self, job: &Job) -> &dyn Worker {
        match job.queue() {
            Queue::Email | Queue::Delivery => &self.email,
            Queue::Photo => &self.photo,
            Queue::Notify => &self.notify,
        }
    }
}

#[async_trait]
impl Worker for Workers {
    async fn handle(&self, job: &Job) -> anyhow::Result<()> {
        self.of(job).handle(job).await
    }

    async fn give_up(&self, job: &Job) -> anyhow::Result<()> {
        self.of(job).give_up(job).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_grows_to_five_minutes_with_jitter() {
        for times in 1..20 {
            let delay = super::backoff_delay(times).as_secs_f64();
            let ceiling = 2f64.powi(times.min(9) as i32).min(300.0);
            assert!(delay >= ceiling / 2.0 && delay <= ceiling, "{times}: {delay}");
        }
    }
}
