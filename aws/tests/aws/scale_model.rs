//! The scale model of `docs/scale.md`: what a notification's fan-out takes (time and money) at
//! a given size and SES rate, and what the service costs a month at 100k monthly active users.
//! Its inputs are measured: per subscriber by `write_units.rs` (which fails when what it
//! measures strays from [`MEASURED`] by more than 5%), per route by `docs/dynamodb.md`'s calls
//! table (kept true by `dynamodb_calls.rs`). The rest (prices, usage, durations) are stated
//! assumptions, printed with the model. The test below fails when the document's tables are
//! not what the model computes.

use std::collections::BTreeMap;

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/scale.md");
const CALLS_DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/dynamodb.md");
const START: &str = "<!-- model:start -->";
const END: &str = "<!-- model:end -->";

/// What one subscriber of a notification costs the pipeline, as measured.
#[derive(Clone, Copy, Debug)]
pub struct PerSubscriber {
    /// DynamoDB write request units (1 KB each; an item in a transaction costs two).
    pub write_units: f64,
    /// DynamoDB read request units (4 KB strongly consistent, half for an index read).
    pub read_units: f64,
    /// SQS requests the workers make (`SendMessage`, `SendMessageBatch` of up to 10).
    pub send_requests: f64,
    /// Worker invocations (an email batch of 10, a fan-out step).
    pub invocations: f64,
}

/// The figures `write_units.rs` measures for a 10,000-character message to 300 subscribers.
pub const MEASURED: PerSubscriber =
    PerSubscriber { write_units: 3.28, read_units: 1.12, send_requests: 0.11, invocations: 0.11 };

/// Published on-demand prices, us-east-1 (USD), as of 2026.
mod price {
    pub const WRITE_UNIT: f64 = 0.625 / 1e6;
    pub const READ_UNIT: f64 = 0.125 / 1e6;
    pub const SQS_REQUEST: f64 = 0.40 / 1e6;
    pub const SES_EMAIL: f64 = 0.10 / 1e3;
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    /// arm64, per GB-second.
    pub const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
    /// HTTP API, per request (the first 300 million a month).
    pub const HTTP_API_REQUEST: f64 = 1.00 / 1e6;
    pub const LOG_GB: f64 = 0.50;
    /// Amazon Cognito user pools, per monthly active user beyond the first 10,000.
    pub const COGNITO_LITE_MAU: f64 = 0.0055;
    pub const COGNITO_ESSENTIALS_MAU: f64 = 0.015;
    pub const COGNITO_FREE_MAU: f64 = 10_000.0;
}

/// An SES account: its sending rate and its 24-hour quota.
struct SesAccount {
    name: &'static str,
    per_second: f64,
    per_day: f64,
}

const SES_ACCOUNTS: [SesAccount; 2] = [
    SesAccount { name: "14/s, 50,000 a day (a new production account)", per_second: 14.0, per_day: 50_000.0 },
    SesAccount { name: "200/s, 5,000,000 a day (raised on request)", per_second: 200.0, per_day: 5_000_000.0 },
];

/// Email worker instances sending at once (the template's `SesSenders` default) and their size.
const SENDERS: f64 = 2.0;
const EMAIL_WORKER_GB: f64 = 0.25;
/// The shortest an email batch of 10 takes when SES does not hold it back (10 sends at once).
const EMAIL_BATCH_FLOOR_SECONDS: f64 = 0.15;
/// Subscribers queued per second by one fan-out segment on AWS: a page of 100 is a `Query`,
/// 10 `SendMessageBatch` (4 at once) and an `UpdateItem`, about 100 ms in one region.
const QUEUED_PER_SEGMENT_PER_SECOND: f64 = 1_000.0;
const SEGMENTS: f64 = 8.0;
/// A delivery item (the largest measured) kept 15 days, at $0.25 per GB-month.
const DELIVERY_ITEM_BYTES: f64 = 143.0;

