//! What each function is made of: its route group's state or its worker, from the AWS adapters,
//! building only the clients it uses. The group states themselves are assembled by
//! `shared::wiring`, as the laptop's are.

use std::{collections::BTreeMap, sync::Arc};

use anyhow::{Context, bail};
use aws_types::SdkConfig;
use shared::{
    Config,
    auth::AuthState,
    clock::SystemClock,
    console::ConsoleState,
    credentials::{JwtKeys, PasswordHasher, keyset::KeySet},
    federation::Federation,
    jobs::{EmailWorker, LinkIssuer, NotifyWorker, PhotoWorker},
    moderation::ModerationState,
    ports::Queue,
    providers::ProvidersState,
    social::SocialState,
    users::UsersState,
    wiring::Ports,
};

use super::{
    AwsSettings, JwtKeySource, KeySetParameter, SignInProvidersParameter, dynamo_client, lazy_client, read_signing_key,
    sdk_config, ses_client,
};
use crate::{DynamoStore, Lazy, S3Photos, S3UploadForms, SesMailer, SqsJobs, worker::Redelivery};

/// What a cold start knows about AWS; each group's state is built from it with only the
/// clients that group uses.
pub struct Aws {
    pub sdk: SdkConfig,
    pub settings: AwsSettings,
    pub config: Config,
    pub dynamo: Lazy<aws_sdk_dynamodb::Client>,
}

impl Aws {
    /// A function's view, from the environment Lambda gives it.
    pub async fn from_env() -> anyhow::Result<Self> {
        Self::from_sdk(sdk_config()?)
    }

    pub fn from_sdk(sdk: SdkConfig) -> anyhow::Result<Self> {
        let dynamo = lazy_client(&sdk, |sdk| dynamo_client(sdk, None));
        Ok(Self { settings: AwsSettings::from_env()?, config: Config::from_env()?, sdk, dynamo })
    }

    fn store(&self) -> Arc<DynamoStore> {
        Arc::new(DynamoStore::new(self.dynamo.clone(), &self.settings.table))
    }

    /// The key set, from the environment (given whole) or SSM (read again every
    /// `UMS_JWT_KEYS_RELOAD_SECS`, to see a rotation). A Lambda never generates its own.
    async fn keys(&self) -> anyhow::Result<Arc<JwtKeys>> {
        let keys = match &self.settings.jwt_key {
            Some(JwtKeySource::Pem(text)) => JwtKeys::fixed(text, &self.config.jwt)?,
            Some(JwtKeySource::SsmParameter(name)) => {
                let set = KeySet::parse(&read_signing_key(&self.sdk, name).await?)?;
                let parameter = KeySetParameter { client: aws_sdk_ssm::Client::new(&self.sdk), name: name.clone() };
                JwtKeys::new(set, Some(Box::new(parameter)), &self.config.jwt)?
            }
            None => bail!("set UMS_JWT_KEY_PARAMETER (or UMS_JWT_PRIVATE_KEY): a Lambda never generates its own key"),
        };
        Ok(Arc::new(keys))
    }

    /// An SQS sender for these queues; a missing URL fails the cold start, not a request.
    fn jobs(&self, queues: &[Queue]) -> anyhow::Result<Arc<SqsJobs>> {
        let mut urls = BTreeMap::new();
        for queue in queues {
            let url =
                self.settings.queue_urls.get(queue).with_context(|| format!("{} is not set", queue.url_variable()))?;
            urls.insert(*queue, url.clone());
        }
        Ok(Arc::new(SqsJobs::new(lazy_client(&self.sdk, aws_sdk_sqs::Client::new), urls)))
    }

    /// Password hashing with the configured cost and concurrency bound.
    fn hasher(&self) -> anyhow::Result<PasswordHasher> {
        let limits = &self.config.limits;
        PasswordHasher::new(self.config.argon2, limits.hashing_concurrency, limits.hashing_queue)
    }

