//! Configuration, read once from the environment (the README has the table).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{Context, bail};

#[derive(Clone, Debug)]
pub struct Config {
    /// Where the local server listens (`UMS_ADDR`).
    pub addr: SocketAddr,
    /// Where the embedded database, signing key, outbox and photos live (`UMS_DATA_DIR`).
    pub data_dir: PathBuf,
    /// The URL clients reach the API at; every emailed link is built from it, never from the
    /// request's Host header (`UMS_PUBLIC_URL`).
    pub public_url: String,
    /// The page a password-reset link opens; the token is appended as `?token=`
    /// (`UMS_PASSWORD_RESET_URL`).
    pub password_reset_url: String,
    /// Where confirmation links point (`UMS_CONFIRM_EMAIL_URL`): the service's page by default,
    /// or a front end's, which then calls `GET auth/confirm_email` with the token.
    pub confirm_email_url: String,
    /// Where links confirming a new address point (`UMS_EMAIL_CHANGE_URL`): the service's page
    /// by default, or a front end's, which then calls `GET user/confirm_email_change`.
    pub email_change_url: String,
    /// Where photo files are served from: `<photos_url>/photos/<user id>/<photo id>.jpg`
    /// (`UMS_PHOTOS_URL`; on AWS the CloudFront distribution in front of the bucket; locally
    /// the local server's `/files`).
    pub photos_url: String,
    /// The web origin passkeys are used from (`UMS_PASSKEY_ORIGIN`): the public URL, with a
    /// loopback address named `localhost` (browsers take no IP address for passkeys).
    pub passkey_origin: String,
    /// The relying party id passkeys are bound to (`UMS_PASSKEY_RP_ID`): the origin's host, or
    /// a registrable suffix of it (`blog.example` for `https://accounts.blog.example`).
    pub passkey_rp_id: String,
    pub jwt: JwtConfig,
    pub email_from: String,
    /// The sign-in providers' settings document on the laptop (`UMS_SIGN_IN_PROVIDERS_FILE`;
    /// `sign-in-providers.json` in the data directory), read again every `keys_reload`. On AWS
    /// it is an SSM parameter (`UMS_SIGN_IN_PROVIDERS_PARAMETER`).
    pub sign_in_providers_file: PathBuf,
    /// The front end's pages a browser may be sent back to with a code (`UMS_FRONT_END_URLS`,
    /// comma-separated, each matched exactly): where an emailed sign-in link ends. The
    /// providers' settings may list more for their sign-ins.
    pub front_end_urls: Vec<String>,
    /// Where new passwords are checked against breaches (`UMS_BREACHED_PASSWORDS_URL`, `off`
    /// for nowhere) and what a failed check means (`UMS_BREACHED_PASSWORDS_ON_ERROR`).
    pub breached_passwords: BreachedPasswordsConfig,
    pub limits: Limits,
    pub argon2: Argon2Config,
    pub webhooks: WebhookConfig,
}

#[derive(Clone, Debug)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    /// A key set (JSON, `ums jwt-key new`) or a lone P-256 PKCS#8 PEM, given whole and never
    /// read again (`UMS_JWT_PRIVATE_KEY`). Without it, the local server keeps its set in the data
    /// directory (made on first run) and a Lambda reads it from SSM.
    pub private_key_pem: Option<String>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// How often a running instance reads its key set again, to see a rotation
    /// (`UMS_JWT_KEYS_RELOAD_SECS`).
    pub keys_reload: Duration,
    /// How recent an authentication (`auth_time`) a sensitive action needs
    /// (`UMS_STEP_UP_MAX_AGE_SECS`); older, it answers 401 `step_up_required`.
    pub step_up_max_age: Duration,
}

