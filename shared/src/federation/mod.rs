//! Providers' side of signing in with them: the operator's settings (which providers, with what
//! credentials, and where a front end may be sent back), and the protocols, OpenID Connect
//! (`openidconnect`) and GitHub's OAuth 2 (`oauth2`). What an answer means for our accounts is
//! `identity::providers`'.
//!
//! Every call to a provider has a timeout; discovery documents and key sets are cached and
//! fetched with bounded retries; a provider that cannot be reached is
//! [`FederationError::Unavailable`], never a crash, and touches no other way in.

mod apple;
mod github;
mod oidc;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

/// A provider's account as its provider vouched for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderIdentity {
    /// The provider's stable id for the account (OpenID's `sub`, GitHub's numeric id): never
    /// an address or a login name, which change hands.
    pub subject: String,
    pub email: Option<String>,
    /// Whether the provider vouches that `email` is its account's.
    pub email_verified: bool,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// Not reachable, or not answering as its protocol says (down, misconfigured).
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// Its answer proves no one: the sign-in was refused there, or a token did not verify.
    #[error("the provider's answer was refused: {0}")]
    Refused(String),
}

/// What the operator configures: the providers, and the front-end pages a sign-in may return to.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SignInSettings {
    /// `redirect_to` must be one of these, exactly: nothing else is redirected to.
    #[serde(default)]
    pub front_end_urls: Vec<String>,
    #[serde(default)]
    pub providers: Vec<ProviderSettings>,
}

impl SignInSettings {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let settings: SignInSettings = serde_json::from_str(text)?;
        for provider in &settings.providers {
            let id_ok = !provider.id.is_empty()
                && provider.id.len() <= 32
                && provider.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            anyhow::ensure!(id_ok, "provider id {:?}: 1 to 32 of a-z, 0-9 and -", provider.id);
        }
        for url in &settings.front_end_urls {
            let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("front-end URL {url:?}: {e}"))?;
            anyhow::ensure!(matches!(parsed.scheme(), "http" | "https"), "front-end URL {url:?}: http or https");
        }
        Ok(settings)
    }

    pub fn provider(&self, id: &str) -> Option<&ProviderSettings> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// Whether `url` is one of the front-end pages listed (compared exactly).
    pub fn allows_return_to(&self, url: &str) -> bool {
        self.front_end_urls.iter().any(|allowed| allowed == url)
    }
}

/// One provider. Its secret is never logged (`Debug` leaves it out). (serde cannot refuse
/// unknown fields beside a flattened enum: a misspelt field is ignored.)
#[derive(Clone, Deserialize, Serialize)]
pub struct ProviderSettings {
    /// The id in our URLs and records (`google`, `github`): lower case, digits and `-`.
    pub id: String,
    /// Shown to people: "Google".
    pub name: String,
    #[serde(flatten)]
    pub protocol: Protocol,
    pub client_id: String,
    /// Not for Apple, whose secret the service signs (`Protocol::Apple`).
    #[serde(default)]
    pub client_secret: String,
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("id", &self.id)
            .field("protocol", &self.protocol)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Protocol {
    /// Any OpenID provider (Google: `https://accounts.google.com`), found by discovery.
    Openid {
        issuer: String,
        /// Beyond `openid`; `email profile` when not given.
        #[serde(default)]
        scopes: Vec<String>,
    },
    /// Sign in with Apple: an OpenID provider whose client secret is a JWT the service signs
    /// with the team's key (`private_key`: the `.p8` file's PEM; `key_id`: its id), and whose
    /// answer is a form POST. `client_id` is the Services ID.
    Apple {
        #[serde(default = "apple::issuer")]
        issuer: String,
        team_id: String,
        key_id: String,
        private_key: String,
    },
    /// GitHub's OAuth 2 and its REST API (their URLs, for GitHub Enterprise or a stand-in).
    Github {
        #[serde(default = "github::authorize_url")]
        authorize_url: String,
        #[serde(default = "github::token_url")]
        token_url: String,
        #[serde(default = "github::api_url")]
        api_url: String,
    },
}

/// What a started sign-in keeps on the server until the provider sends the person back.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Pending {
    /// PKCE's verifier (RFC 7636, S256).
    pub verifier: String,
    /// OpenID's nonce, bound into the id_token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// Where the settings document is read again from as it changes (a file, an SSM parameter).
#[async_trait::async_trait]
pub trait SettingsSource: Send + Sync {
    async fn read(&self) -> anyhow::Result<Option<String>>;
}

/// How long discovery documents and key sets are kept (a key the cache lacks is fetched at once).
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// Each call to a provider: connecting, and the whole exchange.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const CALL_TIMEOUT: Duration = Duration::from_secs(8);
/// Reads that may be repeated (discovery, key sets) are tried this many times.
const READ_ATTEMPTS: u32 = 3;

/// The providers as configured, and a client for each protocol.
pub struct Federation {
    source: Option<Box<dyn SettingsSource>>,
    reload_every: Duration,
    settings: tokio::sync::Mutex<(Instant, Arc<SignInSettings>)>,
    /// Made at the first call to a provider, not at a cold start: building it reads the
    /// system's root certificates (about 2 ms of a cold start, measured by scripts/bench).
    http: std::sync::OnceLock<reqwest::Client>,
    discovered: Mutex<HashMap<String, (Instant, Arc<oidc::Metadata>)>>,
}

impl Federation {
    /// Settings given whole, never read again.
    pub fn new(settings: SignInSettings) -> Self {
        Self::build(None, Duration::MAX, settings)
    }

