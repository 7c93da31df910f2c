//! Every call the functions make to AWS is retried a bounded number of times and bounded in
//! time (`lambda::sdk_config_with`), tried against local servers that always throttle, that
//! never answer, and that hang up, as DynamoDB does under load and a broken network does; and
//! the functions' own HTTPS client (`lambda::https`) reaches an endpoint over TLS whose root it
//! trusts, and no other.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpListener,
};
use ums_aws::lambda::{
    SDK_ATTEMPTS, SDK_OPERATION_TIMEOUT, SSM_KEY_ATTEMPTS, http1_client, read_signing_key, sdk_config_with,
};

/// How a stand-in endpoint answers each request.
#[derive(Clone, Copy)]
enum Behaviour {
    /// DynamoDB's throttle: 400 `ThrottlingException`.
    Throttle,
    /// Takes the request and never answers.
    Silent,
    /// Takes the request and closes the connection, as a broken network or a restarting
    /// endpoint does.
    HangUp,
    /// DynamoDB's answer to `ListTables` on an account without tables.
    NoTables,
}

/// A local endpoint that answers as `behaviour` says; the number of requests it took.
async fn endpoint(behaviour: Behaviour) -> (String, Arc<AtomicUsize>) {
    endpoint_over(behaviour, None).await
}

/// The same over TLS with `tls`'s certificate, if given.
async fn endpoint_over(behaviour: Behaviour, tls: Option<tokio_rustls::TlsAcceptor>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = match tls {
        Some(_) => format!("https://localhost:{port}"),
        None => format!("http://127.0.0.1:{port}"),
    };
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (tls, counted) = (tls.clone(), counted.clone());
            tokio::spawn(async move {
                match tls {
                    // A handshake the client refuses ends here, before any request.
                    Some(tls) => {
                        if let Ok(stream) = tls.accept(stream).await {
                            serve(stream, behaviour, counted).await
                        }
                    }
                    None => serve(stream, behaviour, counted).await,
                }
            });
        }
    });
    (url, requests)
}

async fn serve(mut stream: impl AsyncRead + AsyncWrite + Unpin, behaviour: Behaviour, requests: Arc<AtomicUsize>) {
    let mut buffer = Vec::new();
    loop {
        // One request: its head, then as many body bytes as it declares.
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buffer.len() < head_end + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        buffer.drain(..head_end + length);
        requests.fetch_add(1, Ordering::SeqCst);
        match behaviour {
            Behaviour::Silent => {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                return;
            }
            Behaviour::HangUp => return,
            Behaviour::Throttle => {
                let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#;
                if answer(&mut stream, "400 Bad Request", body).await.is_err() {
                    return;
                }
            }
            Behaviour::NoTables => {
                if answer(&mut stream, "200 OK", r#"{"TableNames":[]}"#).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn answer(stream: &mut (impl AsyncWrite + Unpin), status: &str, body: &str) -> std::io::Result<()> {
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-requestid: test\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(answer.as_bytes()).await?;
    stream.flush().await
}

fn dynamo(url: String) -> aws_sdk_dynamodb::Client {
    let credentials = aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "test");
    aws_sdk_dynamodb::Client::new(&sdk_config_with("us-east-1", credentials, Some(url)))
}

#[tokio::test]
async fn a_throttled_call_is_tried_again_a_bounded_number_of_times() {
    let (url, requests) = endpoint(Behaviour::Throttle).await;

    let result = dynamo(url).describe_limits().send().await;

    let error = result.expect_err("an endpoint that always throttles");
    assert_eq!(error.as_service_error().and_then(|e| e.meta().code()), Some("ThrottlingException"), "{error:?}");
    assert_eq!(requests.load(Ordering::SeqCst), SDK_ATTEMPTS as usize, "tried {SDK_ATTEMPTS} times in all");
}

#[tokio::test]
async fn a_call_that_gets_no_answer_gives_up_in_bounded_time() {
    let (url, requests) = endpoint(Behaviour::Silent).await;
    let started = Instant::now();

    let result = dynamo(url).describe_limits().send().await;

    let elapsed = started.elapsed();
    assert!(result.is_err(), "no answer is an error");
    assert!(elapsed >= SDK_OPERATION_TIMEOUT.mul_f32(0.9), "it waited for the operation's time: {elapsed:?}");
    assert!(elapsed < SDK_OPERATION_TIMEOUT.mul_f32(1.3), "and no longer: {elapsed:?}");
    assert!(requests.load(Ordering::SeqCst) >= 2, "a timed-out attempt is tried again");
}

#[tokio::test]
async fn the_signing_key_read_at_a_cold_start_outlasts_a_burst_of_ssm_throttles() {
    let (url, requests) = endpoint(Behaviour::Throttle).await;
    let credentials = aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "test");
    let started = Instant::now();

    let result = read_signing_key(&sdk_config_with("us-east-1", credentials, Some(url)), "/ums/jwt-signing-key").await;

    assert!(format!("{:#}", result.expect_err("always throttled")).contains("ThrottlingException"));
    assert_eq!(requests.load(Ordering::SeqCst), SSM_KEY_ATTEMPTS as usize, "more attempts than other calls");
    const { assert!(SSM_KEY_ATTEMPTS > SDK_ATTEMPTS) };
    assert!(started.elapsed() < SDK_OPERATION_TIMEOUT, "within a cold start's time: {:?}", started.elapsed());
}

#[tokio::test]
async fn a_connection_that_hangs_up_is_tried_again_a_bounded_number_of_times() {
    let (url, requests) = endpoint(Behaviour::HangUp).await;

    let result = dynamo(url).describe_limits().send().await;

    assert!(result.is_err(), "no answer is an error");
    assert_eq!(requests.load(Ordering::SeqCst), SDK_ATTEMPTS as usize, "a broken connection is tried again");
}

#[tokio::test]
async fn an_endpoint_over_tls_is_reached_when_its_root_is_trusted_and_refused_when_not() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    let (url, requests) = endpoint_over(Behaviour::NoTables, Some(Arc::new(config).into())).await;
    let credentials = aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "test");
    let sdk = sdk_config_with("us-east-1", credentials, Some(url));
    let client_trusting = |roots: &[u8]| {
        let config = aws_sdk_dynamodb::config::Builder::from(&sdk).http_client(http1_client(roots).unwrap());
        aws_sdk_dynamodb::Client::from_conf(config.build())
    };

    // Trusting the endpoint's root (what AWS_CA_BUNDLE names): an answer, over HTTP/1.1 and TLS.
    let tables = client_trusting(certified.cert.pem().as_bytes()).list_tables().send().await.expect("an answer");
    assert_eq!(tables.table_names(), &[] as &[String]);
    assert_eq!(requests.load(Ordering::SeqCst), 1);

    // Trusting Amazon's roots alone (a function's default), the handshake is refused: no request
    // is sent to an endpoint that cannot prove it is AWS.
    let amazon = include_bytes!("../../src/amazon-trust-services-roots.pem");
    let result = client_trusting(amazon).list_tables().send().await;
    assert!(result.is_err(), "an untrusted certificate is refused");
    assert_eq!(requests.load(Ordering::SeqCst), 1, "nothing reached it");
}
