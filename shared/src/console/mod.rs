//! The staff console route group: server-rendered pages for moderators and admins, at
//! `/console` (its own Lambda function on AWS).
//!
//! Every page is HTML and CSS from templates, with one small script that only improves what
//! works without it. A signed-in page holds the console session (`identity::console`): an
//! ordinary session whose secret is an HttpOnly, SameSite=Strict cookie; every form carries
//! the session's token and is refused (and changes nothing) without it. Each action calls the
//! API route's own handler, so the rules, limits, audit records and events are the API's: the
//! console decides nothing itself.

mod page;

use std::collections::{BTreeSet, HashMap};

use axum::{
    Json,
    extract::{FromRef, FromRequest, FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use minijinja::context;
use serde::Serialize;

use self::page::{Form, Frame, cookie, set_cookie};
use crate::http::pages::sentence;
use crate::{
    domain::{Action, EmailAddress, Role, Status, UserId, UserView},
    http::{Access, ApiError, Device, JsonBody, QueryParams, RawBody, Source},
    identity::{
        self, Identity, IdentityError, NewAccount, Registrar,
        console::{self, ConsoleCaller},
        password,
        second_factor::{FactorAnswer, FactorsView, Proof},
    },
    moderation::{
        self, AuditView, AuthorQuery, FlagRequest, FlagView, ModerationState, RecordsQuery, ReinstateRequest,
        ReportStatusFilter, ReportView, ReportsQuery, SuspendRequest,
    },
    users::{self, ActivityQuery, EndSessionQuery, IdQuery, SessionsQuery, UsersQuery, UsersState},
};

/// What the console uses: the groups whose actions it offers (their handlers are its actions).
#[derive(Clone)]
pub struct ConsoleState {
    pub users: UsersState,
    pub moderation: ModerationState,
}

impl FromRef<ConsoleState> for Access {
    fn from_ref(state: &ConsoleState) -> Self {
        state.users.identity.access()
    }
}

/// The session's cookie, and the sign-in form's (a token the form must repeat, against a
/// sign-in posted from another site).
const SESSION_COOKIE: &str = "ums_console";
const SIGN_IN_COOKIE: &str = "ums_console_sign_in";
/// How long the sign-in form (and its second step) may take.
const SIGN_IN_FORM_SECS: i64 = 15 * 60;
const PAGE_SIZE: u32 = 20;

impl ConsoleState {
    fn identity(&self) -> &Identity {
        &self.users.identity
    }

    /// The console's path as the browser sees it (under a stage's path on AWS): every link,
    /// form and cookie path starts with it.
    fn base(&self) -> String {
        let public = &self.identity().config.public_url;
        let prefix = url::Url::parse(public).map(|u| u.path().trim_end_matches('/').to_string()).unwrap_or_default();
        format!("{prefix}/console")
    }

    /// Secure cookies and HSTS, except on a laptop's plain http://127.0.0.1.
    fn secure(&self) -> bool {
        !self.identity().config.public_url.starts_with("http://127.0.0.1")
    }

    fn photos_origin(&self) -> String {
        url::Url::parse(&self.identity().config.photos_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| "'self'".into())
    }
}

/// Renders a page for `me` (or nobody signed in).
fn frame<'a>(state: &ConsoleState, base: &'a str, origin: &'a str, me: Option<&'a ConsoleCaller>) -> Frame<'a> {
    Frame { base, me, photos_origin: origin, secure: state.secure() }
}

/// A request of a signed-in console session: who, where the console is, the query's parameters.
/// Without a session (or with one that is over) the browser is sent to sign in.
pub struct Staff {
    me: ConsoleCaller,
    base: String,
    photos_origin: String,
    secure: bool,
    query: HashMap<String, String>,
}

impl Staff {
    fn frame(&self) -> Frame<'_> {
        Frame { base: &self.base, me: Some(&self.me), photos_origin: &self.photos_origin, secure: self.secure }
    }

    /// The account or author the request is about (`?id=`).
    fn id(&self) -> String {
        self.query.get("id").cloned().unwrap_or_default()
    }
}

impl FromRequestParts<ConsoleState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ConsoleState) -> Result<Self, Response> {
        let (base, photos_origin) = (state.base(), state.photos_origin());
        match session(state, &parts.headers).await {
            Ok(me) => {
                let query = query_map(parts.uri.query());
                Ok(Staff { me, base, photos_origin, secure: state.secure(), query })
            }
            Err(refused) => Err(refused.answer(&frame(state, &base, &photos_origin, None))),
        }
    }
}

/// A form posted from a page of the signed-in session: a form without the session's token
/// (posted from another site, or another session's page) is refused and changes nothing.
pub struct StaffForm {
    staff: Staff,
    form: Form,
}

impl FromRequest<ConsoleState> for StaffForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &ConsoleState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let staff = Staff::from_request_parts(&mut parts, state).await?;
        let RawBody(body) = RawBody::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| problem(&staff.frame(), e, None))?;
        let form = Form::parse(&body);
        if !staff.me.csrf_matches(form.get("csrf")) {
            tracing::warn!(user_id = %staff.me.caller.user_id, "a console form without its session's token refused");
            return Err(staff.frame().message(
                StatusCode::FORBIDDEN,
                "This form has expired",
                "It did not come from a page of your current console session, so nothing was changed. Open the page again and repeat what you did.",
                Some(&staff.base),
            ));
        }
        Ok(StaffForm { staff, form })
    }
}

/// Why a request has no console session.
enum NoSession {
    /// No cookie, or one of a session that is over: sign in.
    SignIn,
    Failed(ApiError),
}

impl NoSession {
    fn answer(self, frame: &Frame<'_>) -> Response {
        match self {
            NoSession::SignIn => {
                let mut response = frame.see_other(&format!("{}/sign-in", frame.base));
                let gone = set_cookie(SESSION_COOKIE, "", frame.base, 0, frame.secure);
                response.headers_mut().append(header::SET_COOKIE, gone);
                response
            }
            NoSession::Failed(error) => problem(frame, error, None),
        }
    }
}

