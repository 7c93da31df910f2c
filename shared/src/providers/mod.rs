//! The providers route group: signing in with Google, Apple, GitHub or any OpenID provider the
//! operator configured. Its own group (its own Lambda function on AWS): the protocol libraries
//! it carries are nobody else's weight.
//!
//! A front end sends the browser to `start`; the provider sends it back to `callback`, which
//! sends it on to the front end's page with a single-use `code`; the front end exchanges the
//! code for the usual answer of a login (`exchange`), or, when the provider's address is an
//! existing account's, links after that account's password (`link`).

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    extract::{FromRef, RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::{
    federation::Federation,
    http::{
        Access, ApiError, AuthUser, Device, JsonBody, Problem, QueryParams, Source,
        pages::{FormPage, LinkForm, page, unusable_link},
    },
    identity::{
        Identity, IdentityError,
        providers::{self, IdentityView, LinkStart, ProviderAnswer, ProviderSignInOutcome, ProviderView},
    },
};

/// What the group uses: the sign-in service and the providers.
#[derive(Clone)]
pub struct ProvidersState {
    pub identity: Identity,
    pub federation: Arc<Federation>,
}

impl ProvidersState {
    /// Where providers send the browser back: registered with each provider as the redirect URI.
    pub fn callback_url(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.identity.config.public_url)
    }

    /// The callback's path as the browser sees it (under any path the public URL has, a named
    /// stage's say): the flow cookie's `Path`.
    fn cookie_path(&self) -> String {
        url::Url::parse(&self.callback_url()).map_or_else(|_| CALLBACK_PATH.to_string(), |u| u.path().to_string())
    }
}

pub const CALLBACK_PATH: &str = "/api/v1/auth/providers/callback";
/// The cookie binding a sign-in to the browser that started it: sent only to the callback.
const FLOW_COOKIE: &str = "ums_provider_flow";

/// The group's operations for the OpenAPI document, without its handlers (the docs function
/// carries no provider protocol).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_providers,
    start,
    callback,
    callback_form_post,
    exchange,
    link,
    email_link,
    link_page,
    link_form,
    identities,
    begin_link,
    unlink,
    confirm_link
))]
pub struct ProvidersApi;

impl FromRef<ProvidersState> for Access {
    fn from_ref(state: &ProvidersState) -> Self {
        state.identity.access()
    }
}

crate::http::route_group! {
    ProvidersState;
    [list_providers],
    [start],
    [callback, callback_form_post],
    [exchange],
    [link],
    [email_link],
    [link_page, link_form],
    [identities, begin_link, unlink],
    [confirm_link],
}

/// The providers people may sign in with.
#[utoipa::path(
    get, path = "/api/v1/auth/providers", tag = "providers",
    responses((status = 200, description = "The providers configured now", body = Vec<ProviderView>))
)]
pub async fn list_providers(State(state): State<ProvidersState>) -> axum::Json<Vec<ProviderView>> {
    axum::Json(providers::providers(&state.federation).await)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    /// A provider's `id` (`GET /api/v1/auth/providers`).
    pub provider: String,
    /// The front end's page to come back to: exactly one of the operator's list.
    pub redirect_to: String,
    /// A link to a signed-in account: the `start_url` of `POST /api/v1/user/identities` has it.
    pub link: Option<String>,
}

