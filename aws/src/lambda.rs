//! Lambda glue: each group's state from the environment, the HTTP adapter, logging.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use aws_types::SdkConfig;
use shared::{
    Config,
    auth::AuthState,
    clock::SystemClock,
    credentials::{JwtKeys, PasswordHasher, jwt::KeySetSource, keyset::KeySet},
    identity::Identity,
    jobs::{EmailWorker, LinkIssuer, NotifyWorker, PhotoWorker},
    moderation::ModerationState,
    ports::Queue,
    social::SocialState,
    users::UsersState,
};

use crate::{
    DynamoStore, Lazy, S3Photos, S3UploadForms, SesMailer, SqsJobs, call_count::CallCounter, worker::Redelivery,
};

/// Where the AWS resources are, from the environment the SAM template sets.
#[derive(Clone, Debug)]
pub struct AwsSettings {
    /// `UMS_TABLE_NAME`
    pub table: String,
    /// The queues this function may send to, from their `UMS_<QUEUE>_QUEUE_URL` variables.
    pub queue_urls: BTreeMap<Queue, String>,
    /// `UMS_PHOTO_BUCKET`: uploads and photos.
    pub photo_bucket: Option<String>,
    pub jwt_key: Option<JwtKeySource>,
    /// `UMS_SES_SEND_RATE`: the account's emails a second, instead of SES `GetAccount`'s.
    pub ses_send_rate: Option<f64>,
    /// `UMS_SES_SENDERS`: the email worker instances that may send at once (2).
    pub ses_senders: u32,
}

#[derive(Clone, Debug)]
pub enum JwtKeySource {
    /// `UMS_JWT_PRIVATE_KEY`: the PEM itself.
    Pem(String),
    /// `UMS_JWT_KEY_PARAMETER`: the name of an SSM SecureString holding the PEM.
    SsmParameter(String),
}

impl AwsSettings {
    pub fn from_env() -> anyhow::Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let table = var("UMS_TABLE_NAME").context("UMS_TABLE_NAME is not set")?;
        let jwt_key = match (var("UMS_JWT_PRIVATE_KEY"), var("UMS_JWT_KEY_PARAMETER")) {
            (Some(pem), _) => Some(JwtKeySource::Pem(pem)),
            (None, Some(name)) => Some(JwtKeySource::SsmParameter(name)),
            (None, None) => None,
        };
        let queue_urls = Queue::ALL.into_iter().filter_map(|q| Some((q, var(q.url_variable())?))).collect();
        let ses_send_rate = match var("UMS_SES_SEND_RATE") {
            Some(rate) => {
                Some(rate.parse::<f64>().ok().filter(|r| *r > 0.0).context("UMS_SES_SEND_RATE is not a rate")?)
            }
            None => None,
        };
        let ses_senders = match var("UMS_SES_SENDERS") {
            Some(n) => n.parse::<u32>().ok().filter(|n| *n > 0).context("UMS_SES_SENDERS is not a count")?,
            None => 2,
        };
        Ok(Self { table, queue_urls, photo_bucket: var("UMS_PHOTO_BUCKET"), jwt_key, ses_send_rate, ses_senders })
    }
}

/// The SDK configuration of a function, from what Lambda puts in its environment: the region,
/// the role's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`),
/// and `AWS_ENDPOINT_URL` if set (an emulator); with [`http_client`]. Not `aws_config`'s
/// provider chains (profiles, SSO, web identity, instance metadata): a function never needs
/// them, and linking them costs every cold start. The operator command, run by people with
/// profiles, uses them (`operator_sdk_config`).
pub fn sdk_config() -> anyhow::Result<SdkConfig> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).context("AWS_REGION is not set")?;
    let credentials = aws_credential_types::Credentials::new(
        var("AWS_ACCESS_KEY_ID").context("AWS_ACCESS_KEY_ID is not set")?,
        var("AWS_SECRET_ACCESS_KEY").context("AWS_SECRET_ACCESS_KEY is not set")?,
        var("AWS_SESSION_TOKEN"),
        None,
        "environment",
    );
    Ok(sdk_config_with(&region, credentials, var("AWS_ENDPOINT_URL")))
}