async fn session(state: &ConsoleState, headers: &HeaderMap) -> Result<ConsoleCaller, NoSession> {
    let value = cookie(headers, SESSION_COOKIE).ok_or(NoSession::SignIn)?;
    match console::authenticate(state.identity(), value).await {
        Ok(me) => Ok(me),
        Err(IdentityError::Unauthorized) => Err(NoSession::SignIn),
        Err(e) => Err(NoSession::Failed(e.into())),
    }
}

/// An error as a page: a step-up asked for sends the browser to prove who they are and come
/// back; the rest say what went wrong in words, with the way back.
fn problem(frame: &Frame<'_>, error: ApiError, back: Option<&str>) -> Response {
    if let (ApiError::StepUpRequired { .. }, Some(back)) = (&error, back) {
        let then: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
        return frame.see_other(&format!("{}/step-up?then={then}", frame.base));
    }
    if matches!(error, ApiError::Unauthorized) {
        return NoSession::SignIn.answer(frame);
    }
    let problem = error.problem();
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut words = problem.detail.clone();
    for field in &problem.errors {
        words += &format!(" {}", sentence(&field.field, &field.detail));
    }
    let title = match status {
        StatusCode::FORBIDDEN => "Not for your role",
        StatusCode::NOT_FOUND => "Not found",
        _ => problem.title,
    };
    frame.message(status, title, &words, back)
}

/// A query string's parameters.
fn query_map(query: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect()
}

/// What `done=...` on a page says was done (a fixed list: a query string cannot put words on a
/// page).
fn notice(query: &HashMap<String, String>) -> Option<&'static str> {
    Some(match query.get("done")?.as_str() {
        "flagged" => "The author is flagged; the reports it took up are closed.",
        "suspended" => "The author is suspended and signed out everywhere.",
        "reinstated" => "The author is reinstated.",
        "role" => "The role is changed; the account was signed out everywhere.",
        "factors" => "Every second factor is removed and every session ended.",
        "session" => "The session is ended.",
        "sessions" => "Every session of the account is ended.",
        "deleted" => "The account is deleted.",
        "registered" => "The account is registered; a confirmation email is on its way.",
        "stepped_up" => "Confirmed. Go on with what you were doing.",
        _ => return None,
    })
}

/// Display names of accounts by id ("a deleted account" for those gone).
async fn names(
    state: &ConsoleState,
    ids: impl IntoIterator<Item = String>,
) -> Result<HashMap<String, String>, ApiError> {
    let ids: BTreeSet<String> = ids.into_iter().collect();
    let ids: Vec<UserId> = ids.into_iter().map(UserId).collect();
    let mut names = HashMap::new();
    for chunk in ids.chunks(100) {
        for user in state.identity().accounts.accounts_by_id(chunk).await? {
            names.insert(user.id.0.clone(), format!("{} {}", user.profile.first_name, user.profile.last_name));
        }
    }
    Ok(names)
}

fn name_of(names: &HashMap<String, String>, id: &str) -> String {
    names.get(id).cloned().unwrap_or_else(|| "a deleted account".into())
}

/// A link to `path` with `params` (blank ones left out).
fn link(base: &str, path: &str, params: &[(&str, Option<&str>)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            query.append_pair(name, value);
        }
    }
    let query = query.finish();
    if query.is_empty() { format!("{base}{path}") } else { format!("{base}{path}?{query}") }
}

crate::http::route_group! {
    ConsoleState;
    [home],
    [sign_in_page, sign_in],
    [second_factor],
    [sign_out],
    [step_up_page, step_up],
    [reports],
    [author],
    [flag],
    [suspend],
    [reinstate],
    [audit],
    [accounts],
    [account],
    [change_role],
    [reset_factors],
    [end_sessions],
    [delete_account],
    [staff_page, register_staff],
    [webhooks],
    [stylesheet],
    [script],
    [icon],
}

/// The console's start: what waits, and where to go.
#[utoipa::path(get, path = "/console", tag = "console",
    responses((status = 200, description = "The start page", content_type = "text/html"), (status = 303, description = "To sign in")))]
pub async fn home(State(state): State<ConsoleState>, staff: Staff) -> Response {
    let (frame, me) = (staff.frame(), &staff.me);
    let asked = ReportsQuery { author_id: None, status: None, limit: Some(1), cursor: None };
    let open = match moderation::reported_authors(
        State(state.moderation.clone()),
        me.caller.clone(),
        QueryParams(asked),
    )
    .await
    {
        Ok(Json(page)) => page.total,
        Err(e) => return problem(&frame, e, None),
    };
    let recent_until = console::proof_recent_until(me, state.identity());
    let recent_until = recent_until.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let notice = notice(&staff.query);
    frame.render(StatusCode::OK, "home.html", "Start", context! { open_reports => open, recent_until, notice })
}

/// The sign-in form: a staff account's address and password.
#[utoipa::path(get, path = "/console/sign-in", tag = "console",
    responses((status = 200, description = "The sign-in form", content_type = "text/html")))]
pub async fn sign_in_page(State(state): State<ConsoleState>, headers: HeaderMap) -> Response {
    let (base, origin) = (state.base(), state.photos_origin());
    let frame = frame(&state, &base, &origin, None);
    sign_in_form(&frame, &headers, StatusCode::OK, "", None)
}

