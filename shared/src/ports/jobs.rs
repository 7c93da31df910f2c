use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::TokenKind;
use crate::domain::UserId;

/// Work done after the response, by a worker: locally a background task, on AWS a Lambda fed
/// by the job's own SQS queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Job {
    /// An email whose content is known when it is queued.
    SendEmail(EmailJob),
    /// A confirmation or reset link: the worker finds the account, issues the token and sends
    /// it, so that the route that asks does the same work whether or not the account exists.
    SendLink(LinkRequest),
    /// An uploaded photo to check and turn into the profile photo: queued by the local upload
    /// route, and on AWS made from S3's object-created notification of the upload.
    ProcessPhoto { user_id: UserId, upload_id: String },
    /// A removed photo's files (the photo and its thumbnail).
    DeletePhoto { user_id: UserId, photo_id: String },
    /// Every photo file of a deleted account: its uploads and its photos.
    DeleteAccountPhotos { user_id: UserId },
    /// A deleted account's emailed links, subscriptions and follows (both ways, with their
    /// counts): a page per job, each queuing the next until none remain.
    EraseAccountData { user_id: UserId },
    /// An author's notification to fan out: without a segment, the start (the subscribers
    /// cut into segments, a job each); with one, that segment's subscribers from where it
    /// stands (saved with the notification), one email job each, pages at a time.
    FanOut {
        notification_id: String,
        #[serde(default)]
        segment: Option<super::Segment>,
    },
    /// One subscriber's copy of a notification, sent at most once (its delivery record).
    SendNotification(NotificationEmail),
    /// A login from a device the account had not signed in from: the worker issues the link
    /// that ends that session and emails the owner.
    SignInAlert(SignInAlert),
}

/// What a sign-in alert tells: when, from where, on what, and which session to end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInAlert {
    pub user_id: UserId,
    pub session_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    pub source: Option<String>,
    pub device: Option<String>,
    /// The account's last alert of the day (see `identity::alerts::SIGN_IN_ALERTS_PER_DAY`): it
    /// says that later new devices today are not emailed, and where to look instead.
    #[serde(default)]
    pub last_today: bool,
}

/// The queues. Each job kind names the queue it travels on; each queue feeds one worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Queue {
    /// Transactional emails (links, notices, goodbyes), sent by the email worker ahead of
    /// notifications: a fan-out to a million subscribers never delays a reset link.
    Email,
    /// Subscribers' copies of notifications, sent by the email worker at the pace the mail
    /// service allows.
    Delivery,
    /// Uploaded photos, processed by the photo worker, and photo files to delete.
    Photo,
    /// Notifications to fan out to subscribers, and deleted accounts' edges to erase, by the
    /// notify worker (the social graph's worker).
    Notify,
}

impl Queue {
    pub const ALL: [Queue; 4] = [Queue::Email, Queue::Delivery, Queue::Photo, Queue::Notify];

    /// The queue's name in the local queue and, as `<Name>Queue`, in `template.yaml`.
    pub fn name(self) -> &'static str {
        match self {
            Queue::Email => "email",
            Queue::Delivery => "delivery",
            Queue::Photo => "photo",
            Queue::Notify => "notify",
        }
    }

    /// The worker function this queue feeds (`functions/<worker>`).
    pub fn worker(self) -> &'static str {
        match self {
            Queue::Email | Queue::Delivery => "email-worker",
            Queue::Photo => "photo-worker",
            Queue::Notify => "notify-worker",
        }
    }

    /// The environment variable that gives a function this queue's URL on AWS.
    pub fn url_variable(self) -> &'static str {
        match self {
            Queue::Email => "UMS_EMAIL_QUEUE_URL",
            Queue::Delivery => "UMS_DELIVERY_QUEUE_URL",
            Queue::Photo => "UMS_PHOTO_QUEUE_URL",
            Queue::Notify => "UMS_NOTIFY_QUEUE_URL",
        }
    }
}

impl Job {
    pub fn queue(&self) -> Queue {
        match self {
            Job::SendEmail(_) | Job::SendLink(_) | Job::SignInAlert(_) => Queue::Email,
            Job::SendNotification(_) => Queue::Delivery,
            Job::ProcessPhoto { .. } | Job::DeletePhoto { .. } | Job::DeleteAccountPhotos { .. } => Queue::Photo,
            Job::FanOut { .. } | Job::EraseAccountData { .. } => Queue::Notify,
        }
    }