fn duration(seconds: f64) -> String {
    match seconds {
        s if s < 120.0 => format!("{s:.0} s"),
        s if s < 2.0 * 3600.0 => format!("{:.0} min", s / 60.0),
        s if s < 2.0 * 86_400.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} days", s / 86_400.0),
    }
}

fn dollars(amount: f64) -> String {
    if amount < 10.0 { format!("${amount:.2}") } else { format!("${}", thousands(amount)) }
}

/// A fan-out to `subscribers` on `ses`: how long until the last email is sent, and its cost by
/// service.
fn fan_out(subscribers: f64, ses: &SesAccount, measured: &PerSubscriber) -> (f64, BTreeMap<&'static str, f64>) {
    let queueing = subscribers / (QUEUED_PER_SEGMENT_PER_SECOND * SEGMENTS);
    // Whole days of quota (less the share kept for transactional email: the copies are held
    // when only that is left), then the rest at the rate.
    let per_day = ses.per_day * (1.0 - ums_aws::ses::TRANSACTIONAL_RESERVE);
    let full_days = ((subscribers / per_day).ceil() - 1.0).max(0.0);
    let last_day = subscribers - full_days * per_day;
    let seconds = (full_days * 86_400.0 + last_day / ses.per_second).max(queueing);
    let batch_seconds = (10.0 / (ses.per_second / SENDERS)).max(EMAIL_BATCH_FLOOR_SECONDS);
    let lambda_gb_seconds = subscribers / 10.0 * batch_seconds * EMAIL_WORKER_GB;
    // The event source mapping receives and deletes each batch (2 requests per 10).
    let sqs_requests = subscribers * (measured.send_requests + 2.0 * measured.invocations);
    let mut cost = BTreeMap::new();
    cost.insert("SES", subscribers * price::SES_EMAIL);
    cost.insert(
        "DynamoDB",
        subscribers * (measured.write_units * price::WRITE_UNIT + measured.read_units * price::READ_UNIT)
            + subscribers * DELIVERY_ITEM_BYTES / 1e9 * 0.25 * 0.5,
    );
    cost.insert("SQS", sqs_requests * price::SQS_REQUEST);
    cost.insert(
        "Lambda",
        subscribers * measured.invocations * price::LAMBDA_REQUEST + lambda_gb_seconds * price::LAMBDA_GB_SECOND,
    );
    (seconds, cost)
}

/// A route's share of a monthly active user's month: how often, how long its function runs,
/// and that function's memory.
struct Usage {
    route: &'static str,
    per_user: f64,
    milliseconds: f64,
    gigabytes: f64,
    emails: f64,
}

const MONTHLY_ACTIVE_USERS: f64 = 100_000.0;

const USAGE: [Usage; 12] = [
    Usage { route: "GET user", per_user: 100.0, milliseconds: 10.0, gigabytes: 1.0, emails: 0.0 },
    Usage { route: "GET author (with its counts)", per_user: 100.0, milliseconds: 10.0, gigabytes: 1.0, emails: 0.0 },
    Usage { route: "GET authors (one page)", per_user: 20.0, milliseconds: 15.0, gigabytes: 1.0, emails: 0.0 },
    Usage { route: "POST auth/refresh", per_user: 60.0, milliseconds: 15.0, gigabytes: 1.0, emails: 0.0 },
    Usage { route: "POST auth/login (success)", per_user: 8.0, milliseconds: 70.0, gigabytes: 1.0, emails: 0.0 },
    Usage { route: "POST auth/logout", per_user: 2.0, milliseconds: 10.0, gigabytes: 1.0, emails: 0.0 },
    Usage { route: "PUT user", per_user: 0.5, milliseconds: 15.0, gigabytes: 1.0, emails: 0.0 },
    Usage { route: "POST subscribe/author", per_user: 1.0, milliseconds: 15.0, gigabytes: 0.25, emails: 0.0 },
    Usage { route: "POST auth/register/{role}", per_user: 0.1, milliseconds: 80.0, gigabytes: 1.0, emails: 1.0 },
    Usage { route: "GET auth/confirm_email", per_user: 0.1, milliseconds: 15.0, gigabytes: 1.0, emails: 0.0 },
    Usage {
        route: "POST auth/send_reset_password_email (account exists)",
        per_user: 0.05,
        milliseconds: 10.0,
        gigabytes: 1.0,
        emails: 1.0,
    },
    Usage {
        route: "POST auth/reset_password (no sessions)",
        per_user: 0.05,
        milliseconds: 70.0,
        gigabytes: 1.0,
        emails: 0.0,
    },
];