/// The sign-in form, with its token (the cookie's, or a new one set with the page).
fn sign_in_form(
    frame: &Frame<'_>,
    headers: &HeaderMap,
    status: StatusCode,
    email: &str,
    error: Option<String>,
) -> Response {
    let token = cookie(headers, SIGN_IN_COOKIE)
        .filter(|t| t.len() == 43)
        .map(str::to_string)
        .unwrap_or_else(crate::credentials::tokens::random_token);
    let mut response =
        frame.render(status, "sign_in.html", "Sign in", context! { csrf => token.clone(), email, error });
    let cookie = set_cookie(SIGN_IN_COOKIE, &token, frame.base, SIGN_IN_FORM_SECS, frame.secure);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// Whether a sign-in form carries the token its browser was given with the form.
fn sign_in_form_is_ours(headers: &HeaderMap, form: &Form) -> bool {
    use subtle::ConstantTimeEq as _;
    let given = cookie(headers, SIGN_IN_COOKIE).unwrap_or_default();
    !given.is_empty() && bool::from(given.as_bytes().ct_eq(form.get("csrf").as_bytes()))
}

/// The password: a staff account's answers its second factor's form.
#[utoipa::path(post, path = "/console/sign-in", tag = "console",
    responses((status = 200, description = "The second factor's form", content_type = "text/html"),
        (status = 401, description = "Wrong address or password", content_type = "text/html"),
        (status = 403, description = "Not a staff account, or the form not this browser's", content_type = "text/html")))]
pub async fn sign_in(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    source: Source,
    device: Device,
    RawBody(body): RawBody,
) -> Response {
    let (base, origin) = (state.base(), state.photos_origin());
    let frame = frame(&state, &base, &origin, None);
    let form = Form::parse(&body);
    if !sign_in_form_is_ours(&headers, &form) {
        let error = "The form had expired. Sign in again.".to_string();
        return sign_in_form(&frame, &headers, StatusCode::FORBIDDEN, form.get("email"), Some(error));
    }
    let email = form.get("email");
    match console::sign_in(state.identity(), email, form.get("password"), (&source, &device)).await {
        Ok(challenge) => second_factor_form(&frame, &form, &challenge.challenge, challenge_passkey(&challenge), None, StatusCode::OK, &challenge.factors),
        Err(IdentityError::Forbidden) => frame.message(
            StatusCode::FORBIDDEN,
            "The console is for moderators and admins",
            "Your account is a reader's or an author's: what you can do is in the blog itself. Nothing was started.",
            None,
        ),
        Err(IdentityError::FactorRequired) => frame.message(
            StatusCode::FORBIDDEN,
            "Enrol a second factor first",
            "Staff sign in to the console with a second factor. Sign in through the API once to enrol an authenticator app (POST /api/v1/auth/factors/totp), then come back.",
            None,
        ),
        Err(error) => {
            let words = ApiError::from(error).problem().detail;
            sign_in_form(&frame, &headers, StatusCode::UNAUTHORIZED, email, Some(words))
        }
    }
}

fn challenge_passkey(challenge: &crate::identity::second_factor::SecondFactorChallenge) -> Option<String> {
    challenge.passkey.as_ref().and_then(|options| serde_json::to_string(options).ok())
}

/// The second factor's form of a sign-in (`challenge`) or a step-up.
#[allow(clippy::too_many_arguments)]
fn second_factor_form(
    frame: &Frame<'_>,
    form: &Form,
    challenge: &str,
    passkey: Option<String>,
    error: Option<String>,
    status: StatusCode,
    factors: &[crate::identity::second_factor::FactorKind],
) -> Response {
    use crate::identity::second_factor::FactorKind;
    let context = context! {
        lead => "Enter the code your authenticator app shows, or one of your recovery codes.",
        action => format!("{}/sign-in/second-factor", frame.base),
        button => "Sign in",
        csrf => form.get("csrf"),
        challenge,
        totp => factors.contains(&FactorKind::Totp),
        passkey,
        error,
    };
    frame.render(status, "second_factor.html", "Your second factor", context)
}

/// A factor as a form gives it: a code, a recovery code, or a passkey's answer.
fn factor_answer(form: &Form) -> Result<FactorAnswer, ApiError> {
    let passkey = match form.optional("passkey") {
        Some(json) => Some(serde_json::from_str(json).map_err(|e| ApiError::MalformedJson(e.to_string()))?),
        None => None,
    };
    let code = form.optional("code").map(|c| c.trim().to_string());
    let recovery_code = form.optional("recovery_code").map(|c| c.trim().to_string());
    // The form shows both fields: a code typed wins over an empty recovery field.
    let (code, recovery_code) = match (code, recovery_code, &passkey) {
        (_, _, Some(_)) => (None, None),
        (Some(code), _, None) => (Some(code), None),
        (None, recovery, None) => (None, recovery),
    };
    Ok(FactorAnswer { code, recovery_code, passkey })
}

/// The second factor: right, the console session starts (its cookie set) and the browser goes
/// to the start page.
#[utoipa::path(post, path = "/console/sign-in/second-factor", tag = "console",
    responses((status = 303, description = "Signed in: to the start page"),
        (status = 401, description = "A wrong code: the form again", content_type = "text/html")))]
pub async fn second_factor(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    source: Source,
    device: Device,
    RawBody(body): RawBody,
) -> Response {
    let (base, origin) = (state.base(), state.photos_origin());
    let frame = frame(&state, &base, &origin, None);
    let form = Form::parse(&body);
    if !sign_in_form_is_ours(&headers, &form) {
        let error = "The form had expired. Sign in again.".to_string();
        return sign_in_form(&frame, &headers, StatusCode::FORBIDDEN, "", Some(error));
    }
    let challenge = form.get("challenge");
    let answer = match factor_answer(&form) {
        Ok(answer) => answer,
        Err(e) => return problem(&frame, e, None),
    };
    match console::complete_sign_in(state.identity(), challenge, &answer, (&source, &device)).await {
        Ok(value) => {
            let mut response = frame.see_other(&base);
            let max_age = console::MAX_AGE.whole_seconds();
            let headers = response.headers_mut();
            headers.append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, &value, &base, max_age, frame.secure));
            headers.append(header::SET_COOKIE, set_cookie(SIGN_IN_COOKIE, "", &base, 0, frame.secure));
            response
        }
        Err(IdentityError::InvalidChallenge) => frame.message(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired",
            "It took longer than five minutes, or was finished already. Sign in again.",
            Some(&format!("{base}/sign-in")),
        ),
        Err(error @ (IdentityError::InvalidSecondFactor | IdentityError::Validation(_))) => {
            let words = ApiError::from(error).problem().detail;
            let words = format!("{words} Try again with the code your app shows now.");
            // The challenge stays usable after a wrong code; its passkey options are not kept
            // here, so the form asks for a code.
            second_factor_form(
                &frame,
                &form,
                challenge,
                None,
                Some(words),
                StatusCode::UNAUTHORIZED,
                &[crate::identity::second_factor::FactorKind::Totp],
            )
        }
        Err(error) => problem(&frame, error.into(), None),
    }
}

