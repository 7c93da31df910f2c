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
    /// An author's notification to fan out: one email job per subscriber, a page of
    /// subscribers per job (`after`: where the page before ended).
    FanOut { notification_id: String, after: Option<super::Position> },
    /// One subscriber's copy of a notification, sent at most once (its delivery record).
    SendNotification(NotificationEmail),
}

/// The queues, one per worker function. Each job kind names the queue it travels on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Queue {
    /// Transactional emails, sent by the email worker.
    Email,
    /// Uploaded photos, processed by the photo worker, and photo files to delete.
    Photo,
    /// Notifications to fan out to subscribers, and deleted accounts' edges to erase, by the
    /// notify worker (the social graph's worker).
    Notify,
}

impl Queue {
    pub const ALL: [Queue; 3] = [Queue::Email, Queue::Photo, Queue::Notify];

    /// The queue's name in the local queue and, as `<Name>Queue`, in `template.yaml`.
    pub fn name(self) -> &'static str {
        match self {
            Queue::Email => "email",
            Queue::Photo => "photo",
            Queue::Notify => "notify",
        }
    }

    /// The environment variable that gives a function this queue's URL on AWS.
    pub fn url_variable(self) -> &'static str {
        match self {
            Queue::Email => "UMS_EMAIL_QUEUE_URL",
            Queue::Photo => "UMS_PHOTO_QUEUE_URL",
            Queue::Notify => "UMS_NOTIFY_QUEUE_URL",
        }
    }
}

impl Job {
    pub fn queue(&self) -> Queue {
        match self {
            Job::SendEmail(_) | Job::SendLink(_) | Job::SendNotification(_) => Queue::Email,
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
            // A page of a fan-out, and one subscriber's copy, are each done once.
            Job::FanOut { notification_id, after } => Some(format!("fanout-{notification_id}-{}", page_key(after))),
            Job::SendNotification(email) => Some(format!("notify-{}-{}", email.notification_id, email.subscriber_id)),
        }
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

/// A short stable name for where a fan-out page starts.
fn page_key(after: &Option<super::Position>) -> String {
    use sha2::{Digest as _, Sha256};
    match after {
        None => "first".to_string(),
        Some(position) => {
            let digest = Sha256::digest(position.to_string().as_bytes());
            digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
        }
    }
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
}