/// Request units per DynamoDB operation: items are under 1 KB (writes) and 4 KB (reads);
/// a transaction writes 3 items at 2 units each, a batch write 2 items, a query page or a batch
/// read 2 read units.
fn units_of(operation: &str) -> (f64, f64) {
    match operation {
        "GetItem" => (1.0, 0.0),
        "Query" | "BatchGetItem" => (2.0, 0.0),
        "PutItem" | "UpdateItem" | "DeleteItem" => (0.0, 1.0),
        "TransactWriteItems" => (0.0, 6.0),
        "BatchWriteItem" => (0.0, 2.0),
        other => panic!("no units for {other}"),
    }
}

/// `docs/dynamodb.md`'s measured operations of each route: read units and write units.
fn route_units() -> BTreeMap<String, (f64, f64)> {
    let doc = std::fs::read_to_string(CALLS_DOC).unwrap();
    let table = doc.split("<!-- calls:start -->").nth(1).and_then(|t| t.split("<!-- calls:end -->").next()).unwrap();
    let mut routes = BTreeMap::new();
    for line in table.lines().filter(|l| l.starts_with('|')).skip(2) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let (mut reads, mut writes) = (0.0, 0.0);
        for operation in cells[2].split(", ").filter(|o| *o != "none") {
            let (name, count) = operation.rsplit_once(' ').unwrap();
            let (r, w) = units_of(name);
            let count: f64 = count.parse().unwrap();
            reads += r * count;
            writes += w * count;
        }
        routes.insert(cells[0].to_string(), (reads, writes));
    }
    routes
}

fn monthly() -> (BTreeMap<&'static str, f64>, f64) {
    let routes = route_units();
    let mut cost: BTreeMap<&'static str, f64> = BTreeMap::new();
    let mut requests = 0.0;
    for usage in &USAGE {
        let (reads, writes) = *routes.get(usage.route).unwrap_or_else(|| panic!("{} is not measured", usage.route));
        let count = usage.per_user * MONTHLY_ACTIVE_USERS;
        requests += count;
        *cost.entry("DynamoDB").or_default() += count * (reads * price::READ_UNIT + writes * price::WRITE_UNIT);
        *cost.entry("Lambda").or_default() +=
            count * (price::LAMBDA_REQUEST + usage.milliseconds / 1000.0 * usage.gigabytes * price::LAMBDA_GB_SECOND);
        *cost.entry("SES").or_default() += count * usage.emails * price::SES_EMAIL;
    }
    cost.insert("API Gateway (HTTP API)", requests * price::HTTP_API_REQUEST);
    // An access log line and Lambda's START/END/REPORT lines: about 0.6 KB a request.
    cost.insert("CloudWatch Logs", requests * 600.0 / 1e9 * price::LOG_GB);
    // Accounts, sessions and edges: about 3 KB a user, at $0.25 per GB-month.
    cost.insert("DynamoDB storage", MONTHLY_ACTIVE_USERS * 3_000.0 / 1e9 * 0.25);
    (cost, requests)
}

