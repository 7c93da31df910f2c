//! A stand-in for SES v2 on 127.0.0.1, as SES behaves under load: `GetAccount` tells a sending
//! rate; `SendEmail` takes at most `enforced_rate` emails in any one second and answers the rest
//! 429 `TooManyRequestsException`, throttles a few more at random (another sender on the account
//! used the second; so a slow machine that never reaches the rate is throttled too), and fails a
//! few at random with a 500. With a daily quota set (`set_daily_quota`), `GetAccount` tells it
//! and what was sent, and sends beyond it are throttled as SES throttles them. Point the email
//! worker's SES client at it with `AWS_ENDPOINT_URL_SESV2` (or `ses_client`'s endpoint).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};

/// How the stand-in behaves.
#[derive(Clone, Copy, Debug)]
pub struct SesLimits {
    /// What `GetAccount` says the account may send a second.
    pub advertised_rate: f64,
    /// What it takes: sends beyond this many in any second are throttled.
    pub enforced_rate: usize,
    /// The share of sends throttled whatever the rate (another sender used the second).
    pub throttles: f64,
    /// The share of sends that fail with a 500, whatever the rate.
    pub server_errors: f64,
}

/// An email the stand-in took.
#[derive(Clone, Debug)]
pub struct Accepted {
    pub to: String,
    pub at: Instant,
}

#[derive(Default)]
struct Ledger {
    window: VecDeque<Instant>,
    accepted: Vec<Accepted>,
    throttled: usize,
    server_errors: usize,
}

#[derive(Clone)]
pub struct SesStandIn {
    pub url: String,
    limits: SesLimits,
    ledger: Arc<Mutex<Ledger>>,
    /// Emails the account may send in 24 hours, if limited.
    daily_quota: Arc<Mutex<Option<usize>>>,
}

impl SesStandIn {
    pub async fn start(limits: SesLimits) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stand_in = Self { url, limits, ledger: Arc::default(), daily_quota: Arc::default() };
        let app = Router::new()
            .route("/v2/email/account", get(account))
            .route("/v2/email/outbound-emails", post(send_email))
            .with_state(stand_in.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        stand_in
    }

    /// Limits the 24 hours' sends (what was accepted counts as sent in them); raising it is the
    /// window rolling past earlier sends.
    pub fn set_daily_quota(&self, quota: usize) {
        *self.daily_quota.lock().unwrap() = Some(quota);
    }

    /// The emails taken so far, oldest first.
    pub fn accepted(&self) -> Vec<Accepted> {
        self.ledger.lock().unwrap().accepted.clone()
    }

    /// Sends answered 429 and 500 so far.
    pub fn refusals(&self) -> (usize, usize) {
        let ledger = self.ledger.lock().unwrap();
        (ledger.throttled, ledger.server_errors)
    }

    /// The most emails taken in any one second.
    pub fn busiest_second(&self) -> usize {
        let times: Vec<Instant> = self.accepted().iter().map(|a| a.at).collect();
        let mut most = 0;
        let mut start = 0;
        for (end, at) in times.iter().enumerate() {
            while *at - times[start] >= Duration::from_secs(1) {
                start += 1;
            }
            most = most.max(end - start + 1);
        }
        most
    }
}

async fn account(State(stand_in): State<SesStandIn>) -> Json<serde_json::Value> {
    let quota = stand_in.daily_quota.lock().unwrap().map_or(1_000_000.0, |q| q as f64);
    let sent = stand_in.ledger.lock().unwrap().accepted.len() as f64;
    Json(serde_json::json!({
        "SendQuota": { "Max24HourSend": quota, "MaxSendRate": stand_in.limits.advertised_rate, "SentLast24Hours": sent },
        "SendingEnabled": true,
        "ProductionAccessEnabled": true,
        "EnforcementStatus": "HEALTHY",
        "DedicatedIpAutoWarmupEnabled": false,
    }))
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "message": message });
    (status, [("x-amzn-ErrorType", code), ("content-type", "application/json")], Json(body)).into_response()
}

async fn send_email(State(stand_in): State<SesStandIn>, Json(request): Json<serde_json::Value>) -> Response {
    let to = request["Destination"]["ToAddresses"][0].as_str().unwrap_or_default().to_string();
    let now = Instant::now();
    let mut ledger = stand_in.ledger.lock().unwrap();
    if rand::random::<f64>() < stand_in.limits.server_errors {
        ledger.server_errors += 1;
        return error(StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure", "Something went wrong.");
    }
    while ledger.window.front().is_some_and(|at| now - *at >= Duration::from_secs(1)) {
        ledger.window.pop_front();
    }
    if ledger.window.len() >= stand_in.limits.enforced_rate || rand::random::<f64>() < stand_in.limits.throttles {
        ledger.throttled += 1;
        return error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException", "Maximum sending rate exceeded.");
    }
    if stand_in.daily_quota.lock().unwrap().is_some_and(|quota| ledger.accepted.len() >= quota) {
        ledger.throttled += 1;
        return error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException", "Daily message quota exceeded.");
    }
    ledger.window.push_back(now);
    ledger.accepted.push(Accepted { to, at: now });
    let id = ledger.accepted.len();
    Json(serde_json::json!({ "MessageId": format!("stand-in-{id}") })).into_response()
}