/// How many times a call that failed for a reason worth retrying (a throttle, a 5xx, a
/// connection that timed out or broke) is made in all, with exponential backoff and jitter in
/// between (the SDK's standard retry mode).
pub const SDK_ATTEMPTS: u32 = 3;
/// The longest wait before the first retry (then doubling, each wait a random part of it):
/// short, since a function has seconds, not minutes.
pub const SDK_FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// How long connecting to an AWS endpoint may take.
pub const SDK_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one attempt of a call may take.
pub const SDK_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(4);
/// How long a call may take with its retries: under the API functions' 10 s timeout, so a
/// request that cannot reach AWS is answered (a 500 that logs why), not cut off by Lambda.
pub const SDK_OPERATION_TIMEOUT: Duration = Duration::from_secs(8);

/// Attempts at reading the signing key from SSM at a cold start (more than [`SDK_ATTEMPTS`]).
pub const SSM_KEY_ATTEMPTS: u32 = 6;

/// The JWT key set from an SSM SecureString parameter, at a cold start: many instances starting
/// at once share SSM's 40 reads/s (standard throughput), so this one call gets more, slower
/// retries than the others, within Lambda's 10 s for a cold start (docs/scale.md).
pub async fn read_signing_key(sdk: &SdkConfig, name: &str) -> anyhow::Result<String> {
    let retries = aws_smithy_types::retry::RetryConfig::standard()
        .with_max_attempts(SSM_KEY_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(250));
    let client = aws_sdk_ssm::Client::from_conf(aws_sdk_ssm::config::Builder::from(sdk).retry_config(retries).build());
    KeySetParameter { client, name: name.to_string() }.read_versioned().await.map(|(text, _)| text)
}

/// The key set's SSM parameter, read again by a running function as the set rotates (with the
/// SDK's usual retries, within `JwtKeys`' one second for a reload) and written by
/// `ums-aws jwt-key rotate`.
pub struct KeySetParameter {
    pub client: aws_sdk_ssm::Client,
    pub name: String,
}

impl KeySetParameter {
    /// The parameter's value and version.
    pub async fn read_versioned(&self) -> anyhow::Result<(String, i64)> {
        let output = self
            .client
            .get_parameter()
            .name(&self.name)
            .with_decryption(true)
            .send()
            .await
            .with_context(|| format!("reading the JWT key set from SSM parameter {}", self.name))?;
        let parameter = output.parameter.context("the SSM parameter has no value")?;
        Ok((parameter.value.context("the SSM parameter has no value")?, parameter.version))
    }

    /// Writes `text` over the version read (`read`); refused when another writer came between.
    /// SSM has no conditional write: a writer between our read and write is seen after the
    /// fact, by the version numbers.
    pub async fn write_over(&self, text: &str, read: i64) -> anyhow::Result<()> {
        let output = self
            .client
            .put_parameter()
            .name(&self.name)
            .value(text)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .with_context(|| format!("writing the JWT key set to SSM parameter {}", self.name))?;
        if output.version != read + 1 {
            bail!(
                "SSM parameter {} went from version {read} to {} while this rotation ran: another writer changed it; check it with `ums-aws jwt-key show`",
                self.name,
                output.version
            );
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl KeySetSource for KeySetParameter {
    async fn read(&self) -> anyhow::Result<String> {
        Ok(self.read_versioned().await?.0)
    }
}

/// The SDK configuration every function's clients are made from: the region, credentials and
/// endpoint given, [`http_client`], and in one place the retries and timeouts of every call to
/// DynamoDB, SQS, SES, S3 and SSM.
pub fn sdk_config_with(
    region: &str,
    credentials: aws_credential_types::Credentials,
    endpoint: Option<String>,
) -> SdkConfig {
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
    use aws_smithy_types::{retry::RetryConfig, timeout::TimeoutConfig};
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(SDK_CONNECT_TIMEOUT)
        .operation_attempt_timeout(SDK_ATTEMPT_TIMEOUT)
        .operation_timeout(SDK_OPERATION_TIMEOUT)
        .build();
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_types::region::Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(http_client())
        .retry_config(RetryConfig::standard().with_max_attempts(SDK_ATTEMPTS).with_initial_backoff(SDK_FIRST_BACKOFF))
        .timeout_config(timeouts)
        .sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep().expect("tokio's sleep"));
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint);
    }
    config.build()
}

