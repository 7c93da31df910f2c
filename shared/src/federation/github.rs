//! GitHub: OAuth 2 (`oauth2`, with PKCE) without OpenID, so who someone is comes from its REST
//! API: the account's numeric id (a login can be renamed and taken by someone else) and its
//! primary address, only if GitHub verified it.

use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, TokenResponse, TokenUrl, basic::BasicClient,
};
use serde::Deserialize;

use super::{FederationError, Pending, ProviderIdentity, ProviderSettings};

pub fn authorize_url() -> String {
    "https://github.com/login/oauth/authorize".into()
}

pub fn token_url() -> String {
    "https://github.com/login/oauth/access_token".into()
}

pub fn api_url() -> String {
    "https://api.github.com".into()
}

fn misconfigured(e: impl std::fmt::Display) -> FederationError {
    FederationError::Unavailable(format!("GitHub's settings: {e}"))
}

fn client(
    provider: &ProviderSettings,
    authorize: &str,
    token: &str,
    callback: &str,
) -> Result<
    BasicClient<
        oauth2::EndpointSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    >,
    FederationError,
> {
    Ok(BasicClient::new(ClientId::new(provider.client_id.clone()))
        .set_client_secret(ClientSecret::new(provider.client_secret.clone()))
        .set_auth_uri(AuthUrl::new(authorize.to_string()).map_err(misconfigured)?)
        .set_token_uri(TokenUrl::new(token.to_string()).map_err(misconfigured)?)
        .set_redirect_uri(RedirectUrl::new(callback.to_string()).map_err(misconfigured)?))
}

pub fn authorization(
    provider: &ProviderSettings,
    authorize: &str,
    token: &str,
    state: &str,
    callback: &str,
) -> Result<(url::Url, Pending), FederationError> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = state.to_string();
    let (url, _) = client(provider, authorize, token, callback)?
        .authorize_url(move || CsrfToken::new(state))
        .add_scope(Scope::new("read:user".into()))
        .add_scope(Scope::new("user:email".into()))
        .set_pkce_challenge(challenge)
        .url();
    Ok((url, Pending { verifier: verifier.secret().clone(), nonce: None }))
}

#[derive(Deserialize)]
struct GithubUser {
    id: u64,
    name: Option<String>,
    login: String,
}

#[derive(Deserialize)]
struct GithubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

#[allow(clippy::too_many_arguments)]
pub async fn identify(
    http: &reqwest::Client,
    provider: &ProviderSettings,
    authorize: &str,
    token: &str,
    api: &str,
    pending: &Pending,
    code: &str,
    callback: &str,
) -> Result<ProviderIdentity, FederationError> {
    let response = client(provider, authorize, token, callback)?
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
        .request_async(http)
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(refusal) => {
                FederationError::Refused(format!("token endpoint: {refusal}"))
            }
            other => FederationError::Unavailable(format!("GitHub's token endpoint: {other}")),
        })?;
    let access = response.access_token().secret();
    let user: GithubUser = api_get(http, &format!("{api}/user"), access).await?;
    let emails: Vec<GithubEmail> = api_get(http, &format!("{api}/user/emails"), access).await?;
    let primary = emails.into_iter().find(|e| e.primary);
    let (given_name, family_name) = split_name(user.name.as_deref().unwrap_or(&user.login));
    Ok(ProviderIdentity {
        subject: user.id.to_string(),
        email_verified: primary.as_ref().is_some_and(|e| e.verified),
        email: primary.map(|e| e.email),
        given_name,
        family_name,
    })
}

async fn api_get<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    access: &str,
) -> Result<T, FederationError> {
    let unavailable = |e: &dyn std::fmt::Display| FederationError::Unavailable(format!("GitHub's API ({url}): {e}"));
    let response = http
        .get(url)
        .bearer_auth(access)
        .header(reqwest::header::ACCEPT, "application/vnd.github+json")
        .send()
        .await
        .map_err(|e| unavailable(&e))?;
    if !response.status().is_success() {
        return Err(unavailable(&response.status()));
    }
    response.json().await.map_err(|e| unavailable(&e))
}

/// GitHub has one `name`: its first word is the given name, the rest the family name.
fn split_name(name: &str) -> (Option<String>, Option<String>) {
    let name = name.trim();
    match name.split_once(' ') {
        Some((given, family)) => (Some(given.to_string()), Some(family.trim().to_string())),
        None if name.is_empty() => (None, None),
        None => (Some(name.to_string()), None),
    }
}