/// Ends the console session.
#[utoipa::path(post, path = "/console/sign-out", tag = "console",
    responses((status = 303, description = "Signed out: to the sign-in form")))]
pub async fn sign_out(
    State(state): State<ConsoleState>,
    source: Source,
    device: Device,
    StaffForm { staff, .. }: StaffForm,
) -> Response {
    let (frame, me) = (staff.frame(), &staff.me);
    if let Err(e) = console::sign_out(state.identity(), me, (&source, &device)).await {
        return problem(&frame, e.into(), None);
    }
    NoSession::SignIn.answer(&frame)
}

/// Where a step-up sends the browser back: a page of the console, nothing else.
fn back_to(base: &str, then: Option<&str>) -> String {
    then.filter(|t| t.starts_with(&format!("{base}/")) || *t == base)
        .filter(|t| !t.contains("//") && !t.contains('\\'))
        .unwrap_or(base)
        .to_string()
}

/// Step-up: prove who you are again (your second factor) before changing who may sign in.
#[utoipa::path(get, path = "/console/step-up", tag = "console",
    responses((status = 200, description = "The second factor's form", content_type = "text/html")))]
pub async fn step_up_page(staff: Staff) -> Response {
    let (frame, me) = (staff.frame(), &staff.me);
    let then = back_to(frame.base, staff.query.get("then").map(String::as_str));
    step_up_form(&frame, me, &then, None, StatusCode::OK)
}

fn step_up_form(
    frame: &Frame<'_>,
    me: &ConsoleCaller,
    then: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let factors = FactorsView::new(&me.account);
    let context = context! {
        lead => "What you are about to do changes who may sign in or what they may do. Confirm it is you: enter the code your authenticator app shows, or a recovery code.",
        action => format!("{}/step-up", frame.base),
        button => "Confirm",
        then,
        totp => factors.totp,
        error,
    };
    frame.render(status, "second_factor.html", "Confirm it is you", context)
}

#[utoipa::path(post, path = "/console/step-up", tag = "console",
    responses((status = 303, description = "Confirmed: back to the page"),
        (status = 401, description = "A wrong code: the form again", content_type = "text/html")))]
pub async fn step_up(
    State(state): State<ConsoleState>,
    source: Source,
    device: Device,
    StaffForm { staff, form }: StaffForm,
) -> Response {
    let (frame, me) = (staff.frame(), &staff.me);
    let then = back_to(frame.base, form.optional("then"));
    let answer = match factor_answer(&form) {
        Ok(answer) => answer,
        Err(e) => return problem(&frame, e, None),
    };
    match console::step_up(state.identity(), me, Proof::Code(&answer), (&source, &device)).await {
        Ok(()) => {
            let separator = if then.contains('?') { '&' } else { '?' };
            frame.see_other(&format!("{then}{separator}done=stepped_up"))
        }
        Err(error @ (IdentityError::InvalidSecondFactor | IdentityError::Validation(_))) => {
            let words = ApiError::from(error).problem().detail;
            step_up_form(&frame, me, &then, Some(words), StatusCode::UNAUTHORIZED)
        }
        Err(error) => problem(&frame, error.into(), None),
    }
}

/// A report as a page lists it.
#[derive(Serialize)]
struct ReportRow {
    #[serde(flatten)]
    report: ReportView,
    author_name: String,
    reporter_name: String,
}

/// Reports as a page lists them, with the names `names` holds.
fn report_rows(names: &HashMap<String, String>, reports: Vec<ReportView>) -> Vec<ReportRow> {
    reports
        .into_iter()
        .map(|report| ReportRow {
            author_name: name_of(names, &report.author_id),
            reporter_name: name_of(names, &report.reporter_id),
            report,
        })
        .collect()
}

/// The reports queue, newest first: the open ones or all, for one author or every.
#[utoipa::path(get, path = "/console/reports", tag = "console",
    responses((status = 200, description = "A page of reports", content_type = "text/html")))]
pub async fn reports(State(state): State<ConsoleState>, staff: Staff) -> Response {
    let (frame, me) = (staff.frame(), &staff.me);
    let query = &staff.query;
    let all = query.get("status").is_some_and(|s| s == "all");
    let author_id = query.get("author_id").filter(|a| !a.is_empty()).cloned();
    let cursor = query.get("cursor").filter(|c| !c.is_empty()).cloned();
    let asked = ReportsQuery {
        author_id: author_id.clone(),
        status: Some(if all { ReportStatusFilter::All } else { ReportStatusFilter::Open }),
        limit: Some(PAGE_SIZE),
        cursor,
    };
    let this = link(
        frame.base,
        "/reports",
        &[("status", Some(if all { "all" } else { "open" })), ("author_id", author_id.as_deref())],
    );
    let page = match moderation::reported_authors(
        State(state.moderation.clone()),
        me.caller.clone(),
        QueryParams(asked),
    )
    .await
    {
        Ok(Json(page)) => page,
        Err(e) => return problem(&frame, e, Some(&this)),
    };
    let named = names(&state, page.items.iter().flat_map(|r| [r.author_id.clone(), r.reporter_id.clone()])).await;
    let rows = match named {
        Ok(named) => report_rows(&named, page.items),
        Err(e) => return problem(&frame, e, None),
    };
    let status = if all { "all" } else { "open" };
    let next = page.next_cursor.map(|c| {
        link(
            frame.base,
            "/reports",
            &[("status", Some(status)), ("author_id", author_id.as_deref()), ("cursor", Some(&c))],
        )
    });
    let context = context! { reports => rows, total => page.total, status, author_id, next, notice => notice(query) };
    frame.render(StatusCode::OK, "reports.html", "Reports", context)
}