/// The SDK configuration for the operator command: every provider chain `aws_config` knows
/// (profiles in `~/.aws`, environment, instance roles), with [`http_client`].
pub async fn operator_sdk_config() -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http_client()).load().await
}

/// The roots AWS service endpoints chain to (Amazon Trust Services), built in: no certificate
/// folder is read at a cold start.
const AMAZON_TRUST_SERVICES_ROOTS: &str = include_str!("amazon-trust-services-roots.pem");

/// The SDK's HTTPS client: rustls with ring, trusting Amazon's roots, or the roots in the one
/// PEM file `AWS_CA_BUNDLE` names (as the AWS CLI reads it: an endpoint behind another CA, a
/// proxy, an emulator over TLS).
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let roots = std::env::var_os("AWS_CA_BUNDLE")
        .and_then(|path| std::fs::read(path).ok())
        .unwrap_or_else(|| AMAZON_TRUST_SERVICES_ROOTS.as_bytes().to_vec());
    let trust = TrustStore::empty().with_native_roots(false).with_pem_certificate(roots);
    let context = TlsContext::builder().with_trust_store(trust).build().expect("a trust store without native roots");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https()
}

/// An SDK client made from `sdk` at its first use (see [`Lazy`]).
fn lazy_client<C: Send + 'static>(sdk: &SdkConfig, make: impl FnOnce(&SdkConfig) -> C + Send + 'static) -> Lazy<C> {
    let sdk = sdk.clone();
    Lazy::new(move || make(&sdk))
}

/// A DynamoDB client; with a counter, every call it makes is counted.
pub fn dynamo_client(sdk: &SdkConfig, counter: Option<CallCounter>) -> aws_sdk_dynamodb::Client {
    let mut config = aws_sdk_dynamodb::config::Builder::from(sdk);
    if let Some(counter) = counter {
        config = config.interceptor(counter);
    }
    aws_sdk_dynamodb::Client::from_conf(config.build())
}