    /// The photo bucket's name; a missing one fails the cold start, not a request.
    fn photo_bucket(&self) -> anyhow::Result<&str> {
        self.settings.photo_bucket.as_deref().context("UMS_PHOTO_BUCKET is not set")
    }

    /// The ports of a route group over DynamoDB and the signing key, queuing on `queues`.
    async fn ports(&self, queues: &[Queue]) -> anyhow::Result<Ports> {
        Ok(Ports {
            config: Arc::new(self.config.clone()),
            store: self.store(),
            jobs: self.jobs(queues)?,
            keys: self.keys().await?,
            clock: Arc::new(SystemClock),
            ranges: Arc::new(super::https::PublicRanges::default()),
        })
    }

    /// The auth group: the sign-in service, queuing on the email queue.
    pub async fn auth_state(&self) -> anyhow::Result<AuthState> {
        Ok(self.ports(&[Queue::Email]).await?.identity(self.hasher()?))
    }

    /// The users group: the sign-in service, the email, photo and notify queues (a deleted
    /// account's files and edges are erased by jobs), upload forms for the photo bucket (signed
    /// here; no S3 client).
    pub async fn users_state(&self) -> anyhow::Result<UsersState> {
        let ports = self.ports(&[Queue::Email, Queue::Photo, Queue::Notify]).await?;
        let uploads = Arc::new(S3UploadForms::new(&self.sdk, self.photo_bucket()?)?);
        Ok(ports.users(ports.identity(self.hasher()?), uploads))
    }

    /// The providers group: the sign-in service (queuing sign-in alerts on the email queue), and
    /// the providers from their SSM parameter.
    pub async fn providers_state(&self) -> anyhow::Result<ProvidersState> {
        let identity = self.ports(&[Queue::Email]).await?.identity(self.hasher()?);
        let federation = match &self.settings.sign_in_providers {
            Some(name) => {
                let parameter =
                    SignInProvidersParameter { client: aws_sdk_ssm::Client::new(&self.sdk), name: name.clone() };
                Federation::reading(Box::new(parameter), self.config.jwt.keys_reload)
            }
            None => Federation::new(Default::default()),
        };
        Ok(ProvidersState { identity, federation: Arc::new(federation) })
    }

    /// The staff console: the users and moderation groups over one set of ports (the console
    /// calls their handlers), queuing what the users group queues.
    pub async fn console_state(&self) -> anyhow::Result<ConsoleState> {
        let ports = self.ports(&[Queue::Email, Queue::Photo, Queue::Notify]).await?;
        let uploads = Arc::new(S3UploadForms::new(&self.sdk, self.photo_bucket()?)?);
        let users = ports.users(ports.identity(self.hasher()?), uploads);
        Ok(ConsoleState { users, moderation: ports.moderation() })
    }

    /// The moderation group: DynamoDB, the signing key; no queue.
    pub async fn moderation_state(&self) -> anyhow::Result<ModerationState> {
        Ok(self.ports(&[]).await?.moderation())
    }

    /// The social group: DynamoDB, the signing key (unsubscribe links), the notify queue.
    pub async fn social_state(&self) -> anyhow::Result<SocialState> {
        Ok(self.ports(&[Queue::Notify]).await?.social())
    }

    /// The notify worker: DynamoDB (notifications, and a deleted account's edges and links), the
    /// delivery and notify queues, the signing key (unsubscribe links); the table that remembers
    /// finished jobs.
    pub async fn notify_worker(&self) -> anyhow::Result<(NotifyWorker, DynamoStore)> {
        let store = self.store();
        let worker = NotifyWorker {
            accounts: store.clone(),
            social: store.clone(),
            notifications: store.clone(),
            tokens: store.clone(),
            activity: store.clone(),
            jobs: self.jobs(&[Queue::Delivery, Queue::Notify])?,
            keys: self.keys().await?,
            config: Arc::new(self.config.clone()),
            clock: Arc::new(SystemClock),
        };
        Ok((worker, store.as_ref().clone()))
    }