/// Sign in with a provider: where the browser goes first.
///
/// Answers a redirect to the provider's sign-in page, and a cookie that binds the sign-in to this
/// browser (an answer of the provider brought by another browser is refused). Navigate to it
/// (a link or `window.location`), do not fetch it.
#[utoipa::path(
    get, path = "/api/v1/auth/providers/start", tag = "providers", params(StartQuery),
    responses(
        (status = 303, description = "To the provider's sign-in page"),
        (status = 400, description = "`redirect_to` is not on the operator's list (`redirect_not_allowed`), a `link` that is unknown, used or for another provider (`invalid_sign_in_flow`), or a parameter missing (`invalid_query`)", body = Problem),
        (status = 404, description = "No such provider (`unknown_provider`)", body = Problem),
        (status = 429, description = "Too many sign-ins started from here (`too_many_attempts`); see Retry-After", body = Problem),
        (status = 503, description = "The provider cannot be reached (`provider_unavailable`); see Retry-After", body = Problem),
    )
)]
pub async fn start(
    State(state): State<ProvidersState>,
    source: Source,
    QueryParams(query): QueryParams<StartQuery>,
) -> Result<Response, ApiError> {
    let started = providers::start(
        &state.identity,
        &state.federation,
        &query.provider,
        &query.redirect_to,
        query.link.as_deref(),
        &state.callback_url(),
        &source,
    )
    .await?;
    let secure = if state.identity.config.public_url.starts_with("https://") { "; Secure" } else { "" };
    let cookie = format!(
        "{FLOW_COOKIE}={}; Path={}; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        started.browser,
        state.cookie_path(),
        providers::FLOW_TTL.whole_seconds()
    );
    Ok(redirect(&started.location, Some(&cookie)))
}

fn redirect(location: &str, cookie: Option<&str>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, location);
    }
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(c).ok()) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// What a provider sends back (as a query, or a form post; read by `provider_return`).
#[derive(Debug, Default, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct ProviderReturn {
    pub state: Option<String>,
    pub code: Option<String>,
    /// The provider's refusal (the person declined, say).
    pub error: Option<String>,
}

/// Where providers send the browser back (the redirect URI registered with them).
///
/// Finishes the sign-in and sends the browser on to the front end's page with `?code=` (for
/// `POST /api/v1/auth/providers/exchange`) or `?error=` (a stable code: `provider_sign_in_failed`,
/// `provider_unavailable`, `provider_email_unverified`, `unknown_provider`). A return that
/// belongs to no sign-in this browser started answers a page saying so.
#[utoipa::path(
    get, path = "/api/v1/auth/providers/callback", tag = "providers", params(ProviderReturn),
    responses(
        (status = 303, description = "To the front end's page, with `code` or `error`"),
        (status = 400, description = "Unknown, used or expired, or started in another browser", content_type = "text/html", body = String),
    )
)]
pub async fn callback(
    State(state): State<ProvidersState>,
    source: Source,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let answer = provider_return(query.unwrap_or_default().as_bytes());
    finish(&state, &source, &headers, answer).await
}

/// Where providers that answer by a form post (Apple) send the browser back.
///
/// The same as the GET. A browser does not send the sign-in's cookie with another site's
/// form post, so a post of a `state` without it is sent once to the GET, which it does send it
/// to.
#[utoipa::path(
    post, path = "/api/v1/auth/providers/callback", tag = "providers",
    request_body(content = ProviderReturn, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To the front end's page, with `code` or `error`; or to the GET"),
        (status = 400, description = "Unknown, used or expired, or started in another browser", content_type = "text/html", body = String),
    )
)]
pub async fn callback_form_post(
    State(state): State<ProvidersState>,
    source: Source,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = provider_return(&body);
    if flow_cookie(&headers).is_none() && answer.state.is_some() {
        let query = form_query(&answer);
        return redirect(&format!("{}?{query}", state.callback_url()), None);
    }
    finish(&state, &source, &headers, answer).await
}

/// The provider's answer from a query string or a form body (what else it holds is not ours).
fn provider_return(body: &[u8]) -> ProviderReturn {
    let mut answer = ProviderReturn::default();
    for (key, value) in url::form_urlencoded::parse(body) {
        match key.as_ref() {
            "state" => answer.state = Some(value.into_owned()),
            "code" => answer.code = Some(value.into_owned()),
            "error" => answer.error = Some(value.into_owned()),
            _ => {}
        }
    }
    answer
}

fn form_query(answer: &ProviderReturn) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in [("state", &answer.state), ("code", &answer.code), ("error", &answer.error)] {
        if let Some(value) = value {
            query.append_pair(key, value);
        }
    }
    query.finish()
}