#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Failed logins for one email from one source before that source backs off.
    pub login_failures_before_backoff: u32,
    /// Failed logins for one email from all sources together before the address backs off:
    /// far more than one source can reach, so one source locks itself out first.
    pub login_failures_before_account_backoff: u32,
    /// Emails one address may be sent per hour.
    pub emails_per_address_per_hour: u32,
    /// Registrations one source may make per minute.
    pub registrations_per_source_per_minute: u32,
    /// Passkey sign-ins one source may start per minute (each start keeps a ceremony).
    pub passkey_sign_ins_per_source_per_minute: u32,
    /// Provider sign-ins one source may start per minute (each start keeps its flow).
    pub provider_sign_ins_per_source_per_minute: u32,
    /// Sign-ins by email one source may ask for per minute (each sends an email).
    pub email_sign_ins_per_source_per_minute: u32,
    /// Emailed codes (a sign-in's, an account's) checked for one address per day (UTC), right
    /// or wrong: what bounds guessing by someone who asks for codes all day.
    pub emailed_code_checks_per_address_per_day: u32,
    /// Email changes one account may ask for per hour.
    pub email_changes_per_account_per_hour: u32,
    /// Email changes one source may ask for per hour, over all accounts.
    pub email_changes_per_source_per_hour: u32,
    /// Registrations the whole service takes per minute.
    pub registrations_per_minute: u32,
    /// How long an unconfirmed registration holds its address.
    pub pending_account_ttl: time::Duration,
    /// A refresh token presented again this soon after its rotation is a racing client, not a
    /// thief: answered 409 `refresh_conflict`, the session kept.
    pub refresh_reuse_grace: time::Duration,
    /// Password hashes computed at once (Argon2id holds 19 MiB and a core each).
    pub hashing_concurrency: usize,
    /// Hashes that may wait for one of those; beyond, 503 `server_busy`.
    pub hashing_queue: usize,
    /// Notifications one author may send their subscribers per day (UTC).
    pub notifications_per_author_per_day: u32,
    /// Parts a large notification's subscribers are cut into, fanned out at once (on AWS as
    /// many notify-worker invocations; the template's notify concurrency bounds them).
    pub fan_out_segments: u32,
}

