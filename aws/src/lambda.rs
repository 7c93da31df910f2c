//! Lambda glue: state from the environment, the HTTP adapter, logging.

use std::sync::Arc;

use anyhow::{Context, bail};
use aws_config::{BehaviorVersion, SdkConfig};
use shared::{
    AppState, Config,
    auth::{JwtKeys, PasswordHasher},
    clock::SystemClock,
    jobs::WorkerDeps,
    ports::{Job, JobQueue},
};

use crate::{DynamoStore, SesMailer, SqsQueue, call_count::CallCounter};

/// Where the AWS resources are, from the environment the SAM template sets.
#[derive(Clone, Debug)]
pub struct AwsSettings {
    /// `UMS_TABLE_NAME`
    pub table: String,
    /// `UMS_JOBS_QUEUE_URL`, for the functions whose routes queue jobs.
    pub jobs_queue_url: Option<String>,
    pub jwt_key: Option<JwtKeySource>,
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
        Ok(Self { table, jobs_queue_url: var("UMS_JOBS_QUEUE_URL"), jwt_key })
    }
}

/// The SDK configuration from the environment (`AWS_ENDPOINT_URL` points it at an emulator).
pub async fn sdk_config() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// A DynamoDB client; with a counter, every call it makes is counted.
pub fn dynamo_client(sdk: &SdkConfig, counter: Option<CallCounter>) -> aws_sdk_dynamodb::Client {
    let mut config = aws_sdk_dynamodb::config::Builder::from(sdk);
    if let Some(counter) = counter {
        config = config.interceptor(counter);
    }
    aws_sdk_dynamodb::Client::from_conf(config.build())
}

async fn signing_key(sdk: &SdkConfig, source: &JwtKeySource) -> anyhow::Result<String> {
    match source {
        JwtKeySource::Pem(pem) => Ok(pem.clone()),
        JwtKeySource::SsmParameter(name) => {
            let output = aws_sdk_ssm::Client::new(sdk)
                .get_parameter()
                .name(name)
                .with_decryption(true)
                .send()
                .await
                .with_context(|| format!("reading the signing key from SSM parameter {name}"))?;
            output.parameter.and_then(|p| p.value).context("the SSM parameter has no value")
        }
    }
}

/// The state of an API function: DynamoDB, SQS, the signing key. Called once per cold start.
pub async fn app_state(
    sdk: &SdkConfig,
    settings: &AwsSettings,
    config: Config,
    dynamo: aws_sdk_dynamodb::Client,
) -> anyhow::Result<AppState> {
    let Some(source) = &settings.jwt_key else {
        bail!("set UMS_JWT_KEY_PARAMETER (or UMS_JWT_PRIVATE_KEY): a Lambda never generates its own key");
    };
    let jobs: Arc<dyn JobQueue> = match &settings.jobs_queue_url {
        Some(url) => Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(sdk), url)),
        None => Arc::new(NoQueue),
    };
    let keys = JwtKeys::from_pem(&signing_key(sdk, source).await?, &config.jwt)?;
    Ok(AppState {
        hasher: PasswordHasher::new(config.argon2)?,
        config: Arc::new(config),
        store: Arc::new(DynamoStore::new(dynamo, &settings.table)),
        jobs,
        keys: Arc::new(keys),
        clock: Arc::new(SystemClock),
    })
}

/// The queue of a function whose routes queue nothing (its policy cannot send to SQS).
struct NoQueue;

#[async_trait::async_trait]
impl JobQueue for NoQueue {
    async fn enqueue(&self, _job: &Job) -> anyhow::Result<()> {
        bail!("this function has no job queue (UMS_JOBS_QUEUE_URL is not set)")
    }
}

/// What the email worker needs: SES and the table that remembers finished jobs.
pub fn worker(sdk: &SdkConfig, settings: &AwsSettings, config: &Config) -> (WorkerDeps, DynamoStore) {
    let deps = WorkerDeps {
        mailer: Arc::new(SesMailer::new(aws_sdk_sesv2::Client::new(sdk))),
        email_from: config.email_from.clone(),
    };
    (deps, DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), &settings.table))
}

/// One JSON object per line, no colours: what CloudWatch Logs wants.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time()
        .with_current_span(false)
        .init();
}

/// The whole life of an API function: state from the environment at cold start, then the route
/// group's router for every request.
pub async fn run_api(route_group: fn(AppState) -> axum::Router) -> Result<(), lambda_http::Error> {
    init_tracing();
    let sdk = sdk_config().await;
    let settings = AwsSettings::from_env()?;
    let state = app_state(&sdk, &settings, Config::from_env()?, dynamo_client(&sdk, None)).await?;
    serve_http(route_group(state)).await
}

/// Serves a route group's router to API Gateway (HTTP API, payload 2.0).
pub async fn serve_http(router: axum::Router) -> Result<(), lambda_http::Error> {
    let service = tower::ServiceBuilder::new().map_request(strip_stage).service(router);
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