#[derive(Serialize)]
struct FlagRow {
    #[serde(flatten)]
    flag: FlagView,
    moderator_name: String,
}

#[derive(Serialize)]
struct AuditRow {
    #[serde(flatten)]
    record: AuditView,
    actor_name: String,
    author_name: String,
}

/// Audit records as a page lists them, with the names `names` holds.
fn audit_rows(names: &HashMap<String, String>, records: Vec<AuditView>) -> Vec<AuditRow> {
    records
        .into_iter()
        .map(|record| AuditRow {
            actor_name: name_of(names, &record.actor_id),
            author_name: name_of(names, &record.author_id),
            record,
        })
        .collect()
}

/// An author as moderation sees them: profile, photo, counts, the report opened, their reports
/// and flags, the audit trail's history (admins), and the actions the viewer's role may take.
#[utoipa::path(get, path = "/console/author", tag = "console",
    responses((status = 200, description = "The author", content_type = "text/html"),
        (status = 404, description = "No author has this id", content_type = "text/html")))]
pub async fn author(State(state): State<ConsoleState>, staff: Staff) -> Response {
    let (frame, me) = (staff.frame(), &staff.me);
    let query = &staff.query;
    let id = query.get("id").cloned().unwrap_or_default();
    match author_page(&state, me, &id, query.get("report").map(String::as_str)).await {
        Ok(context) => {
            let context = context! { notice => notice(query), ..context };
            frame.render(StatusCode::OK, "author.html", "Author", context)
        }
        Err(e) => problem(&frame, e, None),
    }
}

async fn author_page(
    state: &ConsoleState,
    me: &ConsoleCaller,
    id: &str,
    report_id: Option<&str>,
) -> Result<minijinja::Value, ApiError> {
    let caller = &me.caller;
    caller.require(Action::ListReports)?;
    let identity = state.identity();
    let user = identity.accounts.account(&UserId(id.to_string())).await?;
    let user =
        user.filter(|u| u.role == Role::Author && u.status.tag() != Status::Pending).ok_or(ApiError::NotFound)?;
    let mut view =
        serde_json::to_value(UserView::new(&user, &identity.config.photos_url)).map_err(anyhow::Error::from)?;
    if me.account.role != Role::Admin {
        // Addresses are for their owner and admins.
        view.as_object_mut().map(|v| v.remove("email"));
    }
    let counts = state.users.social.counts(&user.id).await?;
    let moderation_state = State(state.moderation.clone());
    let asked = ReportsQuery {
        author_id: Some(id.to_string()),
        status: Some(ReportStatusFilter::All),
        limit: Some(PAGE_SIZE),
        cursor: None,
    };
    let Json(reports) =
        moderation::reported_authors(moderation_state.clone(), caller.clone(), QueryParams(asked)).await?;
    let asked = RecordsQuery { author_id: Some(id.to_string()), limit: Some(PAGE_SIZE), cursor: None };
    let Json(flags) = moderation::flagged_authors(moderation_state.clone(), caller.clone(), QueryParams(asked)).await?;
    let history = if Action::ReadModerationAudit.allows(caller.role) {
        let asked = RecordsQuery { author_id: Some(id.to_string()), limit: Some(10), cursor: None };
        Some(moderation::moderation_audit(moderation_state, caller.clone(), QueryParams(asked)).await?.0.items)
    } else {
        None
    };
    // Everyone the page names, read at once.
    let named = reports.items.iter().flat_map(|r| [r.author_id.clone(), r.reporter_id.clone()]);
    let named = named.chain(flags.items.iter().map(|f| f.moderator_id.clone()));
    let named = named.chain(history.iter().flatten().map(|a| a.actor_id.clone()));
    let named = names(state, named).await?;
    let reports_more = reports.next_cursor.is_some();
    let (reports_total, reports) = (reports.total, report_rows(&named, reports.items));
    let report = reports.iter().find(|r| Some(r.report.id.as_str()) == report_id);
    let open_reports: Vec<&ReportRow> = reports.iter().filter(|r| r.report.flag_id.is_none()).collect();
    let flags_total = flags.total;
    let flags: Vec<FlagRow> = flags
        .items
        .into_iter()
        .map(|flag| FlagRow { moderator_name: name_of(&named, &flag.moderator_id), flag })
        .collect();
    let history = history.map(|records| audit_rows(&named, records));
    Ok(context! {
        author => view,
        counts,
        report,
        reports,
        reports_total,
        reports_more,
        open_reports,
        flags,
        flags_total,
        history,
        can_flag => Action::FlagAuthor.allows(caller.role),
        can_suspend => Action::SuspendAuthor.allows(caller.role),
    })
}

/// An action's outcome: back to the page of the author or account (`page`: `/author` or
/// `/account`) saying what was done, or the error (a step-up asked for: prove it, then back to
/// the page).
fn after_action<T>(frame: &Frame<'_>, page: &str, id: &str, done: &str, outcome: Result<T, ApiError>) -> Response {
    let page = link(frame.base, page, &[("id", Some(id))]);
    match outcome {
        Ok(_) => frame.see_other(&format!("{page}&done={done}")),
        Err(e) => problem(frame, e, Some(&page)),
    }
}

/// Flag the author (moderators), taking up the open reports ticked.
#[utoipa::path(post, path = "/console/author/flag", tag = "console",
    responses((status = 303, description = "Flagged: back to the author")))]
