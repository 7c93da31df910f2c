//! The SDK's HTTPS client: HTTP/1.1 over rustls with ring, trusting the roots it is given.
//!
//! Not `aws-smithy-http-client`'s client: that one always builds HTTP/2 in (the `h2` crate and
//! hyper's HTTP/2, about 0.1 MB of every function's zip), and no endpoint a function calls
//! (DynamoDB, SQS, SES, S3, SSM, EventBridge) needs it. What it did that a client must still do
//! is here: the connect timeout and the read timeout the SDK's settings name, a pool of
//! connections kept between invocations, and errors told apart as the SDK's retries need them
//! (a connection that failed or broke is retried, a timeout is a timeout, the rest is not).

use std::{
    error::Error as StdError,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use aws_smithy_runtime_api::client::{
    http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
    },
    orchestrator::{HttpRequest, HttpResponse},
    result::ConnectorError,
    retries::ErrorKind,
    runtime_components::RuntimeComponents,
};
use aws_smithy_types::body::SdkBody;
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector as TcpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use rustls_pki_types::{CertificateDer, pem::PemObject};
use shared::credentials::breached::{self, RangeReader};

/// How long an idle connection is kept for the next call (a warm function's next invocation
/// reuses it; a connection the endpoint closed meanwhile fails as I/O, which is retried).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// An HTTP/1.1 client for the SDK over `rustls` with `ring`, trusting the certificates in
/// `roots_pem` (and no others: no certificate folder is read). The PEM is read here (a bundle
/// without a certificate is refused at once); the TLS configuration is made at the first
/// connection, so a cold start whose first request calls no AWS service does not pay for it.
pub fn http1_client(roots_pem: &[u8]) -> anyhow::Result<SharedHttpClient> {
    let roots = CertificateDer::pem_slice_iter(roots_pem).collect::<Result<Vec<_>, _>>()?;
    anyhow::ensure!(!roots.is_empty(), "no certificate in the trust store");
    Ok(SharedHttpClient::new(Http1Client { roots: Arc::new(roots), tls: Arc::default(), connectors: Arc::default() }))
}

/// The TLS configuration of every connection: ring, the safe protocol versions, `roots`.
fn tls_config(roots: &[CertificateDer<'static>]) -> anyhow::Result<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(store)
        .with_no_client_auth())
}

type Connectors = Vec<((Option<Duration>, Option<Duration>), SharedHttpConnector)>;

#[derive(Clone, Debug)]
struct Http1Client {
    roots: Arc<Vec<CertificateDer<'static>>>,
    /// Made from `roots` at the first connector, then shared by every one.
    tls: Arc<OnceLock<Result<rustls::ClientConfig, String>>>,
    /// The connectors made so far, by (connect timeout, read timeout): the SDK asks for one
    /// on every attempt, and each holds its own pool.
    connectors: Arc<Mutex<Connectors>>,
}

impl HttpClient for Http1Client {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, connector)) = connectors.iter().find(|(k, _)| *k == key) {
            return connector.clone();
        }
        let tls = match self.tls.get_or_init(|| tls_config(&self.roots).map_err(|e| format!("{e:#}"))) {
            Ok(tls) => tls.clone(),
            // A root that is not a certificate: every call says so (the bundle is the operator's).
            Err(why) => return SharedHttpConnector::new(Refused(format!("the SDK's trust store: {why}"))),
        };
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(key.0);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(https);
        let connector = SharedHttpConnector::new(Connector { client, read_timeout: key.1 });
        connectors.push((key, connector.clone()));
        connector
    }
}