    /// The photo worker: S3 and the accounts; the table that remembers finished jobs.
    pub fn photo_worker(&self) -> anyhow::Result<(PhotoWorker, DynamoStore)> {
        let store = self.store();
        let worker = PhotoWorker {
            accounts: store.clone(),
            sessions: store.clone(),
            photos: Arc::new(S3Photos::new(&self.sdk, self.photo_bucket()?)),
            clock: Arc::new(SystemClock),
        };
        Ok((worker, store.as_ref().clone()))
    }

    /// The email worker: SES; the accounts and tokens it issues links with; the table that
    /// remembers finished jobs; the email and delivery queues, to put a throttled email back
    /// for later.
    pub fn email_worker(&self) -> anyhow::Result<(EmailWorker, DynamoStore, Redelivery)> {
        let store = self.store();
        let links = LinkIssuer {
            accounts: store.clone(),
            sessions: store.clone(),
            tokens: store.clone(),
            clock: Arc::new(SystemClock),
            config: Arc::new(self.config.clone()),
        };
        let ses = lazy_client(&self.sdk, ses_client);
        let settings = &self.settings;
        let mailer = Arc::new(
            SesMailer::new(ses, settings.ses_send_rate, settings.ses_senders)
                .holding_notifications_for(settings.ses_quota_hold),
        );
        let worker = EmailWorker { mailer, links, deliveries: store.clone() };
        let queues = self.jobs(&[Queue::Email, Queue::Delivery])?;
        let redelivery = Redelivery::new(queues.client(), queues.urls());
        Ok((worker, store.as_ref().clone(), redelivery))
    }

    /// The events function: the bus (`UMS_EVENT_BUS_NAME`) and the table (to tell the edges
    /// of an erased account).
    pub fn event_publisher(&self) -> anyhow::Result<(crate::events::EventPublisher, DynamoStore)> {
        let bus = std::env::var("UMS_EVENT_BUS_NAME").context("UMS_EVENT_BUS_NAME is not set")?;
        let client = lazy_client(&self.sdk, aws_sdk_eventbridge::Client::new);
        Ok((crate::events::EventPublisher { client, bus }, self.store().as_ref().clone()))
    }

    /// The webhook worker: the endpoints' SSM parameter, its queue, the HTTP client. Private
    /// addresses are refused unless `UMS_WEBHOOKS_ALLOW_PRIVATE=true` (scripts/aws-local's
    /// consumers are on this machine).
    #[cfg(feature = "webhooks")]
    pub fn webhook_worker(&self) -> anyhow::Result<crate::webhooks::WebhookWorker> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let name = var("UMS_WEBHOOK_ENDPOINTS_PARAMETER").context("UMS_WEBHOOK_ENDPOINTS_PARAMETER is not set")?;
        let queue_url = var("UMS_WEBHOOK_QUEUE_URL").context("UMS_WEBHOOK_QUEUE_URL is not set")?;
        let reload = match var("UMS_WEBHOOK_ENDPOINTS_RELOAD_SECS") {
            Some(secs) => std::time::Duration::from_secs(
                secs.parse().context("UMS_WEBHOOK_ENDPOINTS_RELOAD_SECS is not a number")?,
            ),
            None => std::time::Duration::from_secs(60),
        };
        let mut config = self.config.webhooks.clone();
        config.allow_private = var("UMS_WEBHOOKS_ALLOW_PRIVATE").is_some_and(|v| v == "true");
        let ssm = lazy_client(&self.sdk, aws_sdk_ssm::Client::new);
        Ok(crate::webhooks::WebhookWorker {
            endpoints: crate::webhooks::EndpointsParameter::new(ssm, name, reload),
            sender: shared::events::webhooks::Sender::new(&config),
            sqs: lazy_client(&self.sdk, aws_sdk_sqs::Client::new),
            queue_url,
            config,
            store: self.store().as_ref().clone(),
        })
    }
}