/// The document's generated part.
fn render() -> String {
    let mut out = String::new();
    let m = MEASURED;
    out += "Measured per subscriber (`aws/tests/aws/write_units.rs`, a 10,000-character message):\n\n";
    out += "| input | per subscriber |\n|---|---|\n";
    out += &format!("| DynamoDB write units | {:.2} |\n", m.write_units);
    out += &format!("| DynamoDB read units | {:.2} |\n", m.read_units);
    out += &format!("| SQS requests sent by the workers | {:.2} |\n", m.send_requests);
    out += &format!("| worker invocations | {:.2} |\n\n", m.invocations);
    out += &format!(
        "Assumed: {SENDERS} email workers of {} MB, a batch of 10 in at least {EMAIL_BATCH_FLOOR_SECONDS} s; \
         {SEGMENTS} segments queueing {QUEUED_PER_SEGMENT_PER_SECOND} subscribers/s each; the event source mapping \
         receives and deletes each batch (2 SQS requests); deliveries stored 15 days ({DELIVERY_ITEM_BYTES} B); \
         notifications use {}% of the 24-hour quota (the rest is kept for transactional email, and their copies wait \
         for the window to roll).\n\n",
        EMAIL_WORKER_GB * 1024.0,
        100.0 - ums_aws::ses::TRANSACTIONAL_RESERVE * 100.0,
    );
    out += "| subscribers | SES account | until the last email | SES | DynamoDB | SQS | Lambda | total |\n";
    out += "|---|---|---|---|---|---|---|---|\n";
    for ses in &SES_ACCOUNTS {
        for subscribers in [10_000.0, 100_000.0, 1_000_000.0] {
            let (seconds, cost) = fan_out(subscribers, ses, &m);
            let total: f64 = cost.values().sum();
            out += &format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                thousands(subscribers),
                ses.name,
                duration(seconds),
                dollars(cost["SES"]),
                dollars(cost["DynamoDB"]),
                dollars(cost["SQS"]),
                dollars(cost["Lambda"]),
                dollars(total),
            );
        }
    }
    out += "\nAssumed use per monthly active user and month (DynamoDB operations per route from \
            `docs/dynamodb.md`'s measured table; a `GetItem` 1 read unit, a `Query` or `BatchGetItem` 2, \
            a single write 1 write unit, a transaction 6, a batch write 2):\n\n";
    out += "| route | per user a month | function time | memory | emails |\n|---|---|---|---|---|\n";
    for usage in &USAGE {
        out += &format!(
            "| {} | {} | {} ms | {} MB | {} |\n",
            usage.route,
            usage.per_user,
            usage.milliseconds,
            usage.gigabytes * 1024.0,
            usage.emails
        );
    }
    let (cost, requests) = monthly();
    let total: f64 = cost.values().sum();
    out += &format!(
        "\nAt {} monthly active users ({} requests a month):\n\n| service | a month |\n|---|---|\n",
        thousands(MONTHLY_ACTIVE_USERS),
        thousands(requests)
    );
    for (service, amount) in &cost {
        out += &format!("| {service} | {} |\n", dollars(*amount));
    }
    out += &format!("| **this service, total** | **{}** |\n", dollars(total));
    let billed = MONTHLY_ACTIVE_USERS - price::COGNITO_FREE_MAU;
    out += &format!(
        "| Amazon Cognito Lite (${} per MAU beyond {}) | {} |\n",
        price::COGNITO_LITE_MAU,
        thousands(price::COGNITO_FREE_MAU),
        dollars(billed * price::COGNITO_LITE_MAU)
    );
    out += &format!(
        "| Amazon Cognito Essentials (${} per MAU beyond {}) | {} |\n",
        price::COGNITO_ESSENTIALS_MAU,
        thousands(price::COGNITO_FREE_MAU),
        dollars(billed * price::COGNITO_ESSENTIALS_MAU)
    );
    out
}

fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn docs_scale_md_is_what_the_model_computes_from_its_measured_inputs() {
    let table = render();
    let doc = std::fs::read_to_string(DOC).unwrap();
    let documented = doc.split(START).nth(1).and_then(|rest| rest.split(END).next()).expect("the model's markers");
    assert_eq!(documented.trim(), table.trim(), "docs/scale.md is out of date; the model gives:\n\n{table}");
}
