//! The SDK configuration every function's clients are made from: the region, credentials and
//! endpoint from Lambda's environment, one HTTPS client, and the retries and timeouts of every
//! call to AWS, in one place.

use std::time::Duration;

use anyhow::Context;
use aws_types::SdkConfig;

use crate::{Lazy, call_count::CallCounter};

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
const AMAZON_TRUST_SERVICES_ROOTS: &str = include_str!("../amazon-trust-services-roots.pem");

/// The SDK's HTTPS client ([`super::https`]: HTTP/1.1, rustls with ring), trusting Amazon's
/// roots, or the roots in the one PEM file `AWS_CA_BUNDLE` names (as the AWS CLI reads it: an
/// endpoint behind another CA, a proxy, an emulator over TLS). A bundle named but unreadable,
/// or without a certificate, stops the function at its start, saying so.
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    let roots = match std::env::var_os("AWS_CA_BUNDLE") {
        Some(path) => std::fs::read(&path)
            .unwrap_or_else(|e| panic!("AWS_CA_BUNDLE {}: {e}", std::path::Path::new(&path).display())),
        None => AMAZON_TRUST_SERVICES_ROOTS.as_bytes().to_vec(),
    };
    super::https::http1_client(&roots).unwrap_or_else(|e| panic!("the SDK's trust store: {e:#}"))
}

/// An SDK client made from `sdk` at its first use (see [`Lazy`]).
pub(crate) fn lazy_client<C: Send + 'static>(
    sdk: &SdkConfig,
    make: impl FnOnce(&SdkConfig) -> C + Send + 'static,
) -> Lazy<C> {
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
