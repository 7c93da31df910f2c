//! OpenID Connect with `openidconnect`: discovery, the authorization code flow with PKCE (S256)
//! and a nonce, the id_token verified (signature by the provider's key set, `iss`, `aud`, `azp`,
//! `exp`, `nonce`), the userinfo endpoint when the id_token names no address.

use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
    core::{
        CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenClaims, CoreProviderMetadata, CoreUserInfoClaims,
    },
};

use super::{FederationError, Pending, ProviderIdentity, ProviderSettings};

pub type Metadata = CoreProviderMetadata;

/// How a provider departs from the common case.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Standard,
    /// Apple: the answer is a form POST (`response_mode=form_post`, which its `name` and
    /// `email` scopes require), and the client secret goes in the token request's body.
    Apple,
}

/// Why an identification failed: a key the cached set lacks is worth one more look.
pub enum Failure {
    UnknownKey(Box<CoreIdToken>),
    Other(FederationError),
}

impl Failure {
    pub fn into_error(self) -> FederationError {
        match self {
            Failure::UnknownKey(_) => FederationError::Refused("the id_token's key is not the provider's".into()),
            Failure::Other(e) => e,
        }
    }
}

impl From<FederationError> for Failure {
    fn from(e: FederationError) -> Self {
        Failure::Other(e)
    }
}

fn unavailable(what: &str) -> impl Fn(&dyn std::fmt::Display) -> FederationError + '_ {
    move |e| FederationError::Unavailable(format!("{what}: {e}"))
}

/// The issuer's discovery document and its key set (openidconnect checks that the document
/// names the issuer it was asked for).
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Metadata, FederationError> {
    let issuer = IssuerUrl::new(issuer.to_string()).map_err(|e| unavailable("the issuer URL")(&e))?;
    CoreProviderMetadata::discover_async(issuer, http).await.map_err(|e| unavailable("discovery")(&e))
}

fn client(
    metadata: &Metadata,
    provider: &ProviderSettings,
    style: Style,
    callback: &str,
) -> Result<
    CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    FederationError,
> {
    let redirect = RedirectUrl::new(callback.to_string()).map_err(|e| unavailable("the callback URL")(&e))?;
    let client = CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(provider.client_secret.clone())),
    )
    .set_redirect_uri(redirect);
    Ok(match style {
        Style::Standard => client,
        Style::Apple => client.set_auth_type(openidconnect::AuthType::RequestBody),
    })
}

pub fn authorization(
    metadata: &Metadata,
    provider: &ProviderSettings,
    scopes: &[String],
    style: Style,
    state: &str,
    callback: &str,
) -> Result<(url::Url, Pending), FederationError> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = state.to_string();
    let client = client(metadata, provider, style, callback)?;
    let mut request = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, move || CsrfToken::new(state), Nonce::new_random)
        .set_pkce_challenge(challenge);
    let default_scopes = ["email".to_string(), "profile".to_string()];
    for scope in if scopes.is_empty() { &default_scopes[..] } else { scopes } {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    if style == Style::Apple {
        request = request.add_extra_param("response_mode", "form_post");
    }
    let (url, _, nonce) = request.url();
    Ok((url, Pending { verifier: verifier.secret().clone(), nonce: Some(nonce.secret().clone()) }))
}

pub async fn identify(
    http: &reqwest::Client,
    metadata: &Metadata,
    provider: &ProviderSettings,
    style: Style,
    pending: &Pending,
    code: &str,
    callback: &str,
) -> Result<ProviderIdentity, Failure> {
    let client = client(metadata, provider, style, callback)?;
    let response = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| unavailable("the token endpoint")(&e))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
        .request_async(http)
        .await
        .map_err(|e| match e {
            // The provider refused the code (used, expired, another client's): no one is proven.
            RequestTokenError::ServerResponse(refusal) => {
                FederationError::Refused(format!("token endpoint: {refusal}"))
            }
            other => unavailable("the token endpoint")(&other),
        })?;
    let token = response.id_token().ok_or_else(|| FederationError::Refused("no id_token".into()))?.clone();
    let claims = verify(&client, pending, &token)?;
    let mut identity = identity_of(claims);
    if identity.email.is_none() || identity.given_name.is_none() {
        // Some providers name the address or the person only at the userinfo endpoint (its
        // `sub` must be the id_token's: the library checks it).
        if let Ok(request) = client.user_info(response.access_token().clone(), Some(claims.subject().clone())) {
            let info: CoreUserInfoClaims =
                request.request_async(http).await.map_err(|e| unavailable("userinfo")(&e))?;
            if identity.email.is_none() {
                identity.email = info.email().map(|e| e.to_string());
                identity.email_verified = info.email_verified().unwrap_or(false);
            }
            identity.given_name =
                identity.given_name.or_else(|| info.given_name().and_then(|n| n.get(None)).map(|n| n.to_string()));
            identity.family_name =
                identity.family_name.or_else(|| info.family_name().and_then(|n| n.get(None)).map(|n| n.to_string()));
        }
    }
    Ok(identity)
}

/// The same id_token checked against a freshly fetched key set.
pub fn verify_again(
    metadata: &Metadata,
    provider: &ProviderSettings,
    pending: &Pending,
    token: Box<CoreIdToken>,
) -> Result<ProviderIdentity, FederationError> {
    // Only the key set matters here: the callback URL plays no part in checking a token.
    let client = client(metadata, provider, Style::Standard, "http://unused.invalid/")?;
    verify(&client, pending, &token).map(identity_of).map_err(Failure::into_error)
}

fn verify<'t>(
    client: &CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    pending: &Pending,
    token: &'t CoreIdToken,
) -> Result<&'t CoreIdTokenClaims, Failure> {
    let nonce = Nonce::new(pending.nonce.clone().unwrap_or_default());
    token.claims(&client.id_token_verifier(), &nonce).map_err(|e| match e {
        openidconnect::ClaimsVerificationError::SignatureVerification(
            openidconnect::SignatureVerificationError::NoMatchingKey,
        ) => Failure::UnknownKey(Box::new(token.clone())),
        e => Failure::Other(FederationError::Refused(format!("id_token: {e}"))),
    })
}

fn identity_of(claims: &CoreIdTokenClaims) -> ProviderIdentity {
    let name = |n: Option<&openidconnect::LocalizedClaim<openidconnect::EndUserGivenName>>| {
        n.and_then(|n| n.get(None)).map(|n| n.to_string())
    };
    let family = claims.family_name().and_then(|n| n.get(None)).map(|n| n.to_string());
    ProviderIdentity {
        subject: claims.subject().to_string(),
        email: claims.email().map(|e| e.to_string()),
        email_verified: claims.email_verified().unwrap_or(false),
        given_name: name(claims.given_name()),
        family_name: family,
    }
}