pub async fn flag(State(state): State<ConsoleState>, StaffForm { staff, form }: StaffForm) -> Response {
    let (frame, me) = (staff.frame(), &staff.me);
    let id = staff.id();
    let request = FlagRequest { reason: form.get("reason").to_string(), report_ids: form.all("report_ids") };
    let outcome = moderation::flag_author(
        State(state.moderation.clone()),
        me.caller.clone(),
        QueryParams(AuthorQuery { id: id.clone() }),
        JsonBody(request),
    )
    .await;
    after_action(&frame, "/author", &id, "flagged", outcome)
}

/// A `datetime-local` field's value (no zone: the form says UTC) as RFC 3339.
fn utc_from_form(value: &str) -> String {
    let value = value.trim();
    match value.len() {
        16 => format!("{value}:00Z"),
        19 => format!("{value}Z"),
        _ => value.to_string(),
    }
}

/// Suspend the author with a reason and an optional end (admins).
#[utoipa::path(post, path = "/console/author/suspend", tag = "console",
    responses((status = 303, description = "Suspended: back to the author, or to step up first")))]
pub async fn suspend(State(state): State<ConsoleState>, StaffForm { staff, form }: StaffForm) -> Response {
    let (frame, me) = (staff.frame(), &staff.me);
    let id = staff.id();
    let request =
        SuspendRequest { reason: form.get("reason").to_string(), until: form.optional("until").map(utc_from_form) };
    let outcome = moderation::suspend_author(
        State(state.moderation.clone()),
        me.caller.clone(),
        QueryParams(AuthorQuery { id: id.clone() }),
        JsonBody(request),
    )
    .await;
    after_action(&frame, "/author", &id, "suspended", outcome)
}

/// Reinstate a suspended author (admins).
#[utoipa::path(post, path = "/console/author/reinstate", tag = "console",
    responses((status = 303, description = "Reinstated: back to the author, or to step up first")))]
pub async fn reinstate(State(state): State<ConsoleState>, StaffForm { staff, form }: StaffForm) -> Response {
    let (frame, me) = (staff.frame(), &staff.me);
    let id = staff.id();
    let request = ReinstateRequest { reason: form.optional("reason").map(str::to_string) };
    let outcome = moderation::unsuspend_author(
        State(state.moderation.clone()),
        me.caller.clone(),
        QueryParams(AuthorQuery { id: id.clone() }),
        JsonBody(request),
    )
    .await;
    after_action(&frame, "/author", &id, "reinstated", outcome)
}

/// The audit trail, newest first (admins): everyone's, or one account's.
#[utoipa::path(get, path = "/console/audit", tag = "console",
    responses((status = 200, description = "A page of the audit trail", content_type = "text/html")))]
pub async fn audit(State(state): State<ConsoleState>, staff: Staff) -> Response {
    let (frame, me) = (staff.frame(), &staff.me);
    let query = &staff.query;
    let author_id = query.get("author_id").filter(|a| !a.is_empty()).cloned();
    let asked = RecordsQuery {
        author_id: author_id.clone(),
        limit: Some(PAGE_SIZE),
        cursor: query.get("cursor").filter(|c| !c.is_empty()).cloned(),
    };
    let page = match moderation::moderation_audit(
        State(state.moderation.clone()),
        me.caller.clone(),
        QueryParams(asked),
    )
    .await
    {
        Ok(Json(page)) => page,
        Err(e) => return problem(&frame, e, None),
    };
    let named = names(&state, page.items.iter().flat_map(|a| [a.actor_id.clone(), a.author_id.clone()])).await;
    let records = match named {
        Ok(named) => audit_rows(&named, page.items),
        Err(e) => return problem(&frame, e, None),
    };
    let next = page
        .next_cursor
        .map(|c| link(frame.base, "/audit", &[("author_id", author_id.as_deref()), ("cursor", Some(&c))]));
    frame.render(StatusCode::OK, "audit.html", "Audit trail", context! { records, next, author_id })
}

/// Find accounts (admins): by address, or a page of a role and status, names matched within it.
#[utoipa::path(get, path = "/console/accounts", tag = "console",
    responses((status = 200, description = "The accounts found", content_type = "text/html")))]
pub async fn accounts(State(state): State<ConsoleState>, staff: Staff) -> Response {
    let (frame, me) = (staff.frame(), &staff.me);
    let query = &staff.query;
    let field = |name: &str| query.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let (email, name, role, status) = (field("email"), field("name"), field("role"), field("status"));
    let found = find_accounts(&state, me, &email, &name, &role, &status, field("cursor")).await;
    let (accounts, next) = match found {
        Ok(found) => found,
        Err(e) => return problem(&frame, e, None),
    };
    let next = next.map(|c| {
        link(
            frame.base,
            "/accounts",
            &[
                ("name", name.as_deref()),
                ("role", role.as_deref()),
                ("status", status.as_deref()),
                ("cursor", Some(&c)),
            ],
        )
    });
    let context = context! { accounts, next, email, name, role, status };
    frame.render(StatusCode::OK, "accounts.html", "Accounts", context)
}

async fn find_accounts(
    state: &ConsoleState,
    me: &ConsoleCaller,
    email: &Option<String>,
    name: &Option<String>,
    role: &Option<String>,
    status: &Option<String>,
    cursor: Option<String>,
) -> Result<(Vec<UserView>, Option<String>), ApiError> {
    me.caller.require(Action::ManageAnyAccount)?;
    let photos = &state.identity().config.photos_url;
    if let Some(email) = email {
        let found = match EmailAddress::parse(email) {
            Ok(address) => state.identity().accounts.account_by_email(&address.key()).await?,
            Err(_) => None,
        };
        return Ok((found.iter().map(|u| UserView::new(u, photos)).collect(), None));
    }
    let asked = UsersQuery { role: one_of("role", role)?, status: one_of("status", status)?, limit: Some(50), cursor };
    let Json(page) = users::users(State(state.users.clone()), me.caller.clone(), QueryParams(asked)).await?;
    let wanted = name.as_deref().map(str::to_lowercase);
    let matches = |u: &UserView| {
        wanted.as_deref().is_none_or(|w| {
            format!("{} {} {}", u.first_name, u.last_name, u.nickname.as_deref().unwrap_or_default())
                .to_lowercase()
                .contains(w)
        })
    };
    Ok((page.items.into_iter().filter(matches).collect(), page.next_cursor))
}