fn flow_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == FLOW_COOKIE)
        .map(|(_, value)| value)
}

async fn finish(state: &ProvidersState, source: &Source, headers: &HeaderMap, answer: ProviderReturn) -> Response {
    let provider_answer = ProviderAnswer {
        state: answer.state.as_deref().unwrap_or_default(),
        browser: flow_cookie(headers),
        code: answer.code.as_deref(),
        error: answer.error.as_deref(),
    };
    let spent = format!("{FLOW_COOKIE}=; Path={}; Max-Age=0; HttpOnly; SameSite=Lax", state.cookie_path());
    match providers::finish(&state.identity, &state.federation, provider_answer, &state.callback_url(), source).await {
        Ok(location) => redirect(&location, Some(&spent)),
        Err(IdentityError::InvalidSignInFlow) => page(
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be finished",
            "It was finished already, has expired, or was started in another browser. Go back to the site and sign \
             in again.",
            true,
        ),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRequest {
    /// The `code` the front end's page received.
    pub code: String,
}

/// Exchange a provider sign-in's code, once, from where the sign-in ended.
///
/// Answers as a login does: the tokens, or a second factor's `challenge` (staff, and anyone
/// with a factor). When the provider's address belongs to an existing account, nothing is linked
/// and no session given: the answer is a `link_ceremony`, to send with that account's password
/// to `POST /api/v1/auth/providers/link`.
#[utoipa::path(
    post, path = "/api/v1/auth/providers/exchange", tag = "providers", request_body = ExchangeRequest,
    responses(
        (status = 200, description = "Signed in (`TokenPair`), a second factor is needed (`SecondFactorChallenge`), or the existing account must be proven (`LinkRequired`)", body = ProviderSignInOutcome),
        (status = 400, description = "The code is unknown, used, expired or from elsewhere (`invalid_sign_in_flow`)", body = Problem),
        (status = 403, description = "`account_suspended`", body = Problem),
    )
)]
pub async fn exchange(
    State(state): State<ProvidersState>,
    source: Source,
    device: Device,
    JsonBody(body): JsonBody<ExchangeRequest>,
) -> Result<crate::auth::NoStore<ProviderSignInOutcome>, ApiError> {
    Ok(crate::auth::no_store(providers::exchange(&state.identity, &body.code, (&source, &device)).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The `link_ceremony` the exchange answered.
    pub link_ceremony: String,
    /// The existing account's password.
    pub password: String,
}

/// Link a provider's account to the existing account its address belongs to, by that account's
/// password, and sign in.
///
/// The password is counted as a login's (429 with Retry-After after repeated failures); a wrong
/// one leaves the ceremony usable until it expires, a right one links once. An account with a
/// second factor (all staff) links from a session it signed in to instead.
#[utoipa::path(
    post, path = "/api/v1/auth/providers/link", tag = "providers", request_body = LinkRequest,
    responses(
        (status = 200, description = "Linked and signed in (`TokenPair`), or a second factor is needed (`SecondFactorChallenge`)", body = ProviderSignInOutcome),
        (status = 400, description = "The ceremony is unknown, used, expired or from elsewhere (`invalid_sign_in_flow`)", body = Problem),
        (status = 401, description = "Wrong password (`invalid_credentials`)", body = Problem),
        (status = 403, description = "The account has a second factor: the password alone does not prove it (`step_up_needs_second_factor`); sign in and link from the account (`POST /api/v1/user/identities`)", body = Problem),
        (status = 409, description = "The provider's account is linked to another account (`identity_taken`)", body = Problem),
        (status = 429, description = "Too many failures (`too_many_attempts`); see Retry-After", body = Problem),
    )
)]
pub async fn link(
    State(state): State<ProvidersState>,
    source: Source,
    device: Device,
    JsonBody(body): JsonBody<LinkRequest>,
) -> Result<crate::auth::NoStore<ProviderSignInOutcome>, ApiError> {
    let outcome =
        providers::link_with_password(&state.identity, &body.link_ceremony, &body.password, (&source, &device)).await?;
    Ok(crate::auth::no_store(outcome))
}

