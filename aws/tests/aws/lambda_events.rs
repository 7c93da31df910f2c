//! The sample events in `events/`, as API Gateway (HTTP API, payload 2.0) and SQS hand them to
//! the functions: paths and stages reach the right routes, and the worker event is readable.

use axum::body::Body;
use lambda_http::request::from_str;
use serde_json::Value;
use shared::{
    Config,
    docs::{self, DocsState},
    http,
    ports::Queue,
};
use tower::ServiceExt as _;
use ums_aws::lambda::{self, Aws, AwsSettings, JwtKeySource};

use crate::emulator::{Queues, Table, photo_bucket, sdk, sent_emails, ses_worker};

/// What a cold start knows on the emulator: this table, this email queue, this key.
pub async fn aws_on_emulator(table: &Table, queues: Option<&Queues>, key: JwtKeySource) -> Aws {
    // One queue stands for every queue a function sends to.
    let queue_urls = queues.map(|q| Queue::ALL.map(|queue| (queue, q.url.clone()))).into_iter().flatten().collect();
    let photo_bucket = Some(photo_bucket().await);
    let settings = AwsSettings {
        table: table.name.clone(),
        queue_urls,
        photo_bucket,
        jwt_key: Some(key),
        ses_send_rate: Some(1000.0),
        ses_senders: 1,
        ses_quota_hold: ums_aws::ses::QUOTA_HOLD,
        sign_in_providers: None,
    };
    let config = Config::local(std::env::temp_dir(), "127.0.0.1:3000".parse().unwrap());
    Aws { sdk: sdk().await, settings, config, dynamo: table.client.clone().into() }
}

pub fn new_key() -> JwtKeySource {
    JwtKeySource::Pem(shared::credentials::jwt::generate_pem().unwrap())
}

/// One group's router with the shared layers, as its function serves it.
pub fn function(routes: axum::Router) -> axum::Router {
    http::finish(routes, 16 * 1024, &http::KnownRoutes::of(docs::document))
}