    /// The job's identity when redoing it must not repeat its effect twice over, derived from
    /// what it does; `None` when every enqueue is a new job. (An email is one job per enqueue:
    /// its envelope id, kept across redeliveries, is what makes it happen at most once.)
    fn natural_id(&self) -> Option<String> {
        match self {
            Job::SendEmail(_) | Job::SendLink(_) => None,
            // Deleting again deletes nothing more.
            Job::DeletePhoto { .. } | Job::DeleteAccountPhotos { .. } | Job::EraseAccountData { .. } => None,
            // One upload is processed once, however many times it is announced.
            Job::ProcessPhoto { upload_id, .. } => Some(format!("photo-{upload_id}")),
            // One subscriber's copy is sent once (and its delivery record says so).
            Job::SendNotification(email) => Some(format!("notify-{}-{}", email.notification_id, email.subscriber_id)),
            // A fan-out's progress is saved with the notification; each step is a new job.
            Job::FanOut { .. } => None,
            // One alert per session, however many times it is queued.
            Job::SignInAlert(alert) => Some(format!("sign-in-alert-{}", alert.session_id)),
        }
    }

    /// True when the job's own records make doing it twice harmless, so the AWS workers keep
    /// no idempotency record for it (two writes saved per job): a subscriber's copy has its
    /// delivery record, a fan-out step moves its segment only from where it found it.
    pub fn is_self_idempotent(&self) -> bool {
        matches!(self, Job::SendNotification(_) | Job::FanOut { .. })
    }
}

/// An email to send, as queued: the template to use and what fills it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailJob {
    pub to: String,
    #[serde(flatten)]
    pub message: EmailMessage,
}

/// The emails, by template. None carries text a user chose: they go to addresses whose
/// owners have not confirmed anything yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "template", rename_all = "snake_case")]
pub enum EmailMessage {
    ConfirmEmail {
        link: String,
    },
    ResetPassword {
        link: String,
    },
    /// To the new address of an email change.
    ConfirmEmailChange {
        link: String,
    },
    /// To the old address of an email change: what the new one is, partly hidden.
    EmailChangeRequested {
        new_email_hint: String,
    },
    /// Goodbye, to the address of a deleted account.
    AccountDeleted,
    /// A login from a new device: when (UTC, in words), from where, on what, and the link
    /// that ends that session.
    /// A second factor added to the account: which kind (never its name: the owner may not be
    /// who chose it), when, from where, on what.
    FactorAdded {
        factor: String,
        at: String,
        source: String,
        device: String,
    },
    /// A provider's account whose address is the account's, to link by the link it carries
    /// (`provider`: the operator's name for the provider, never a user's words).
    LinkProvider {
        link: String,
        provider: String,
    },
    /// A sign-in by email: its code, and its link when the ask named a front end to finish at.
    SignInCode {
        code: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        link: Option<String>,
    },
    /// A code proving the signed-in account is its owner's (step-up, an email change, a
    /// deletion).
    AccountCode {
        code: String,
    },
    SignInAlert {
        link: String,
        at: String,
        source: String,
        device: String,
        /// The day's last alert for the account: it says no more come today.
        #[serde(default)]
        last_today: bool,
    },
}

/// One subscriber's copy of an author's notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationEmail {
    pub to: String,
    pub notification_id: String,
    pub subscriber_id: UserId,
    /// How the author signs: their nickname, or first and last name.
    pub author_name: String,
    pub subject: String,
    pub message: Option<String>,
    pub article_url: Option<String>,
    /// Signed for this subscriber and this author: works with no session (RFC 8058).
    pub unsubscribe_url: String,
}

/// A link to send to an address, if the account it names (by id, or else by address) is in a
/// state to receive one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRequest {
    pub kind: TokenKind,
    /// The canonical address.
    pub email: String,
    /// The registration a confirmation link is for; `None` for a link asked for by address.
    #[serde(default)]
    pub user_id: Option<UserId>,
}

/// A job as it travels through a queue: the id makes redeliveries recognisable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: String,
    pub job: Job,
}

impl Envelope {
    pub fn new(job: Job) -> Self {
        let id = job.natural_id().unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        Self { id, job }
    }
}

/// Puts jobs on the queue their kind names.
#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn enqueue(&self, job: &Job) -> anyhow::Result<()>;

    /// Queues many jobs (on SQS in batches); all are queued or an error is returned (some may
    /// be queued then: a job is safe to queue twice).
    async fn enqueue_all(&self, jobs: &[Job]) -> anyhow::Result<()> {
        for job in jobs {
            self.enqueue(job).await?;
        }
        Ok(())
    }
}