/// The providers linked to your account.
#[utoipa::path(
    get, path = "/api/v1/user/identities", tag = "providers", security(("bearer" = [])),
    responses(
        (status = 200, description = "Your linked providers", body = Vec<IdentityView>),
        (status = 401, description = "Not signed in (`unauthorized`)", body = Problem),
    )
)]
pub async fn identities(
    State(state): State<ProvidersState>,
    caller: AuthUser,
) -> Result<Json<Vec<IdentityView>>, ApiError> {
    Ok(Json(providers::identities(&state.identity, &caller).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BeginLink {
    /// A provider's `id`.
    pub provider: String,
    /// The front end's page the provider's sign-in comes back to (on the operator's list).
    pub redirect_to: String,
}

/// Link a provider to your account.
///
/// Needs a recent authentication. Answers where to send the browser: the provider's sign-in
/// comes back to `redirect_to` with a `code`, which this same session confirms at
/// `POST /api/v1/user/identities/confirm` (a code confirmed by any other session links nothing).
#[utoipa::path(
    post, path = "/api/v1/user/identities", tag = "providers", security(("bearer" = [])), request_body = BeginLink,
    responses(
        (status = 200, description = "Where to send the browser", body = LinkStart),
        (status = 400, description = "`redirect_not_allowed`", body = Problem),
        (status = 401, description = "`unauthorized`, or `step_up_required`", body = Problem),
        (status = 404, description = "`unknown_provider`", body = Problem),
    )
)]
pub async fn begin_link(
    State(state): State<ProvidersState>,
    caller: AuthUser,
    JsonBody(body): JsonBody<BeginLink>,
) -> Result<crate::auth::NoStore<LinkStart>, ApiError> {
    let start =
        providers::begin_link(&state.identity, &state.federation, &caller, &body.provider, &body.redirect_to).await?;
    Ok(crate::auth::no_store(start))
}

/// Confirm a provider's link with the `code` its sign-in came back with, from the session that
/// asked for it.
#[utoipa::path(
    post, path = "/api/v1/user/identities/confirm", tag = "providers", security(("bearer" = [])),
    request_body = ExchangeRequest,
    responses(
        (status = 200, description = "Linked", body = IdentityView),
        (status = 400, description = "The code is unknown, used, expired, from elsewhere or another session's (`invalid_sign_in_flow`)", body = Problem),
        (status = 409, description = "The provider's account is another account's (`identity_taken`)", body = Problem),
        (status = 422, description = "This provider's other account is linked already (`validation_failed`)", body = Problem),
    )
)]
pub async fn confirm_link(
    State(state): State<ProvidersState>,
    caller: AuthUser,
    source: Source,
    device: Device,
    JsonBody(body): JsonBody<ExchangeRequest>,
) -> Result<Json<IdentityView>, ApiError> {
    Ok(Json(providers::confirm_link(&state.identity, &caller, &body.code, (&source, &device)).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnlinkQuery {
    /// The provider to unlink.
    pub provider: String,
}

/// Unlink a provider from your account.
///
/// Needs a recent authentication. The account's last way in stays: without a password, a passkey
/// or another provider, the last provider cannot be unlinked (set a password by the reset flow
/// first).
#[utoipa::path(
    delete, path = "/api/v1/user/identities", tag = "providers", security(("bearer" = [])), params(UnlinkQuery),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 400, description = "No `provider` named (`invalid_query`)", body = Problem),
        (status = 401, description = "`unauthorized`, or `step_up_required`", body = Problem),
        (status = 404, description = "No such provider linked (`not_found`)", body = Problem),
        (status = 409, description = "The account's last way in (`last_way_in`)", body = Problem),
    )
)]
pub async fn unlink(
    State(state): State<ProvidersState>,
    caller: AuthUser,
    source: Source,
    device: Device,
    QueryParams(query): QueryParams<UnlinkQuery>,
) -> Result<StatusCode, ApiError> {
    providers::unlink(&state.identity, &caller, &query.provider, (&source, &device)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailLinkRequest {
    /// The `link_ceremony` the exchange answered.
    pub link_ceremony: String,
}

/// Link a provider's account to the existing account by a link emailed to that account's address
/// (instead of its password).
///
/// Spends the ceremony and emails the account a link whose page's button links (once, within 10
/// minutes); then signing in with the provider signs in to the account. An account with a second
/// factor links from a session it signed in to instead. Counted on the address's emails.
#[utoipa::path(
    post, path = "/api/v1/auth/providers/link/email", tag = "providers", request_body = EmailLinkRequest,
    responses(
        (status = 202, description = "The link is on its way to the account's address"),
        (status = 400, description = "The ceremony is unknown, used, expired or from elsewhere (`invalid_sign_in_flow`)", body = Problem),
        (status = 429, description = "Too many emails to the address (`too_many_emails`); see Retry-After", body = Problem),
    )
)]
pub async fn email_link(
    State(state): State<ProvidersState>,
    source: Source,
    device: Device,
    JsonBody(body): JsonBody<EmailLinkRequest>,
) -> Result<StatusCode, ApiError> {
    providers::email_link(&state.identity, &state.federation, &body.link_ceremony, (&source, &device)).await?;
    Ok(StatusCode::ACCEPTED)
}