/// A filter's value as its type reads it (a role's or a status's name).
fn one_of<T: serde::de::DeserializeOwned>(field: &'static str, value: &Option<String>) -> Result<Option<T>, ApiError> {
    let parse = |v: &str| serde_json::from_value(serde_json::Value::from(v));
    value.as_deref().map(parse).transpose().map_err(|_| {
        ApiError::Validation(vec![crate::domain::FieldError::new(field, "invalid_value", "not one of the choices")])
    })
}

/// One account (admins): profile, role, status, factors, sessions with their devices, security
/// activity, and what an admin may do to it.
#[utoipa::path(get, path = "/console/account", tag = "console",
    responses((status = 200, description = "The account", content_type = "text/html"),
        (status = 404, description = "No account has this id", content_type = "text/html")))]
pub async fn account(State(state): State<ConsoleState>, staff: Staff) -> Response {
    let (frame, me) = (staff.frame(), &staff.me);
    let query = &staff.query;
    let id = query.get("id").cloned().unwrap_or_default();
    match account_page(&state, &frame, me, &id, query.get("before").cloned()).await {
        Ok(context) => {
            let context = context! { notice => notice(query), ..context };
            frame.render(StatusCode::OK, "account.html", "Account", context)
        }
        Err(e) => problem(&frame, e, None),
    }
}

async fn account_page(
    state: &ConsoleState,
    frame: &Frame<'_>,
    me: &ConsoleCaller,
    id: &str,
    before: Option<String>,
) -> Result<minijinja::Value, ApiError> {
    let users_state = State(state.users.clone());
    // `GET user?id=`'s rule (one's own account, or any for admins), the account read once.
    let whose = me.caller.own_or_as_admin(Some(id.to_string()), Action::ReadOwnAccount)?;
    let account = state.identity().accounts.account(whose.id()).await?.ok_or(ApiError::NotFound)?;
    let (user, factors) = (UserView::new(&account, &state.identity().config.photos_url), FactorsView::new(&account));
    let Json(sessions) = users::sessions(
        users_state.clone(),
        me.caller.clone(),
        QueryParams(SessionsQuery { id: Some(id.to_string()) }),
    )
    .await?;
    let asked = ActivityQuery { id: Some(id.to_string()), limit: Some(PAGE_SIZE), before };
    let Json(activity) = users::activity(users_state, me.caller.clone(), QueryParams(asked)).await?;
    let next_activity =
        activity.next_before.map(|b| link(frame.base, "/account", &[("id", Some(id)), ("before", Some(&b))]));
    Ok(context! {
        own => user.id == me.caller.user_id.0,
        user,
        factors,
        sessions => sessions.items,
        activity => activity.items,
        next_activity,
    })
}

/// Change an account's role (admins; a recent authentication).
#[utoipa::path(post, path = "/console/account/role", tag = "console",
    responses((status = 303, description = "Changed: back to the account, or to step up first")))]
pub async fn change_role(State(state): State<ConsoleState>, StaffForm { staff, form }: StaffForm) -> Response {
    let (frame, me) = (staff.frame(), &staff.me);
    let id = staff.id();
    let mut change = serde_json::Map::new();
    change.insert("role".into(), form.get("role").into());
    // `PUT user?id=`'s own path for another account (its handler's `Subject::Other`).
    let outcome = users::update_account(&state.users, &me.caller, &UserId(id.clone()), None, change).await;
    after_action(&frame, "/account", &id, "role", outcome)
}

/// Remove every second factor of an account (admins; a recent authentication).
#[utoipa::path(post, path = "/console/account/factors/reset", tag = "console",
    responses((status = 303, description = "Reset: back to the account, or to step up first")))]
pub async fn reset_factors(
    State(state): State<ConsoleState>,
    source: Source,
    device: Device,
    StaffForm { staff, .. }: StaffForm,
) -> Response {
    let (frame, me) = (staff.frame(), &staff.me);
    let id = staff.id();
    let outcome = users::reset_factors(
        State(state.users.clone()),
        me.caller.clone(),
        source,
        device,
        QueryParams(IdQuery { id: id.clone() }),
    )
    .await;
    after_action(&frame, "/account", &id, "factors", outcome)
}

/// End one session of an account (`session`), or all of them (`all`) (admins; a recent
/// authentication for another's).
#[utoipa::path(post, path = "/console/account/sessions/end", tag = "console",
    responses((status = 303, description = "Ended: back to the account, or to step up first")))]
pub async fn end_sessions(
    State(state): State<ConsoleState>,
    source: Source,
    device: Device,
    StaffForm { staff, form }: StaffForm,
) -> Response {
    let (frame, me) = (staff.frame(), &staff.me);
    let id = staff.id();
    let all = form.get("all") == "1";
    let chosen = match all {
        false => Ok(vec![form.get("session").to_string()]),
        true => users::sessions(
            State(state.users.clone()),
            me.caller.clone(),
            QueryParams(SessionsQuery { id: Some(id.clone()) }),
        )
        .await
        .map(|Json(list)| list.items.into_iter().filter(|s| !s.current).map(|s| s.id).collect()),
    };
    let outcome = match chosen {
        Ok(sessions) => end_each(&state, me, &source, &device, &id, sessions).await,
        Err(e) => Err(e),
    };
    after_action(&frame, "/account", &id, if all { "sessions" } else { "session" }, outcome)
}