#[derive(Clone, Debug)]
struct Connector {
    client: Client<HttpsConnector<TcpConnector>, SdkBody>,
    /// How long the response's head may take once the request is sent.
    read_timeout: Option<Duration>,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let (client, read_timeout) = (self.client.clone(), self.read_timeout);
        HttpConnectorFuture::new(async move {
            let sent = client.request(request);
            let response = match read_timeout {
                Some(limit) => tokio::time::timeout(limit, sent)
                    .await
                    .map_err(|elapsed| ConnectorError::timeout(elapsed.into()))?,
                None => sent.await,
            }
            .map_err(classify)?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// A connector that cannot be made: every call fails with why (not retried).
#[derive(Debug)]
struct Refused(String);

impl HttpConnector for Refused {
    fn call(&self, _: HttpRequest) -> HttpConnectorFuture {
        HttpConnectorFuture::ready(Err(ConnectorError::user(self.0.clone().into())))
    }
}

/// Where a Linux keeps its certificate authorities (Amazon Linux 2023 first, what Lambda runs;
/// then Debian's): the breached-password service is not behind Amazon's roots.
const SYSTEM_BUNDLES: [&str; 2] = ["/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/certs/ca-certificates.crt"];

/// The breached-password ranges' reader on Lambda: this module's HTTP/1.1 client (hyper, rustls
/// with ring, its connections kept between invocations), trusting the system's roots (or
/// `SSL_CERT_FILE`'s), made at the first call. Nothing else a function links does this.
#[derive(Default)]
pub struct PublicRanges(OnceLock<Result<Client<HttpsConnector<TcpConnector>, SdkBody>, String>>);

#[async_trait::async_trait]
impl RangeReader for PublicRanges {
    async fn get(&self, url: &str) -> anyhow::Result<String> {
        let client = match self.0.get_or_init(|| public_client().map_err(|e| format!("{e:#}"))) {
            Ok(client) => client.clone(),
            Err(why) => anyhow::bail!("no HTTPS client for the breached-password ranges: {why}"),
        };
        let request = hyper::Request::get(url)
            .header(breached::PADDING_HEADER, "true")
            .header(hyper::header::USER_AGENT, breached::USER_AGENT)
            .body(SdkBody::empty())?;
        let call = async move {
            let response = client.request(request).await?;
            anyhow::ensure!(response.status() == hyper::StatusCode::OK, "the range answered {}", response.status());
            let limited = http_body_util::Limited::new(response.into_body(), breached::MAX_RANGE_BYTES);
            let body = http_body_util::BodyExt::collect(limited).await.map_err(|e| anyhow::anyhow!(e))?.to_bytes();
            Ok(String::from_utf8(body.to_vec())?)
        };
        tokio::time::timeout(breached::CALL_TIMEOUT, call)
            .await
            .map_err(|_| anyhow::anyhow!("no answer in {:?}", breached::CALL_TIMEOUT))?
    }
}

fn public_client() -> anyhow::Result<Client<HttpsConnector<TcpConnector>, SdkBody>> {
    let bundle = std::env::var("SSL_CERT_FILE")
        .ok()
        .or_else(|| SYSTEM_BUNDLES.iter().find(|path| std::path::Path::new(path).exists()).map(|p| p.to_string()))
        .ok_or_else(|| anyhow::anyhow!("no system certificate bundle ({})", SYSTEM_BUNDLES.join(", ")))?;
    let roots = CertificateDer::pem_file_iter(&bundle)?.collect::<Result<Vec<_>, _>>()?;
    anyhow::ensure!(!roots.is_empty(), "no certificate in {bundle}");
    let mut tcp = TcpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(breached::CONNECT_TIMEOUT));
    let https =
        hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls_config(&roots)?).https_or_http().enable_http1();
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_timer(TokioTimer::new())
        .build(https.wrap_connector(tcp)))
}

/// What the SDK's retries need to know of a failed call: a connection that could not be made,
/// or broke or closed under it, is I/O (retried); a message cut short is transient (retried);
/// a timeout is a timeout; anything else is not retried.
fn classify(error: hyper_util::client::legacy::Error) -> ConnectorError {
    let hyper_error = source_of::<hyper::Error>(&error);
    if hyper_error.is_some_and(hyper::Error::is_timeout) {
        ConnectorError::timeout(error.into())
    } else if hyper_error.is_some_and(hyper::Error::is_incomplete_message) {
        ConnectorError::other(error.into(), Some(ErrorKind::TransientError))
    } else if error.is_connect()
        || hyper_error.is_some_and(|e| e.is_closed() || e.is_canceled())
        || source_of::<std::io::Error>(&error).is_some()
    {
        ConnectorError::io(error.into())
    } else {
        ConnectorError::other(error.into(), None)
    }
}

/// The first error of type `E` in `error`'s chain of sources.
fn source_of<'a, E: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(found) = error.downcast_ref::<E>() {
            return Some(found);
        }
        next = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trust_store_without_a_certificate_is_refused() {
        assert!(http1_client(b"").is_err());
        assert!(http1_client(b"not a certificate").is_err());
        assert!(http1_client(include_bytes!("../amazon-trust-services-roots.pem")).is_ok());
    }
}