const LINK: FormPage = FormPage {
    title: "Link a sign-in to your account",
    lead: "Press the button to link the provider you signed in with to your account: from then on, signing \
           in with it signs in to this account. If you did not ask for this, close this page.",
    action: "link-provider",
    button: "Link it to my account",
    password: false,
};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkPageQuery {
    /// The token from the emailed link.
    #[allow(dead_code)]
    pub token: Option<String>,
}

/// The page the emailed link opens: a button that links (a GET changes nothing: mail scanners open
/// links).
#[utoipa::path(
    get, path = "/link-provider", tag = "pages", params(LinkPageQuery),
    responses(
        (status = 200, description = "A page with the button", content_type = "text/html", body = String),
        (status = 400, description = "A link without a token of ours", content_type = "text/html", body = String),
    )
)]
pub async fn link_page(RawQuery(query): RawQuery) -> Response {
    LINK.for_link(query.as_deref())
}

/// What the link's page posts (`application/x-www-form-urlencoded`).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct LinkTokenForm {
    pub token: String,
}

/// The button: links the provider's account to the account, once; answers a page.
#[utoipa::path(
    post, path = "/link-provider", tag = "pages",
    request_body(content = LinkTokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Linked", content_type = "text/html", body = String),
        (status = 400, description = "The link was used or expired", content_type = "text/html", body = String),
        (status = 403, description = "The account has a second factor: link from the account instead", content_type = "text/html", body = String),
        (status = 409, description = "The provider's account is another account's", content_type = "text/html", body = String),
    )
)]
pub async fn link_form(State(state): State<ProvidersState>, source: Source, device: Device, body: Bytes) -> Response {
    let form = LinkForm::parse(&body);
    let Some(token) = form.token() else { return unusable_link() };
    let outcome = providers::link_by_emailed_link(&state.identity, token, (&source, &device)).await;
    LINK.result(token, outcome, "Linked", "Done: sign in with the provider again, and it signs in to this account.")
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi as _;

    #[test]
    fn the_documented_operations_are_the_served_ones() {
        let documented = serde_json::to_value(super::ProvidersApi::openapi().paths).unwrap();
        let served = serde_json::to_value(super::routes().split_for_parts().1.paths).unwrap();
        assert_eq!(documented, served, "ProvidersApi's paths and route_group!'s list differ");
    }
}
