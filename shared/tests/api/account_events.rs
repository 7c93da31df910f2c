//! The rest of the platform learns what happens to accounts: a consumer (a web server in the
//! test) receives each account event as a signed webhook, once by id, in order per account,
//! through failures, downtime and a crash of the delivery worker; a write that fails publishes
//! nothing.

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode as Status},
    response::IntoResponse,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_problem, on_aws_path, spawn_app, spawn_app_with};

/// What the consumer answers next.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Accept,
    /// Answers 500 to this many more deliveries, then accepts.
    Fail(u32),
    /// Records the delivery, then takes this long to answer it.
    Slow(Duration),
}

#[derive(Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone)]
struct Inbox {
    received: Arc<Mutex<Vec<Received>>>,
    mode: Arc<Mutex<Mode>>,
}

/// Another service of the platform, receiving account events at `url`.
struct Consumer {
    url: String,
    port: u16,
    inbox: Inbox,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

async fn receive(State(inbox): State<Inbox>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    inbox.received.lock().unwrap().push(Received { headers, body });
    let mode = *inbox.mode.lock().unwrap();
    let status = match mode {
        Mode::Accept => Status::NO_CONTENT,
        Mode::Fail(0) => Status::NO_CONTENT,
        Mode::Fail(n) => {
            *inbox.mode.lock().unwrap() = Mode::Fail(n - 1);
            Status::INTERNAL_SERVER_ERROR
        }
        Mode::Slow(wait) => {
            tokio::time::sleep(wait).await;
            Status::NO_CONTENT
        }
    };
    // No connection is kept: when the consumer goes down, the next delivery finds it down.
    (status, [("connection", "close")])
}

impl Consumer {
    async fn start(mode: Mode) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let inbox = Inbox { received: Default::default(), mode: Arc::new(Mutex::new(mode)) };
        let consumer =
            Consumer { url: format!("http://127.0.0.1:{port}/hooks"), port, inbox, server: Mutex::new(None) };
        consumer.serve(listener);
        consumer
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let router = axum::Router::new().route("/hooks", axum::routing::post(receive)).with_state(self.inbox.clone());
        *self.server.lock().unwrap() = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        }));
    }

    fn set_mode(&self, mode: Mode) {
        *self.inbox.mode.lock().unwrap() = mode;
    }

    /// Stops listening: deliveries find the port closed.
    fn go_down(&self) {
        if let Some(server) = self.server.lock().unwrap().take() {
            server.abort();
        }
    }

    async fn come_back(&self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.expect("the port again");
        self.serve(listener);
    }

    fn received(&self) -> Vec<Received> {
        self.inbox.received.lock().unwrap().clone()
    }

    /// Every delivery so far, each checked with the Standard Webhooks library against the
    /// endpoint's secret and its id header against the event's, as events.
    fn verified_events(&self, secret: &str) -> Vec<Value> {
        let hook = standardwebhooks::Webhook::new(secret).unwrap();
        self.received()
            .iter()
            .map(|r| {
                hook.verify(&r.body, &r.headers).expect("a valid Standard Webhooks signature");
                let event: Value = serde_json::from_slice(&r.body).unwrap();
                assert_eq!(r.headers["webhook-id"].to_str().unwrap(), event["id"].as_str().unwrap());
                assert_eq!(r.headers["content-type"], "application/json");
                event
            })
            .collect()
    }

    /// Waits until `count` distinct events have arrived (and a little longer, so that one more
    /// would be seen too).
    async fn wait_for(&self, count: usize) {
        for _ in 0..600 {
            let ids: HashSet<String> =
                self.received().iter().map(|r| r.headers["webhook-id"].to_str().unwrap().to_string()).collect();
            if ids.len() >= count {
                tokio::time::sleep(Duration::from_millis(300)).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{count} events did not arrive; got {}", self.received().len());
    }
}

/// The events as a consumer keeps them: the first of each id, then per account the types in
/// the order they came.
fn per_account(events: &[Value]) -> BTreeMap<String, Vec<String>> {
    let mut seen = HashSet::new();
    let mut accounts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for event in events {
        if seen.insert(event["id"].as_str().unwrap().to_string()) {
            let account = event["account_id"].as_str().unwrap().to_string();
            accounts.entry(account).or_default().push(event["type"].as_str().unwrap().to_string());
        }
    }
    accounts
}

fn expected(entries: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    entries.iter().map(|(id, kinds)| (id.to_string(), kinds.iter().map(|k| k.to_string()).collect())).collect()
}

/// Quick retries, so failures and downtime take a second, not minutes.
/// On the AWS path, scripts/aws-local's (a first retry after a second).
async fn app_with_quick_retries() -> TestApp {
    if on_aws_path() {
        return spawn_app().await;
    }
    spawn_app_with(|config| config.webhooks.first_retry = Duration::from_millis(100)).await
}

#[tokio::test]
async fn a_day_of_the_platform_reaches_a_consumer_as_signed_events_once_each_in_order_per_account() {
    let app = app_with_quick_retries().await;
    let consumer = Consumer::start(Mode::Accept).await;
    let endpoint = app.add_webhook(&consumer.url, &[]).await;
    let moderation_feed = Consumer::start(Mode::Accept).await;
    let moderation_endpoint = app.add_webhook(&moderation_feed.url, &["account.suspended", "account.deleted"]).await;

    let admin = app.admin("grace@example.com").await;
    let moderator = app.moderator("mod@example.com", &admin).await;
    let reader = app.signed_up("reader", "ada@example.com").await;
    let author = app.signed_up("author", "bob@example.com").await;
    let (grace, moderator_id, ada, bob) = (
        app.id_of(&admin.access).await,
        app.id_of(&moderator.access).await,
        app.id_of(&reader.access).await,
        app.id_of(&author.access).await,
    );
    assert_eq!(app.put_me(&reader.access, &json!({ "bio": "Reading about engines." })).await.status(), 200);
    assert!(app.subscribe(&reader.access, &bob).await.status().is_success());
    assert!(
        app.delete(&format!("/api/v1/subscribe/author?id={bob}"), &reader.access, None).await.status().is_success()
    );
    let reason = json!({ "reason": "Copied." });
    let report = app.post(&format!("/api/v1/report/author?id={bob}"), &reader.access, &reason).await;
    assert_eq!(report.status(), StatusCode::CREATED);
    let flag = app.post(&format!("/api/v1/flag/author?id={bob}"), &moderator.access, &reason).await;
    assert_eq!(flag.status(), StatusCode::CREATED);
    let suspend = app.post(&format!("/api/v1/suspend/author?id={bob}"), &admin.access, &reason).await;
    assert_eq!(suspend.status(), StatusCode::OK);
    let reinstate = app.post(&format!("/api/v1/unsuspend/author?id={bob}"), &admin.access, &json!({})).await;
    assert_eq!(reinstate.status(), StatusCode::OK);
    assert!(app.delete_me(&reader.access, PASSWORD).await.status().is_success());

    consumer.wait_for(15).await;
    let events = consumer.verified_events(&endpoint.secret);
    assert_eq!(events.len(), 15, "each event once: {events:#?}");
    assert_eq!(
        per_account(&events),
        expected(&[
            (&grace, &["account.registered"]),
            (&moderator_id, &["account.registered", "account.email_confirmed", "author.flagged"]),
            (
                &ada,
                &[
                    "account.registered",
                    "account.email_confirmed",
                    "account.profile_updated",
                    "author.subscribed",
                    "author.unsubscribed",
                    "author.reported",
                    "account.deleted",
                ]
            ),
            (&bob, &["account.registered", "account.email_confirmed", "account.suspended", "account.reinstated"]),
        ])
    );
    let first = |kind: &str| events.iter().find(|e| e["type"] == kind).unwrap().clone();
    assert_eq!(
        first("account.registered")["data"],
        json!({ "role": "admin", "email": "grace@example.com", "pending": false })
    );
    assert_eq!(first("author.flagged")["data"], json!({ "author_id": bob }));
    assert_eq!(first("account.suspended")["data"], json!({ "until": null }));
    assert_eq!(first("account.profile_updated")["data"]["bio"], "Reading about engines.");
    assert_eq!(first("account.deleted")["data"], json!({}));
    assert!(events.iter().all(|e| e["schema_version"] == 1 && e["time"].is_string()));
    let bodies: String = consumer.received().iter().map(|r| String::from_utf8_lossy(&r.body).into_owned()).collect();
    assert!(!bodies.contains("argon2") && !bodies.contains(PASSWORD), "no secret in any event");

    // Admins see where each endpoint's deliveries stand (never its secret); no one else does.
    // (The AWS path's worker records a batch's deliveries right after it: looked at until then.)
    let (last, mut mine, mut seen) = (events.last().unwrap()["id"].clone(), Value::Null, Value::Null);
    for _ in 0..50 {
        seen = app.get("/api/v1/admin/webhooks", &admin.access).await.json().await.unwrap();
        mine = seen["items"].as_array().unwrap().iter().find(|e| e["id"] == endpoint.id.as_str()).unwrap().clone();
        if mine["last_delivered_event"] == last {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!((mine["url"].as_str(), mine["state"].as_str()), (Some(consumer.url.as_str()), Some("delivering")));
    assert_eq!(mine["last_delivered_event"], last, "{mine}");
    assert_eq!(mine["failures"], 0);
    assert!(!seen.to_string().contains(&endpoint.secret) && !seen.to_string().contains("whsec_"));
    let refused = app.get("/api/v1/admin/webhooks", &moderator.access).await;
    assert_problem(refused, StatusCode::FORBIDDEN, "forbidden").await;

    // An endpoint for two types gets those two, in order, and nothing else.
    moderation_feed.wait_for(2).await;
    let moderation = moderation_feed.verified_events(&moderation_endpoint.secret);
    let kinds: Vec<_> = moderation.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["account.suspended", "account.deleted"]);
    // The signature is the endpoint's own: another endpoint's secret does not verify it.
    let other = standardwebhooks::Webhook::new(&endpoint.secret).unwrap();
    let received = &moderation_feed.received()[0];
    assert!(other.verify(&received.body, &received.headers).is_err());
}

/// One consumer down (its port closed) for the whole while, for an hour in process: the other
/// receives every event, in order, as it happens, because each endpoint has its own lane (a
/// message group on AWS, a position of its own on the laptop). Admins see the one behind and
/// by how much; when it comes back it gets everything it missed, in order.
#[tokio::test]
async fn one_endpoint_down_for_an_hour_holds_up_no_other_and_gets_everything_when_it_comes_back() {
    let app = app_with_quick_retries().await;
    let healthy = Consumer::start(Mode::Accept).await;
    let broken = Consumer::start(Mode::Accept).await;
    broken.go_down();
    let healthy_endpoint = app.add_webhook(&healthy.url, &[]).await;
    let broken_endpoint = app.add_webhook(&broken.url, &[]).await;

    let admin = app.admin("grace@example.com").await;
    let ada = app.signed_up("reader", "ada@example.com").await;
    for bio in ["One.", "Two.", "Three."] {
        assert_eq!(app.put_me(&ada.access, &json!({ "bio": bio })).await.status(), 200);
    }
    let ada_id = app.id_of(&ada.access).await;
    let in_order = [
        "account.registered",
        "account.email_confirmed",
        "account.profile_updated",
        "account.profile_updated",
        "account.profile_updated",
    ];

    healthy.wait_for(6).await;
    assert_eq!(per_account(&healthy.verified_events(&healthy_endpoint.secret))[&ada_id], in_order);
    assert!(broken.received().is_empty());
    if app.is_in_process() {
        // An hour of the retries' doubling waits, every one refused.
        for _ in 0..12 {
            app.advance_clock(time::Duration::minutes(5));
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    } else {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // (The admin's access token of an hour ago has expired: its session refreshes it.)
    let admin = crate::helpers::Tokens::from(app.post_refresh(&admin.refresh).await).await;
    let statuses: Value = app.get("/api/v1/admin/webhooks", &admin.access).await.json().await.unwrap();
    let status_of = |id: &str| statuses["items"].as_array().unwrap().iter().find(|e| e["id"] == id).unwrap().clone();
    let (fine, behind) = (status_of(&healthy_endpoint.id), status_of(&broken_endpoint.id));
    assert_eq!((fine["state"].as_str(), fine["behind_secs"].as_u64()), (Some("delivering"), Some(0)), "{fine}");
    assert_eq!(behind["state"], "failing", "{behind}");
    // (In process the delivery worker notes failures by the machine's clock, the route reads the
    // story's: the hour, less the second or two the story took before the first refusal.)
    let waited = if app.is_in_process() { 3500 } else { 1 };
    assert!(behind["behind_secs"].as_u64().unwrap() >= waited, "behind by how long it failed: {behind}");
    assert!(behind["failures"].as_u64().unwrap() >= 2, "{behind}");

    // Meanwhile the healthy one takes what happens now, at once.
    let ada = crate::helpers::Tokens::from(app.post_refresh(&ada.refresh).await).await;
    assert_eq!(app.put_me(&ada.access, &json!({ "bio": "Four." })).await.status(), 200);
    healthy.wait_for(7).await;

    broken.come_back().await;
    if app.is_in_process() {
        app.advance_clock(time::Duration::hours(1));
    }
    broken.wait_for(7).await;
    let caught_up = per_account(&broken.verified_events(&broken_endpoint.secret));
    assert_eq!(caught_up[&ada_id], [&in_order[..], &["account.profile_updated"]].concat(), "everything, in order");
}

// In process only: the consumer's faults and the worker's crash need the in-process app.
#[tokio::test]
async fn in_process_failures_downtime_and_a_crash_of_the_worker_lose_no_event_and_keep_each_accounts_order() {
    let app = app_with_quick_retries().await;
    let consumer = Consumer::start(Mode::Fail(3)).await;
    let endpoint = app.add_webhook(&consumer.url, &[]).await;

    // The first three deliveries fail: the first event is retried before any later one.
    let ada = app.signed_up("reader", "ada@example.com").await;
    let bob = app.signed_up("author", "bob@example.com").await;
    consumer.wait_for(4).await;

    // Down for a while: every delivery meanwhile finds the port closed.
    consumer.go_down();
    assert_eq!(app.put_me(&ada.access, &json!({ "bio": "One." })).await.status(), 200);
    assert_eq!(app.put_me(&bob.access, &json!({ "bio": "Two." })).await.status(), 200);
    assert_eq!(app.put_me(&ada.access, &json!({ "bio": "Three." })).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    consumer.come_back().await;
    consumer.wait_for(7).await;

    // The worker crashes after sending an event and before recording it: sent again, same id.
    consumer.set_mode(Mode::Slow(Duration::from_secs(2)));
    assert_eq!(app.put_me(&bob.access, &json!({ "bio": "Four." })).await.status(), 200);
    let before = consumer.received().len();
    for _ in 0..200 {
        if consumer.received().len() > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(consumer.received().len() > before, "the event was sent");
    app.crash_and_restart_event_worker().await;
    consumer.set_mode(Mode::Accept);
    assert_eq!(app.put_me(&ada.access, &json!({ "bio": "Five." })).await.status(), 200);
    consumer.wait_for(9).await;

    let events = consumer.verified_events(&endpoint.secret);
    let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let distinct: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), 9, "every event arrived");
    assert!(ids.len() > 9, "some arrived more than once (the failures and the crash), with the same id");
    let (ada_id, bob_id) = (app.id_of(&ada.access).await, app.id_of(&bob.access).await);
    let updated = ["account.profile_updated"; 3];
    let with_updates = |updates: &[&'static str]| {
        let mut kinds = vec!["account.registered", "account.email_confirmed"];
        kinds.extend_from_slice(updates);
        kinds
    };
    assert_eq!(
        per_account(&events),
        expected(&[(&ada_id, &with_updates(&updated)), (&bob_id, &with_updates(&updated[..2]))])
    );
    let bios: Vec<_> = events
        .iter()
        .filter(|e| e["account_id"] == ada_id.as_str() && e["type"] == "account.profile_updated")
        .map(|e| e["data"]["bio"].as_str().unwrap())
        .collect();
    assert_eq!(bios.first().copied(), Some("One."));
    assert_eq!(bios.last().copied(), Some("Five."));

    // The endpoint's log tells the operator what happened.
    let log = app.local().db.endpoint_log(&endpoint.id, 100).await.unwrap();
    let failed = log.iter().filter(|l| l.what == "failed").count();
    assert!(failed >= 4, "three answered 500, at least one found it down: {log:#?}");
    assert!(log.iter().any(|l| l.what == "failed" && l.status == Some(500)));
    let states = app.local().db.endpoints().await.unwrap();
    assert_eq!((states[0].failures, states[0].behind, states[0].disabled_at), (0, 0, None));
    // Admins see it delivering again, the last event taken.
    let admin = app.admin("grace@example.com").await;
    let seen: Value = app.get("/api/v1/admin/webhooks", &admin.access).await.json().await.unwrap();
    assert_eq!(
        (seen["items"][0]["state"].as_str(), seen["items"][0]["failures"].as_u64()),
        (Some("delivering"), Some(0))
    );
    assert!(seen["items"][0]["last_delivered_event"].is_string() && seen["items"][0]["failing_since"].is_null());
}

// In process only: the retry window is the in-process app's setting.
#[tokio::test]
async fn in_process_an_endpoint_failing_past_the_retry_window_is_disabled_and_resumes_where_it_stopped_when_enabled() {
    let app = spawn_app_with(|config| {
        config.webhooks.first_retry = Duration::from_millis(100);
        config.webhooks.retry_for = Duration::from_secs(1);
    })
    .await;
    let consumer = Consumer::start(Mode::Fail(u32::MAX)).await;
    let endpoint = app.add_webhook(&consumer.url, &[]).await;
    app.register("reader", "ada@example.com").await;

    let mut states = Vec::new();
    for _ in 0..100 {
        states = app.local().db.endpoints().await.unwrap();
        if states[0].disabled_at.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(states[0].disabled_at.is_some(), "disabled after failing for the whole window: {states:#?}");
    assert!(states[0].last_error.as_deref().unwrap().contains("500"));
    let admin = app.admin("grace@example.com").await;
    let seen: Value = app.get("/api/v1/admin/webhooks", &admin.access).await.json().await.unwrap();
    let status = &seen["items"][0];
    assert_eq!((status["state"].as_str(), status["failures"].as_u64().map(|n| n > 1)), (Some("disabled"), Some(true)));
    assert!(status["disabled_at"].is_string() && status["failing_since"].is_string(), "{status}");
    assert!(status["last_error"].as_str().unwrap().contains("500"));
    let log = app.local().db.endpoint_log(&endpoint.id, 100).await.unwrap();
    assert_eq!(log[0].what, "disabled", "the log says so, and why: {log:#?}");
    assert!(log[0].detail.as_deref().unwrap().contains("retry window"));

    // While disabled nothing is sent; enabled again, it gets what it missed, in order.
    app.register("author", "bob@example.com").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tried = consumer.received().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(consumer.received().len(), tried, "a disabled endpoint is not called");
    consumer.set_mode(Mode::Accept);
    assert!(app.local().db.enable_endpoint(&endpoint.id, time::OffsetDateTime::now_utc()).await.unwrap());
    consumer.wait_for(3).await;
    let events = consumer.verified_events(&endpoint.secret);
    let emails: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "account.registered")
        .map(|e| e["data"]["email"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(emails.first().map(String::as_str), Some("ada@example.com"));
    assert_eq!(emails.last().map(String::as_str), Some("bob@example.com"));
}

#[tokio::test]
async fn a_refused_or_lost_write_publishes_nothing() {
    let app = app_with_quick_retries().await;
    let consumer = Consumer::start(Mode::Accept).await;
    let endpoint = app.add_webhook(&consumer.url, &[]).await;
    let grace = app.admin("grace@example.com").await;
    let grace_id = app.id_of(&grace.access).await;

    // The last admin can neither leave nor be demoted: nothing happened, nothing is published.
    assert_problem(app.delete_me(&grace.access, PASSWORD).await, StatusCode::CONFLICT, "last_admin").await;
    let demote = app.put(&format!("/api/v1/admin?id={grace_id}"), &grace.access, &json!({ "role": "reader" })).await;
    assert_problem(demote, StatusCode::CONFLICT, "last_admin").await;

    // Two admins demote each other at once: one wins, the other loses (the last admin, or a
    // token that no longer holds); one role change is published.
    let alan = app.admin("alan@example.com").await;
    let alan_id = app.id_of(&alan.access).await;
    let demotion = json!({ "role": "reader" });
    let (demote_alan, demote_grace) = (format!("/api/v1/admin?id={alan_id}"), format!("/api/v1/admin?id={grace_id}"));
    let (a, b) =
        tokio::join!(app.put(&demote_alan, &grace.access, &demotion), app.put(&demote_grace, &alan.access, &demotion),);
    let won = [a.status(), b.status()].iter().filter(|s| s.is_success()).count();
    assert_eq!(won, 1, "exactly one demotion: {:?}", (a.status(), b.status()));

    // A marker after everything: when it arrives, everything before it has.
    app.register("reader", "marker@example.com").await;
    consumer.wait_for(4).await;
    let kinds: Vec<_> =
        consumer.verified_events(&endpoint.secret).iter().map(|e| e["type"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds, ["account.registered", "account.registered", "account.role_changed", "account.registered"]);
}