    /// Settings read from `source` at first use and again every `reload_every`; a read that
    /// fails keeps what was read before.
    pub fn reading(source: Box<dyn SettingsSource>, reload_every: Duration) -> Self {
        let mut federation = Self::build(Some(source), reload_every, SignInSettings::default());
        federation.settings.get_mut().0 = Instant::now();
        federation
    }

    fn build(source: Option<Box<dyn SettingsSource>>, reload_every: Duration, settings: SignInSettings) -> Self {
        let next = Instant::now().checked_add(reload_every).unwrap_or_else(|| Instant::now() + DISCOVERY_TTL * 24);
        Self {
            source,
            reload_every,
            settings: tokio::sync::Mutex::new((next, Arc::new(settings))),
            http: std::sync::OnceLock::new(),
            discovered: Mutex::new(HashMap::new()),
        }
    }

    /// The client every call to a provider goes through.
    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                // A provider's redirect is not followed: its endpoints are where discovery says.
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(CALL_TIMEOUT)
                .user_agent("ums-sign-in")
                .build()
                .expect("the HTTP client's settings are valid")
        })
    }

    /// The settings, read again if they are due.
    pub async fn settings(&self) -> Arc<SignInSettings> {
        let mut current = self.settings.lock().await;
        if let Some(source) = &self.source
            && Instant::now() >= current.0
        {
            current.0 = Instant::now() + self.reload_every;
            match source.read().await.and_then(|text| text.map(|t| SignInSettings::parse(&t)).transpose()) {
                Ok(settings) => current.1 = Arc::new(settings.unwrap_or_default()),
                Err(e) => tracing::error!(error = %e, "the sign-in providers' settings could not be read"),
            }
        }
        current.1.clone()
    }

    /// The provider's page to send the person to, carrying `state`, and what to keep until
    /// they come back to `callback`.
    pub async fn authorization(
        &self,
        provider: &ProviderSettings,
        state: &str,
        callback: &str,
    ) -> Result<(url::Url, Pending), FederationError> {
        match &provider.protocol {
            Protocol::Openid { issuer, scopes } => {
                let metadata = self.metadata(issuer, false).await?;
                oidc::authorization(&metadata, provider, scopes, oidc::Style::Standard, state, callback)
            }
            Protocol::Apple { issuer, .. } => {
                let metadata = self.metadata(issuer, false).await?;
                oidc::authorization(&metadata, provider, &apple::scopes(), oidc::Style::Apple, state, callback)
            }
            Protocol::Github { authorize_url, token_url, .. } => {
                github::authorization(provider, authorize_url, token_url, state, callback)
            }
        }
    }

    /// Exchanges the provider's `code` (sent back to `callback`) for who the person is there.
    pub async fn identify(
        &self,
        provider: &ProviderSettings,
        pending: &Pending,
        code: &str,
        callback: &str,
    ) -> Result<ProviderIdentity, FederationError> {
        let (issuer, style, provider) = match &provider.protocol {
            Protocol::Openid { issuer, .. } => (issuer, oidc::Style::Standard, provider.clone()),
            Protocol::Apple { issuer, team_id, key_id, private_key } => {
                let secret = apple::client_secret(&provider.client_id, team_id, key_id, private_key)
                    .map_err(|e| FederationError::Unavailable(format!("Apple's client secret: {e:#}")))?;
                (issuer, oidc::Style::Apple, ProviderSettings { client_secret: secret, ..provider.clone() })
            }
            Protocol::Github { token_url, authorize_url, api_url } => {
                return github::identify(
                    self.http(),
                    provider,
                    authorize_url,
                    token_url,
                    api_url,
                    pending,
                    code,
                    callback,
                )
                .await;
            }
        };
        let metadata = self.metadata(issuer, false).await?;
        match oidc::identify(self.http(), &metadata, &provider, style, pending, code, callback).await {
            // The provider may have rotated its keys since the set was cached: the same token
            // is checked once more against a fresh set.
            Err(oidc::Failure::UnknownKey(token)) => {
                let fresh = self.metadata(issuer, true).await?;
                oidc::verify_again(&fresh, &provider, pending, token)
            }
            other => other.map_err(oidc::Failure::into_error),
        }
    }

    /// The issuer's discovery document and key set: cached, fetched with bounded retries.
    async fn metadata(&self, issuer: &str, fresh: bool) -> Result<Arc<oidc::Metadata>, FederationError> {
        if !fresh {
            let cache = self.discovered.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, metadata)) = cache.get(issuer)
                && at.elapsed() < DISCOVERY_TTL
            {
                return Ok(metadata.clone());
            }
        }
        let mut delay = Duration::from_millis(200);
        let mut attempt = 1;
        let metadata = loop {
            match oidc::discover(self.http(), issuer).await {
                Ok(metadata) => break Arc::new(metadata),
                Err(e) if attempt < READ_ATTEMPTS => {
                    tracing::warn!(issuer, error = %e, attempt, "an OpenID discovery failed; trying again");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                Err(e) => {
                    tracing::error!(issuer, error = %e, "an OpenID provider cannot be discovered");
                    return Err(e);
                }
            }
        };
        self.discovered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(issuer.to_string(), (Instant::now(), metadata.clone()));
        Ok(metadata)
    }
}