/// Ends each session, one at a time, through the API's own route (a session ended meanwhile is
/// no failure).
async fn end_each(
    state: &ConsoleState,
    me: &ConsoleCaller,
    source: &Source,
    device: &Device,
    id: &str,
    sessions: Vec<String>,
) -> Result<(), ApiError> {
    for session in sessions {
        let query = EndSessionQuery { session, id: Some(id.to_string()) };
        match users::end_session(
            State(state.users.clone()),
            me.caller.clone(),
            source.clone(),
            device.clone(),
            QueryParams(query),
        )
        .await
        {
            Ok(_) | Err(ApiError::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Delete an account for good (admins; a recent authentication).
#[utoipa::path(post, path = "/console/account/delete", tag = "console",
    responses((status = 303, description = "Deleted: to the accounts, or to step up first")))]
pub async fn delete_account(State(state): State<ConsoleState>, StaffForm { staff, form }: StaffForm) -> Response {
    let (frame, me) = (staff.frame(), &staff.me);
    let id = staff.id();
    let page = link(frame.base, "/account", &[("id", Some(&id))]);
    if form.get("confirm") != "yes" {
        let why = "Tick the box that says you mean it; nothing was deleted.";
        return frame.message(StatusCode::UNPROCESSABLE_ENTITY, "Not deleted", why, Some(&page));
    }
    // `DELETE user?id=`'s own path for another account (its handler's `Subject::Other`).
    let target = crate::accounts::Target { id: &UserId(id.clone()), role: None };
    let outcome = identity::staff::delete_account(state.identity(), &me.caller, target).await.map_err(ApiError::from);
    match outcome {
        Ok(_) => frame.see_other(&format!("{}/accounts?done=deleted", frame.base)),
        Err(e) => problem(&frame, e, Some(&page)),
    }
}

/// The form that registers a moderator or an admin (admins).
#[utoipa::path(get, path = "/console/staff", tag = "console",
    responses((status = 200, description = "The form", content_type = "text/html")))]
pub async fn staff_page(staff: Staff) -> Response {
    let (frame, me) = (staff.frame(), &staff.me);
    if let Err(e) = me.caller.require(Action::RegisterStaff) {
        return problem(&frame, e.into(), None);
    }
    let notice = notice(&staff.query);
    frame.render(StatusCode::OK, "staff.html", "Register staff", context! { role => "moderator", notice })
}

/// Register a moderator or an admin (admins; a recent authentication): the registration's own
/// service, as `POST auth/register/{moderator,admin}` calls it.
#[utoipa::path(post, path = "/console/staff", tag = "console",
    responses((status = 303, description = "Registered: the form again, saying so"),
        (status = 422, description = "A field refused: the form again, saying why", content_type = "text/html")))]
pub async fn register_staff(
    State(state): State<ConsoleState>,
    source: Source,
    StaffForm { staff, form }: StaffForm,
) -> Response {
    let (frame, me) = (staff.frame(), &staff.me);
    let role = match form.get("role") {
        "admin" => Role::Admin,
        _ => Role::Moderator,
    };
    let new = NewAccount {
        email: form.get("email").to_string(),
        password: form.get("password").to_string(),
        first_name: form.get("first_name").to_string(),
        last_name: form.get("last_name").to_string(),
        nickname: None,
        bio: None,
    };
    let by = Registrar::Request { caller: Ok(me.caller.clone()), source: &source };
    let page = format!("{}/staff", frame.base);
    match password::register(state.identity(), new, role, by).await.map_err(ApiError::from) {
        Ok(_) => frame.see_other(&format!("{page}?done=registered")),
        Err(error @ ApiError::Validation(_)) => {
            let problem = error.problem();
            let words: Vec<String> = problem.errors.iter().map(|f| sentence(&f.field, &f.detail)).collect();
            let context = context! {
                error => words.join(" "),
                role => role.as_str(),
                email => form.get("email"),
                first_name => form.get("first_name"),
                last_name => form.get("last_name"),
            };
            frame.render(StatusCode::UNPROCESSABLE_ENTITY, "staff.html", "Register staff", context)
        }
        Err(e) => problem(&frame, e, Some(&page)),
    }
}

/// Where each webhook endpoint's deliveries stand (admins).
#[utoipa::path(get, path = "/console/webhooks", tag = "console",
    responses((status = 200, description = "The endpoints", content_type = "text/html")))]
pub async fn webhooks(State(state): State<ConsoleState>, staff: Staff) -> Response {
    let (frame, me) = (staff.frame(), &staff.me);
    let list = match users::webhooks(State(state.users.clone()), me.caller.clone()).await {
        Ok(Json(list)) => list,
        Err(e) => return problem(&frame, e, None),
    };
    let endpoints: Vec<_> = list
        .items
        .into_iter()
        .map(|w| {
            let behind = match w.behind_secs {
                0 => "up to date".to_string(),
                s if s < 120 => format!("{s} s"),
                s if s < 7200 => format!("{} min", s / 60),
                s => format!("{} h", s / 3600),
            };
            let mut view = serde_json::to_value(&w.status).unwrap_or_default();
            view["behind"] = behind.into();
            view
        })
        .collect();
    frame.render(StatusCode::OK, "webhooks.html", "Webhooks", context! { endpoints })
}

/// The console's stylesheet (a file, so the policy allows no inline style).
#[utoipa::path(get, path = "/console/console.css", tag = "console",
    responses((status = 200, description = "The stylesheet", content_type = "text/css")))]
pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", page::STYLESHEET)
}

/// The console's one script: local times, and passkeys where a browser has them.
#[utoipa::path(get, path = "/console/console.js", tag = "console",
    responses((status = 200, description = "The script", content_type = "text/javascript")))]
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", page::SCRIPT)
}

/// The console's icon (so that a browser asks for no `/favicon.ico` the service does not have).
#[utoipa::path(get, path = "/console/favicon.svg", tag = "console",
    responses((status = 200, description = "The icon", content_type = "image/svg+xml")))]
pub async fn icon() -> Response {
    asset("image/svg+xml", page::ICON)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

/// The console's operations, for the deployment's route tables (not in the API's document:
/// these are pages, not an API).
pub fn operations() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}