/// An SES v2 client, at `AWS_ENDPOINT_URL_SESV2` if that is set (the AWS SDKs' own name for
/// one service's endpoint): tests put a stand-in that throttles there.
pub fn ses_client(sdk: &SdkConfig) -> aws_sdk_sesv2::Client {
    let mut config = aws_sdk_sesv2::config::Builder::from(sdk);
    if let Some(endpoint) = std::env::var("AWS_ENDPOINT_URL_SESV2").ok().filter(|e| !e.is_empty()) {
        config = config.endpoint_url(endpoint);
    }
    aws_sdk_sesv2::Client::from_conf(config.build())
}

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

    /// The sign-in service over DynamoDB and the signing key, queuing on `queues`.
    async fn identity(&self, queues: &[Queue]) -> anyhow::Result<Identity> {
        let store = self.store();
        Ok(Identity {
            hasher: self.hasher()?,
            config: Arc::new(self.config.clone()),
            accounts: store.clone(),
            sessions: store.clone(),
            tokens: store.clone(),
            limits: store.clone(),
            jobs: self.jobs(queues)?,
            keys: self.keys().await?,
            clock: Arc::new(SystemClock),
            activity: store,
        })
    }

    /// The auth group: the sign-in service, queuing on the email queue.
    pub async fn auth_state(&self) -> anyhow::Result<AuthState> {
        self.identity(&[Queue::Email]).await
    }

    /// The users group: DynamoDB, the signing key, the email, photo and notify queues (a
    /// deleted account's files and edges are erased by jobs), upload forms for the photo
    /// bucket (signed here; no S3 client).
    pub async fn users_state(&self) -> anyhow::Result<UsersState> {
        let store = self.store();
        Ok(UsersState {
            identity: self.identity(&[Queue::Email, Queue::Photo, Queue::Notify]).await?,
            uploads: Arc::new(S3UploadForms::new(&self.sdk, self.photo_bucket()?)?),
            social: store.clone(),
            moderation: store.clone(),
            webhooks: store,
        })
    }

    /// The moderation group: DynamoDB, the signing key.
    pub async fn moderation_state(&self) -> anyhow::Result<ModerationState> {
        let store = self.store();
        Ok(ModerationState {
            config: Arc::new(self.config.clone()),
            accounts: store.clone(),
            sessions: store.clone(),
            moderation: store,
            keys: self.keys().await?,
            clock: Arc::new(SystemClock),
        })
    }

    /// The social group: DynamoDB, the signing key (unsubscribe links), the notify queue.
    pub async fn social_state(&self) -> anyhow::Result<SocialState> {
        let store = self.store();
        Ok(SocialState {
            config: Arc::new(self.config.clone()),
            accounts: store.clone(),
            sessions: store.clone(),
            social: store.clone(),
            notifications: store.clone(),
            limits: store,
            jobs: self.jobs(&[Queue::Notify])?,
            keys: self.keys().await?,
            clock: Arc::new(SystemClock),
        })
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
        let mailer = Arc::new(SesMailer::new(ses, settings.ses_send_rate, settings.ses_senders));
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
            Some(secs) => {
                Duration::from_secs(secs.parse().context("UMS_WEBHOOK_ENDPOINTS_RELOAD_SECS is not a number")?)
            }
            None => Duration::from_secs(60),
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

/// One JSON object per line, no colours: what CloudWatch Logs wants. `RUST_LOG` takes levels
/// per target (`info`, `warn,ums_aws=debug`), without `EnvFilter`'s span and regex matching,
/// which a function does not need and would carry a regex engine for.
pub fn init_tracing() {
    use tracing_subscriber::{filter::Targets, layer::SubscriberExt as _, util::SubscriberInitExt as _};
    let filter: Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let logs = tracing_subscriber::fmt::layer().json().with_ansi(false).without_time().with_current_span(false);
    tracing_subscriber::registry().with(logs).with(filter).init();
}

/// Serves one route group to API Gateway (HTTP API, payload 2.0), with the layers every
/// deployment shares; `known` answers what none of its routes matched (see `KnownRoutes`).
pub async fn serve_group(
    routes: axum::Router,
    config: &Config,
    known: &shared::http::KnownRoutes,
) -> Result<(), lambda_http::Error> {
    let app = shared::http::finish(routes, config.limits.max_body_bytes, known);
    let service = tower::ServiceBuilder::new().map_request(strip_stage).service(app);
    lambda_http::run(service).await
}

/// API Gateway puts a named stage in front of the path (`/prod/api/v1/...`), and lambda_http
/// keeps it; the routers know only `/api/v1/...`. The `$default` stage adds nothing.
pub fn strip_stage(mut request: lambda_http::Request) -> lambda_http::Request {
    use lambda_http::RequestExt as _;
    let stage = match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) => context.stage.clone(),
        _ => None,
    };
    let Some(stage) = stage.filter(|s| s != "$default") else {
        return request;
    };
    let prefix = format!("/{stage}");
    let uri = request.uri();
    if let Some(rest) = uri.path().strip_prefix(&prefix).filter(|rest| rest.is_empty() || rest.starts_with('/')) {
        let rest = if rest.is_empty() { "/" } else { rest };
        let path_and_query = match uri.query() {
            Some(query) => format!("{rest}?{query}"),
            None => rest.to_string(),
        };
        let mut parts = uri.clone().into_parts();
        if let Ok(pq) = path_and_query.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(new_uri) = axum::http::Uri::from_parts(parts) {
                *request.uri_mut() = new_uri;
            }
        }
    }
    request
}