/// The settings document in a file (the laptop's), absent until the operator writes one.
pub struct SettingsFile(pub std::path::PathBuf);

#[async_trait::async_trait]
impl SettingsSource for SettingsFile {
    async fn read(&self) -> anyhow::Result<Option<String>> {
        match tokio::fs::read_to_string(&self.0).await {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context(format!("reading {}", self.0.display()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_document_reads_as_documented_and_never_prints_a_secret() {
        let settings = SignInSettings::parse(
            r#"{
                "front_end_urls": ["https://blog.example/signed-in"],
                "providers": [
                    {"id": "google", "name": "Google", "kind": "openid", "issuer": "https://accounts.google.com",
                     "client_id": "id.apps.googleusercontent.com", "client_secret": "very-secret"},
                    {"id": "github", "name": "GitHub", "kind": "github", "client_id": "Iv1", "client_secret": "also-secret"}
                ]
            }"#,
        )
        .unwrap();
        assert!(settings.allows_return_to("https://blog.example/signed-in"));
        assert!(!settings.allows_return_to("https://blog.example/signed-in/../evil"));
        assert!(!settings.allows_return_to("https://blog.example.evil.example/signed-in"));
        let github = settings.provider("github").unwrap();
        assert!(matches!(&github.protocol, Protocol::Github { api_url, .. } if api_url == "https://api.github.com"));
        let printed = format!("{settings:?}");
        assert!(!printed.contains("secret"), "{printed}");
    }

    #[test]
    fn a_provider_id_that_could_not_be_a_path_segment_is_refused() {
        let doc = |id: &str| {
            format!(
                r#"{{"providers": [{{"id": "{id}", "name": "X", "kind": "openid", "issuer": "https://x.example",
                    "client_id": "a", "client_secret": "b"}}]}}"#
            )
        };
        assert!(SignInSettings::parse(&doc("ok-1")).is_ok());
        for bad in ["", "Google", "a/b", "a#b", &"x".repeat(33)] {
            assert!(SignInSettings::parse(&doc(bad)).is_err(), "{bad:?}");
        }
        assert!(SignInSettings::parse(r#"{"front_end_urls": ["javascript:alert(1)"]}"#).is_err());
        assert!(SignInSettings::parse(r#"{"providers": [], "extra": 1}"#).is_err());
    }
}