async fn invoke(app: &axum::Router, event_file: &str) -> (u16, Value) {
    let path = format!("{}/../events/{event_file}", env!("CARGO_MANIFEST_DIR"));
    let event = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let request = lambda::from_api_gateway(
        from_str(&event).unwrap_or_else(|e| panic!("{event_file} is not an HTTP API event: {e}")),
    );
    // Where the request came from, as API Gateway saw it: what every limit counts per.
    let event: Value = serde_json::from_str(&event).unwrap();
    let source = request.extensions().get::<shared::http::Source>().map(|s| s.0.as_str());
    assert_eq!(source, event["requestContext"]["http"]["sourceIp"].as_str(), "{event_file}");
    let (parts, body) = request.into_parts();
    let request = axum::http::Request::from_parts(parts, Body::from(body.to_vec()));
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_sample_event_reaches_its_route() {
    let (table, queues) = (Table::create().await, Queues::create(3).await);
    let aws = aws_on_emulator(&table, Some(&queues), new_key()).await;
    let auth = function(shared::auth::router(aws.auth_state().await.unwrap()));
    let users = function(shared::users::router(aws.users_state().await.unwrap()));
    let moderation = function(shared::moderation::router(aws.moderation_state().await.unwrap()));
    let social = function(shared::social::router(aws.social_state().await.unwrap()));
    let docs = function(docs::router(DocsState::new()));

    // In order: the reader registers before logging in.
    let expected = [
        (&auth, "auth/register-reader.json", 201, None),
        (&auth, "auth/register-author.json", 201, None),
        (&auth, "auth/register-moderator.json", 401, Some("unauthorized")),
        (&auth, "auth/login.json", 403, Some("email_not_confirmed")),
        (&auth, "auth/login-named-stage.json", 403, Some("email_not_confirmed")),
        (&auth, "auth/refresh.json", 401, Some("invalid_refresh_token")),
        (&auth, "auth/logout.json", 401, Some("unauthorized")),
        (&auth, "auth/send-confirm-email.json", 202, None),
        (&auth, "auth/confirm-email.json", 400, Some("invalid_token")),
        (&auth, "auth/send-reset-password-email.json", 202, None),
        (&auth, "auth/reset-password.json", 400, Some("invalid_token")),
        (&auth, "auth/change-password.json", 401, Some("unauthorized")),
        (&auth, "auth/openid-configuration.json", 200, None),
        (&auth, "auth/jwks.json", 200, None),
        // The pages (HTML): a GET shows the form; a token we never made fails as a page.
        (&auth, "auth/confirm-email-page.json", 200, None),
        (&auth, "auth/confirm-email-form.json", 400, None),
        (&auth, "auth/reset-password-page.json", 200, None),
        (&auth, "auth/reset-password-form.json", 400, None),
        (&users, "users/user.json", 401, Some("unauthorized")),
        (&users, "users/update-me.json", 401, Some("unauthorized")),
        (&users, "users/export.json", 401, Some("unauthorized")),
        (&users, "users/delete-me.json", 401, Some("unauthorized")),
        (&users, "users/upload-photo.json", 401, Some("unauthorized")),
        (&users, "users/delete-photo.json", 401, Some("unauthorized")),
        (&users, "users/confirm-email-change.json", 400, Some("invalid_token")),
        (&users, "users/confirm-email-change-page.json", 200, None),
        (&users, "users/confirm-email-change-form.json", 400, None),
        (&users, "users/admin.json", 401, Some("unauthorized")),
        (&users, "users/update-admin.json", 401, Some("unauthorized")),
        (&users, "users/delete-admin.json", 401, Some("unauthorized")),
        (&users, "users/moderator.json", 401, Some("unauthorized")),
        (&users, "users/update-moderator.json", 401, Some("unauthorized")),
        (&users, "users/delete-moderator.json", 401, Some("unauthorized")),
        (&users, "users/author.json", 404, Some("not_found")),
        (&users, "users/authors.json", 200, None),
        (&users, "users/users.json", 401, Some("unauthorized")),
        (&users, "users/admins.json", 401, Some("unauthorized")),
        (&users, "users/moderators.json", 401, Some("unauthorized")),
        (&moderation, "moderation/report-author.json", 401, Some("unauthorized")),
        (&moderation, "moderation/reported-authors.json", 401, Some("unauthorized")),
        (&moderation, "moderation/flag-author.json", 401, Some("unauthorized")),
        (&moderation, "moderation/flagged-authors.json", 401, Some("unauthorized")),
        (&moderation, "moderation/suspend-author.json", 401, Some("unauthorized")),
        (&moderation, "moderation/unsuspend-author.json", 401, Some("unauthorized")),
        (&moderation, "moderation/suspended-authors.json", 401, Some("unauthorized")),
        (&moderation, "moderation/moderation-audit.json", 401, Some("unauthorized")),
        (&social, "social/subscribe.json", 401, Some("unauthorized")),
        (&social, "social/unsubscribe.json", 401, Some("unauthorized")),
        (&social, "social/follow.json", 401, Some("unauthorized")),
        (&social, "social/unfollow.json", 401, Some("unauthorized")),
        (&social, "social/subscribers.json", 401, Some("unauthorized")),
        (&social, "social/subscriptions.json", 401, Some("unauthorized")),
        (&social, "social/followers.json", 404, Some("not_found")),
        (&social, "social/follows.json", 404, Some("not_found")),
        (&social, "social/notify-subscribers.json", 401, Some("unauthorized")),
        (&social, "social/notification.json", 401, Some("unauthorized")),
        (&social, "social/unsubscribe-page.json", 400, None),
        (&social, "social/unsubscribe-by-link.json", 400, Some("invalid_token")),
        (&docs, "docs/health.json", 200, None),
        (&docs, "docs/openapi.json", 200, None),
        (&docs, "docs/apidocs.json", 303, None),
        (&docs, "docs/apidocs-file.json", 200, None),
    ];
    for (app, event, status, code) in expected {
        let (got, body) = invoke(app, event).await;
        assert_eq!(got, status, "{event}: {body}");
        if let Some(code) = code {
            assert_eq!(body["code"], code, "{event}");
        }
    }
    // The registrations queued their confirmation emails on SQS.
    assert_eq!(queues.count(&queues.url).await, 4);
}

#[tokio::test]
async fn a_route_of_another_group_is_not_served_by_this_function() {
    let (table, queues) = (Table::create().await, Queues::create(3).await);
    let aws = aws_on_emulator(&table, Some(&queues), new_key()).await;

    let (status, body) =
        invoke(&function(shared::auth::router(aws.auth_state().await.unwrap())), "users/user.json").await;

    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn each_function_builds_only_the_clients_its_group_uses() {
    let table = Table::create().await;
    // No queue URL in the environment: the groups that queue emails refuse to start, each
    // naming the variable its function lacks.
    let aws = aws_on_emulator(&table, None, new_key()).await;

    let refused = aws.auth_state().await.err().expect("the auth group cannot start without its email queue");
    assert!(refused.to_string().contains("UMS_EMAIL_QUEUE_URL"), "{refused}");
    let refused = aws.users_state().await.err().expect("the users group cannot start without its email queue");
    assert!(refused.to_string().contains("UMS_EMAIL_QUEUE_URL"), "{refused}");
    // Nor without the photo queue: the photo worker deletes the files users remove.
    let mut aws = aws;
    aws.settings.queue_urls.insert(Queue::Email, "http://127.0.0.1:1/queue/email".into());
    let refused = aws.users_state().await.err().expect("the users group cannot start without its photo queue");
    assert!(refused.to_string().contains("UMS_PHOTO_QUEUE_URL"), "{refused}");
}

#[tokio::test]
async fn the_key_set_comes_from_ssm_and_a_rotation_there_reaches_a_running_function() {
    use shared::{credentials::keyset::KeySet, operator::jwt_key};
    use ums_aws::lambda::KeySetParameter;

    let (table, queues) = (Table::create().await, Queues::create(3).await);
    let sdk = sdk().await;
    let name = crate::emulator::unique("/ums/jwt-signing-key");
    // A lone PEM, as deployments before key sets hold.
    let pem = shared::credentials::jwt::generate_pem().unwrap();
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    ssm.put_parameter()
        .name(&name)
        .value(&pem)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();

    let mut aws = aws_on_emulator(&table, Some(&queues), JwtKeySource::SsmParameter(name.clone())).await;
    aws.config.jwt.keys_reload = std::time::Duration::ZERO;
    let state = aws.auth_state().await.unwrap();
    let expected = shared::credentials::JwtKeys::fixed(&pem, &state.config.jwt).unwrap();
    let first = state.keys.kid().await;
    assert_eq!(first, expected.kid().await);

    // `ums-aws jwt-key rotate`, twice: a set of one key gets its next key published, then it signs.
    let parameter = KeySetParameter { client: ssm.clone(), name: name.clone() };
    let now = time::OffsetDateTime::now_utc();
    let mut reports = vec![];
    for _ in 0..2 {
        let (text, version) = parameter.read_versioned().await.unwrap();
        let mut set = KeySet::parse(&text).unwrap();
        reports.push(jwt_key::rotate(&mut set, now, 0, state.config.jwt.access_token_ttl).unwrap());
        parameter.write_over(&set.to_json(), version).await.unwrap();
    }
    assert!(reports[0].starts_with("published the next key"), "{reports:?}");
    let signing = state.keys.kid().await;
    assert_ne!(signing, first, "the running function signs with the key published ahead");
    assert!(reports[1].starts_with(&format!("signing with {signing}")), "{reports:?}");
    let published = state.keys.jwks().await["keys"].as_array().unwrap().len();
    assert_eq!(published, 3, "next, signing and the retired first key");

    // Another writer between a rotation's read and its write is caught, not silently undone.
    let (text, version) = parameter.read_versioned().await.unwrap();
    ssm.put_parameter()
        .name(&name)
        .value(&text)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    let caught = parameter.write_over(&text, version).await.unwrap_err();
    assert!(caught.to_string().contains("another writer"), "{caught}");
    ssm.delete_parameter().name(name).send().await.unwrap();
}

#[tokio::test]
async fn the_sample_worker_event_sends_its_email() {
    let table = Table::create().await;
    let worker = ses_worker(&table, "Blog Platform <no-reply@blog.example>").await;
    let event =
        std::fs::read_to_string(format!("{}/../events/email-worker/send-email.json", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
    let response = ums_aws::worker::handle_batch(serde_json::from_str(&event).unwrap(), &worker, &table.store()).await;

    assert!(response.batch_item_failures.is_empty());
    assert!(sent_emails().await.iter().any(|m| m.contains("confirm_email?token=sample")));
}

#[tokio::test]
async fn the_sample_fan_out_event_of_a_notification_that_is_gone_is_acknowledged() {
    let (table, queues) = (Table::create().await, Queues::create(3).await);
    let aws = aws_on_emulator(&table, Some(&queues), new_key()).await;
    let (worker, records) = aws.notify_worker().await.unwrap();
    let event = std::fs::read_to_string(format!("{}/../events/notify-worker/fan-out.json", env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    let response = ums_aws::worker::handle_batch(serde_json::from_str(&event).unwrap(), &worker, &records).await;

    assert!(response.batch_item_failures.is_empty());
    assert_eq!(queues.count(&queues.url).await, 0, "nothing to fan out");
}

#[tokio::test]
async fn the_docs_function_answers_what_no_route_matches_as_the_local_server_does() {
    let docs = function(docs::router(DocsState::new()));
    let call = |method: &str, path: &str| {
        let request = axum::http::Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
        docs.clone().oneshot(request)
    };

    let response = call("GET", "/api/v1/nothing-here").await.unwrap();
    assert_eq!(response.status(), 404);
    let response = call("GET", "/api/v1/auth/login").await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let response = call("DELETE", "/api/v1/auth/register/reader").await.unwrap();
    assert_eq!(
        (response.status().as_u16(), &response.headers()["allow"]),
        (405, &"POST".parse::<axum::http::HeaderValue>().unwrap())
    );
}