#[derive(Clone, Copy, Debug)]
pub struct Argon2Config {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Config {
    /// OWASP's recommendation for Argon2id: 19 MiB, 2 iterations, 1 lane.
    fn default() -> Self {
        Self { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

/// The origin of `public_url` (scheme, host, port) where passkeys are used; an IP address (a
/// laptop's `127.0.0.1`, a container's `0.0.0.0`) becomes `localhost`: browsers take no IP
/// address for passkeys, and `localhost` is the one name they accept without https.
fn passkey_origin_of(public_url: &str) -> String {
    let Ok(mut url) = url::Url::parse(public_url) else { return public_url.to_string() };
    if url.host().is_some_and(|h| matches!(h, url::Host::Ipv4(_) | url::Host::Ipv6(_))) {
        let _ = url.set_host(Some("localhost"));
    }
    url.origin().ascii_serialization()
}

pub const CONFIRMATION_TOKEN_TTL: time::Duration = time::Duration::hours(24);
pub const RESET_TOKEN_TTL: time::Duration = time::Duration::hours(1);

impl Config {
    /// Defaults for a laptop, rooted at `data_dir`.
    pub fn local(data_dir: PathBuf, addr: SocketAddr) -> Self {
        let public_url = format!("http://{addr}");
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            addr,
            sign_in_providers_file: data_dir.join("sign-in-providers.json"),
            front_end_urls: Vec::new(),
            breached_passwords: BreachedPasswordsConfig::default(),
            data_dir,
            password_reset_url: format!("{public_url}/reset-password"),
            confirm_email_url: format!("{public_url}/confirm-email"),
            email_change_url: format!("{public_url}/confirm-email-change"),
            photos_url: format!("{public_url}/files"),
            passkey_origin: passkey_origin_of(&public_url),
            passkey_rp_id: "localhost".into(),
            jwt: JwtConfig {
                issuer: public_url.clone(),
                audience: "blog-platform".into(),
                private_key_pem: None,
                access_token_ttl: Duration::from_secs(15 * 60),
                refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
                keys_reload: Duration::from_secs(300),
                step_up_max_age: Duration::from_secs(300),
            },
            public_url,
            email_from: "Blog Platform <no-reply@blog.localhost>".into(),
            limits: Limits {
                max_body_bytes: 16 * 1024,
                login_failures_before_backoff: 5,
                login_failures_before_account_backoff: 50,
                emails_per_address_per_hour: 5,
                registrations_per_source_per_minute: 10,
                passkey_sign_ins_per_source_per_minute: 30,
                provider_sign_ins_per_source_per_minute: 30,
                email_sign_ins_per_source_per_minute: 10,
                emailed_code_checks_per_address_per_day: 20,
                email_changes_per_account_per_hour: 3,
                email_changes_per_source_per_hour: 10,
                registrations_per_minute: 120,
                pending_account_ttl: time::Duration::days(7),
                refresh_reuse_grace: time::Duration::seconds(10),
                hashing_concurrency: cores,
                hashing_queue: 8 * cores,
                notifications_per_author_per_day: 3,
                fan_out_segments: 8,
            },
            argon2: Argon2Config::default(),
            webhooks: WebhookConfig::default(),
        }
    }

    pub fn from_env() -> anyhow::Result<Self> {
        let addr: SocketAddr = var("UMS_ADDR")
            .unwrap_or_else(|| "127.0.0.1:3000".into())
            .parse()
            .context("UMS_ADDR must be host:port, like 127.0.0.1:3000")?;
        let data_dir = var("UMS_DATA_DIR").unwrap_or_else(|| ".ums".into()).into();
        let mut config = Self::local(data_dir, addr);
        if let Some(url) = var("UMS_PUBLIC_URL") {
            let url = url.trim_end_matches('/').to_string();
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                bail!("UMS_PUBLIC_URL must start with http:// or https://");
            }
            config.password_reset_url = format!("{url}/reset-password");
            config.confirm_email_url = format!("{url}/confirm-email");
            config.email_change_url = format!("{url}/confirm-email-change");
            config.photos_url = format!("{url}/files");
            config.jwt.issuer = url.clone();
            config.passkey_origin = passkey_origin_of(&url);
            config.public_url = url;
        }
        if let Some(origin) = var("UMS_PASSKEY_ORIGIN") {
            config.passkey_origin = origin.trim_end_matches('/').to_string();
        }
        config.passkey_rp_id = match var("UMS_PASSKEY_RP_ID") {
            Some(id) => id,
            None => url::Url::parse(&config.passkey_origin)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .context("UMS_PASSKEY_ORIGIN must be a URL like https://blog.example")?,
        };
        webauthn_rs::WebauthnBuilder::new(&config.passkey_rp_id, &url::Url::parse(&config.passkey_origin)?)
            .map(drop)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("UMS_PASSKEY_RP_ID must be UMS_PASSKEY_ORIGIN's host or a suffix of it")?;
        if let Some(path) = var("UMS_SIGN_IN_PROVIDERS_FILE") {
            config.sign_in_providers_file = path.into();
        }
        if let Some(url) = var("UMS_PHOTOS_URL") {
            config.photos_url = url.trim_end_matches('/').to_string();
        }
        if let Some(url) = var("UMS_PASSWORD_RESET_URL") {
            config.password_reset_url = url;
        }
        if let Some(url) = var("UMS_CONFIRM_EMAIL_URL") {
            config.confirm_email_url = url;
        }
        if let Some(url) = var("UMS_EMAIL_CHANGE_URL") {
            config.email_change_url = url;
        }
        if let Some(issuer) = var("UMS_JWT_ISSUER") {
            config.jwt.issuer = issuer;
        }
        if let Some(audience) = var("UMS_JWT_AUDIENCE") {
            config.jwt.audience = audience;
        }
        config.jwt.private_key_pem = var("UMS_JWT_PRIVATE_KEY");
        if let Some(secs) = parse_var::<u64>("UMS_ACCESS_TOKEN_TTL_SECS")? {
            config.jwt.access_token_ttl = Duration::from_secs(secs);
        }
        if let Some(secs) = parse_var::<u64>("UMS_JWT_KEYS_RELOAD_SECS")? {
            config.jwt.keys_reload = Duration::from_secs(secs);
        }
        if let Some(secs) = parse_var::<u64>("UMS_STEP_UP_MAX_AGE_SECS")? {
            config.jwt.step_up_max_age = Duration::from_secs(secs);
        }
        if let Some(days) = parse_var::<u64>("UMS_REFRESH_TOKEN_TTL_DAYS")? {
            config.jwt.refresh_token_ttl = Duration::from_secs(days * 24 * 3600);
        }
        if let Some(from) = var("UMS_EMAIL_FROM") {
            config.email_from = from;
        }
        if let Some(n) = parse_var("UMS_MAX_BODY_BYTES")? {
            config.limits.max_body_bytes = n;
        }
        if let Some(n) = parse_var("UMS_LOGIN_FAILURES_BEFORE_BACKOFF")? {
            config.limits.login_failures_before_backoff = n;
        }
        if let Some(n) = parse_var("UMS_LOGIN_FAILURES_BEFORE_ACCOUNT_BACKOFF")? {
            config.limits.login_failures_before_account_backoff = n;
        }
        if let Some(n) = parse_var("UMS_EMAILS_PER_ADDRESS_PER_HOUR")? {
            config.limits.emails_per_address_per_hour = n;
        }
        if let Some(n) = parse_var("UMS_REGISTRATIONS_PER_SOURCE_PER_MINUTE")? {
            config.limits.registrations_per_source_per_minute = n;
        }
        if let Some(n) = parse_var("UMS_PASSKEY_SIGN_INS_PER_SOURCE_PER_MINUTE")? {
            config.limits.passkey_sign_ins_per_source_per_minute = n;
        }
        if let Some(n) = parse_var("UMS_PROVIDER_SIGN_INS_PER_SOURCE_PER_MINUTE")? {
            config.limits.provider_sign_ins_per_source_per_minute = n;
        }
        if let Some(n) = parse_var("UMS_EMAIL_SIGN_INS_PER_SOURCE_PER_MINUTE")? {
            config.limits.email_sign_ins_per_source_per_minute = n;
        }
        if let Some(n) = parse_var("UMS_EMAILED_CODE_CHECKS_PER_ADDRESS_PER_DAY")? {
            config.limits.emailed_code_checks_per_address_per_day = n;
        }
        if let Some(urls) = var("UMS_FRONT_END_URLS") {
            config.front_end_urls = urls.split(',').map(|u| u.trim().to_string()).filter(|u| !u.is_empty()).collect();
            if let Some(url) =
                config.front_end_urls.iter().find(|u| !(u.starts_with("https://") || u.starts_with("http://")))
            {
                bail!("UMS_FRONT_END_URLS lists {url:?}: each must start with https:// or http://");
            }
        }
        if let Some(url) = var("UMS_BREACHED_PASSWORDS_URL") {
            config.breached_passwords.url = match url.trim() {
                "off" | "" => None,
                url if url.starts_with("https://") || url.starts_with("http://") => Some(url.to_string()),
                url => bail!("UMS_BREACHED_PASSWORDS_URL is {url:?}: an https:// or http:// URL, or off"),
            };
        }
        if let Some(choice) = var("UMS_BREACHED_PASSWORDS_ON_ERROR") {
            config.breached_passwords.on_error = match choice.trim() {
                "allow" => OnCheckError::Allow,
                "refuse" => OnCheckError::Refuse,
                other => bail!("UMS_BREACHED_PASSWORDS_ON_ERROR is {other:?}: allow or refuse"),
            };
        }
        if let Some(n) = parse_var("UMS_EMAIL_CHANGES_PER_ACCOUNT_PER_HOUR")? {
            config.limits.email_changes_per_account_per_hour = n;
        }
        if let Some(n) = parse_var("UMS_EMAIL_CHANGES_PER_SOURCE_PER_HOUR")? {
            config.limits.email_changes_per_source_per_hour = n;
        }
        if let Some(n) = parse_var("UMS_REGISTRATIONS_PER_MINUTE")? {
            config.limits.registrations_per_minute = n;
        }
        if let Some(n) = parse_var("UMS_NOTIFICATIONS_PER_AUTHOR_PER_DAY")? {
            config.limits.notifications_per_author_per_day = n;
        }
        if let Some(n) = parse_var::<u32>("UMS_FAN_OUT_SEGMENTS")? {
            anyhow::ensure!((1..=100).contains(&n), "UMS_FAN_OUT_SEGMENTS must be from 1 to 100");
            config.limits.fan_out_segments = n;
        }
        if let Some(days) = parse_var::<i64>("UMS_PENDING_ACCOUNT_TTL_DAYS")? {
            config.limits.pending_account_ttl = time::Duration::days(days);
        }
        if let Some(secs) = parse_var::<i64>("UMS_REFRESH_REUSE_GRACE_SECS")? {
            config.limits.refresh_reuse_grace = time::Duration::seconds(secs);
        }
        if let Some(n) = parse_var::<usize>("UMS_HASHING_CONCURRENCY")? {
            config.limits.hashing_concurrency = n.max(1);
            config.limits.hashing_queue = 8 * n.max(1);
        }
        if let Some(n) = parse_var("UMS_HASHING_QUEUE")? {
            config.limits.hashing_queue = n;
        }
        if let Some(n) = parse_var("UMS_ARGON2_MEMORY_KIB")? {
            config.argon2.memory_kib = n;
        }
        if let Some(n) = parse_var("UMS_ARGON2_ITERATIONS")? {
            config.argon2.iterations = n;
        }
        if let Some(allow) = var("UMS_WEBHOOKS_ALLOW_PRIVATE") {
            config.webhooks.allow_private = match allow.trim() {
                "true" | "1" => true,
                "false" | "0" => false,
                other => bail!("UMS_WEBHOOKS_ALLOW_PRIVATE must be true or false, not {other:?}"),
            };
        }
        if let Some(secs) = parse_var::<u64>("UMS_WEBHOOK_FIRST_RETRY_SECS")? {
            config.webhooks.first_retry = Duration::from_secs(secs.max(1));
        }
        if let Some(hours) = parse_var::<u64>("UMS_WEBHOOK_RETRY_HOURS")? {
            config.webhooks.retry_for = Duration::from_secs(hours * 3600);
        }
        Ok(config)
    }
}

impl Config {
    /// Whether `url` is one of the front end's pages a browser may be sent back to (exactly).
    pub fn allows_front_end(&self, url: &str) -> bool {
        self.front_end_urls.iter().any(|allowed| allowed == url)
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_var<T: std::str::FromStr>(name: &str) -> anyhow::Result<Option<T>> {
    match var(name) {
        None => Ok(None),
        Some(raw) => raw.trim().parse().map(Some).map_err(|_| anyhow::anyhow!("{name} is not a valid number: {raw:?}")),
    }
}

/// The settings of the webhook deliveries (`Config::webhooks`).
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Whether endpoints may be on this machine or a private network
    /// (`UMS_WEBHOOKS_ALLOW_PRIVATE`; the laptop's default allows, for local consumers).
    pub allow_private: bool,
    /// The wait before the first retry; each next one doubles, up to an hour
    /// (`UMS_WEBHOOK_FIRST_RETRY_SECS`).
    pub first_retry: Duration,
    /// How long an endpoint may keep failing before it is disabled (`UMS_WEBHOOK_RETRY_HOURS`).
    pub retry_for: Duration,
    /// How long one delivery may take.
    pub timeout: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            allow_private: true,
            first_retry: Duration::from_secs(5),
            retry_for: Duration::from_secs(24 * 3600),
            timeout: Duration::from_secs(10),
        }
    }
}

impl WebhookConfig {
    /// The wait after the `failures`-th failure in a row: doubling from the first retry, at
    /// most an hour.
    pub fn retry_after(&self, failures: u32) -> Duration {
        let doubled = self.first_retry.saturating_mul(1u32 << failures.saturating_sub(1).min(20));
        doubled.min(Duration::from_secs(3600))
    }
}

/// The public service; `UMS_BREACHED_PASSWORDS_URL` names another (a mirror, a stand-in), or
/// `off`.
pub const PWNED_PASSWORDS_URL: &str = "https://api.pwnedpasswords.com";

/// What a failed range call means.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnCheckError {
    /// The password is taken as if no breach listed it.
    #[default]
    Allow,
    /// The password is not taken now (503, try again).
    Refuse,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreachedPasswordsConfig {
    /// The range API's base (`{url}/range/{prefix}`); none: no check.
    pub url: Option<String>,
    pub on_error: OnCheckError,
}

impl Default for BreachedPasswordsConfig {
    fn default() -> Self {
        Self { url: Some(PWNED_PASSWORDS_URL.into()), on_error: OnCheckError::Allow }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_retries_double_from_the_first_up_to_an_hour() {
        let settings = WebhookConfig::default();
        let waits: Vec<u64> = [1, 2, 3, 10, 40].iter().map(|n| settings.retry_after(*n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 2560, 3600]);
    }
}
