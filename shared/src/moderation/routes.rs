//! Reports, flags, suspensions, and their lists.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::ModerationState;
use crate::{
    accounts::{AccessChange, AccountError, StatusChange, Target},
    auth::schemas,
    domain::{Action, FieldError, Reason, Role, Status, User, UserId, status::parse_suspension_end},
    http::{ApiError, AuthUser, JsonBody, Paging, Problem, QueryParams, page_limit},
    identity::{IdentityError, staff},
    ports::{AuditRecord, Flag, MAX_LINKED_REPORTS, ModerationAction, RecordFilter, Report},
};

pub use crate::domain::MAX_REASON_CHARS;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorQuery {
    /// The author's account id.
    pub id: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// Why: 1 to 1000 characters.
    #[schema(schema_with = schemas::reason)]
    pub reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagRequest {
    /// Why: 1 to 1000 characters.
    #[schema(schema_with = schemas::reason)]
    pub reason: String,
    /// Open reports on this author that led to the flag (at most 25); they close with it.
    #[serde(default)]
    pub report_ids: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendRequest {
    /// Why: 1 to 1000 characters; the author is told it when they try to log in.
    #[schema(schema_with = schemas::reason)]
    pub reason: String,
    /// When the suspension ends by itself (RFC 3339, in the future, within 10 years; stored
    /// and answered in UTC); absent: until reinstated.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReinstateRequest {
    /// Why, for the audit trail (optional).
    #[schema(schema_with = schemas::optional_reason)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordsQuery {
    /// Only this author's records.
    pub author_id: Option<String>,
    /// Items per page, 1 to 100 (20 if absent).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before (of this same listing and filters).
    #[param(pattern = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportsQuery {
    /// Only this author's reports.
    pub author_id: Option<String>,
    /// `open` (the default): reports no flag took up yet; `all`: every report.
    #[param(inline)]
    pub status: Option<ReportStatusFilter>,
    /// Items per page, 1 to 100 (20 if absent).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before (of this same listing and filters).
    #[param(pattern = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatusFilter {
    Open,
    All,
}

/// One page of moderation records, and how many match the filters in all.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecordPage<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
    /// The number of records matching the filters, over every page.
    pub total: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReportView {
    pub id: String,
    pub author_id: String,
    pub reporter_id: String,
    pub reason: String,
    /// `open`, or `flagged` once a moderator's flag took it up.
    pub status: String,
    pub flag_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<Report> for ReportView {
    fn from(r: Report) -> Self {
        Self {
            status: if r.flag_id.is_some() { "flagged" } else { "open" }.to_string(),
            id: r.id,
            author_id: r.author_id.0,
            reporter_id: r.reporter_id.0,
            reason: r.reason,
            flag_id: r.flag_id,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FlagView {
    pub id: String,
    pub author_id: String,
    pub moderator_id: String,
    pub reason: String,
    pub report_ids: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<Flag> for FlagView {
    fn from(f: Flag) -> Self {
        Self {
            id: f.id,
            author_id: f.author_id.0,
            moderator_id: f.moderator_id.0,
            reason: f.reason,
            report_ids: f.report_ids,
            created_at: f.created_at,
        }
    }
}

/// A suspended author, as moderators and admins see them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SuspendedAuthorView {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub nickname: Option<String>,
    pub status: Status,
    pub suspension_reason: Option<String>,
    /// When the suspension ends by itself; absent: until reinstated.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub suspended_until: Option<OffsetDateTime>,
}

impl From<&User> for SuspendedAuthorView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.0.clone(),
            first_name: u.profile.first_name.clone(),
            last_name: u.profile.last_name.clone(),
            nickname: u.profile.nickname.clone(),
            status: u.status.tag(),
            suspension_reason: u.status.suspension_reason().map(str::to_string),
            suspended_until: u.status.suspended_until(),
        }
    }
}

/// One moderation action: who did what to which author, when and why.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    pub id: String,
    pub actor_id: String,
    pub action: ModerationAction,
    pub author_id: String,
    pub reason: String,
    /// The report or flag the action made.
    pub record_id: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

impl From<AuditRecord> for AuditView {
    fn from(a: AuditRecord) -> Self {
        Self {
            id: a.id,
            actor_id: a.actor_id.0,
            action: a.action,
            author_id: a.author_id.0,
            reason: a.reason,
            record_id: a.record_id,
            until: a.until,
            at: a.at,
        }
    }
}

fn reason(raw: &str, errors: &mut Vec<FieldError>) -> Option<Reason> {
    Reason::parse("reason", raw).map_err(|e| errors.push(e)).ok()
}

fn valid_reason(raw: &str) -> Result<Reason, ApiError> {
    Reason::parse("reason", raw).map_err(|e| ApiError::Validation(vec![e]))
}

/// The author `id` names: 404 unless it is an author's account.
async fn author(state: &ModerationState, id: &str) -> Result<User, ApiError> {
    let user = state.accounts.account(&UserId(id.to_string())).await?;
    user.filter(|u| u.role == Role::Author && u.status.tag() != Status::Pending).ok_or(ApiError::NotFound)
}

fn not_yourself(caller: &AuthUser, id: &str) -> Result<(), ApiError> {
    if caller.user_id.0 == id {
        return Err(ApiError::Validation(vec![FieldError::new("id", "yourself", "not on your own account")]));
    }
    Ok(())
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Report an author, with a reason. One open report per reporter and author.
#[utoipa::path(
    post, path = "/api/v1/report/author", tag = "moderation", params(AuthorQuery),
    request_body = ReportRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Reported", body = ReportView),
        (status = 400, description = "`malformed_json` or `invalid_query`", body = Problem),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Not a reader or an author (`forbidden`)", body = Problem),
        (status = 404, description = "No author has this id (`not_found`)", body = Problem),
        (status = 409, description = "You already have an open report on this author (`already_reported`)", body = Problem),
        (status = 415, description = "Not JSON (`unsupported_media_type`)", body = Problem),
        (status = 422, description = "No reason, too long a reason, or yourself (`validation_failed`)", body = Problem),
    )
)]
pub async fn report_author(
    State(state): State<ModerationState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<AuthorQuery>,
    JsonBody(body): JsonBody<ReportRequest>,
) -> Result<(StatusCode, Json<ReportView>), ApiError> {
    caller.require(Action::ReportAuthor)?;
    not_yourself(&caller, &query.id)?;
    let reason = valid_reason(&body.reason)?;
    let author = author(&state, &query.id).await?;
    let now = state.clock.now();
    let report = Report {
        id: new_id(),
        author_id: author.id.clone(),
        reporter_id: caller.user_id.clone(),
        reason: reason.as_str().to_string(),
        created_at: now,
        flag_id: None,
    };
    let audit = AuditRecord {
        record_id: Some(report.id.clone()),
        ..AuditRecord::new(&caller.user_id, ModerationAction::Report, &author.id, reason.into_string(), now)
    };
    state.moderation.file_report(&report, &audit).await?;
    tracing::info!(report = %report.id, author_id = %author.id, reporter_id = %caller.user_id, "author reported");
    Ok((StatusCode::CREATED, Json(report.into())))
}

/// Reports of authors, newest first: the open ones, or all; for one author with `author_id`.
#[utoipa::path(
    get, path = "/api/v1/report/authors", tag = "moderation", params(ReportsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of reports, and how many match", body = RecordPage<ReportView>),
        (status = 400, description = "`invalid_cursor` or `invalid_query`", body = Problem),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Not a moderator or an admin (`forbidden`)", body = Problem),
        (status = 422, description = "`limit` out of range (`validation_failed`)", body = Problem),
    )
)]
pub async fn reported_authors(
    State(state): State<ModerationState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<ReportsQuery>,
) -> Result<Json<RecordPage<ReportView>>, ApiError> {
    caller.require(Action::ListReports)?;
    let open_only = query.status.unwrap_or(ReportStatusFilter::Open) == ReportStatusFilter::Open;
    let filter = RecordFilter { author_id: query.author_id.map(UserId), open_only };
    let list = format!("reports?author={}&open={open_only}", filter.author_id.as_ref().map_or("", |a| &a.0));
    let paging = Paging::new(state.keys.cursor_signer().await, list.as_str(), query.limit, query.cursor.as_deref())?;
    let (reports, next) = state.moderation.reports(&filter, paging.limit, paging.after.as_ref()).await?;
    let total = state.moderation.count_reports(&filter).await?;
    Ok(Json(RecordPage {
        items: reports.into_iter().map(Into::into).collect(),
        next_cursor: paging.next_cursor(next),
        total,
    }))
}

/// Flag an author, with a reason and the open reports that led to it (they close).
#[utoipa::path(
    post, path = "/api/v1/flag/author", tag = "moderation", params(AuthorQuery),
    request_body = FlagRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Flagged", body = FlagView),
        (status = 400, description = "`malformed_json` or `invalid_query`", body = Problem),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Not a moderator (`forbidden`)", body = Problem),
        (status = 404, description = "No author has this id (`not_found`)", body = Problem),
        (status = 409, description = "A linked report is not an open report on this author (`report_not_open`)", body = Problem),
        (status = 415, description = "Not JSON (`unsupported_media_type`)", body = Problem),
        (status = 422, description = "No reason, too long a reason, too many or repeated reports (`validation_failed`)", body = Problem),
    )
)]
pub async fn flag_author(
    State(state): State<ModerationState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<AuthorQuery>,
    JsonBody(body): JsonBody<FlagRequest>,
) -> Result<(StatusCode, Json<FlagView>), ApiError> {
    caller.require(Action::FlagAuthor)?;
    let reason = body.parse()?;
    let author = author(&state, &query.id).await?;
    let flag = flag(&state, &caller, &author, reason, body.report_ids).await?;
    Ok((StatusCode::CREATED, Json(flag.into())))
}

impl FlagRequest {
    /// The reason, and the linked reports each at most once (and at most a few).
    fn parse(&self) -> Result<Reason, ApiError> {
        let mut errors = Vec::new();
        let reason = reason(&self.reason, &mut errors);
        let mut report_ids = self.report_ids.clone();
        report_ids.sort();
        report_ids.dedup();
        if self.report_ids.len() > MAX_LINKED_REPORTS || report_ids.len() != self.report_ids.len() {
            let why = format!("at most {MAX_LINKED_REPORTS} reports, each once");
            errors.push(FieldError::new("report_ids", "invalid_value", why));
        }
        reason.filter(|_| errors.is_empty()).ok_or(ApiError::Validation(errors))
    }
}

/// A moderator's flag on `author`, with its audit record, in one write.
async fn flag(
    state: &ModerationState,
    caller: &AuthUser,
    author: &User,
    reason: Reason,
    report_ids: Vec<String>,
) -> Result<Flag, ApiError> {
    let now = state.clock.now();
    let flag = Flag {
        id: new_id(),
        author_id: author.id.clone(),
        moderator_id: caller.user_id.clone(),
        reason: reason.as_str().to_string(),
        report_ids,
        created_at: now,
    };
    let audit = AuditRecord {
        record_id: Some(flag.id.clone()),
        ..AuditRecord::new(&caller.user_id, ModerationAction::Flag, &author.id, reason.into_string(), now)
    };
    state.moderation.flag_author(&flag, &audit).await?;
    tracing::info!(flag = %flag.id, author_id = %author.id, moderator_id = %caller.user_id, "author flagged");
    Ok(flag)
}

/// Flags on authors, newest first; for one author with `author_id`.
#[utoipa::path(
    get, path = "/api/v1/flag/authors", tag = "moderation", params(RecordsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of flags, and how many match", body = RecordPage<FlagView>),
        (status = 400, description = "`invalid_cursor` or `invalid_query`", body = Problem),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Not a moderator or an admin (`forbidden`)", body = Problem),
        (status = 422, description = "`limit` out of range (`validation_failed`)", body = Problem),
    )
)]
pub async fn flagged_authors(
    State(state): State<ModerationState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<RecordsQuery>,
) -> Result<Json<RecordPage<FlagView>>, ApiError> {
    caller.require(Action::ListFlags)?;
    let filter = RecordFilter { author_id: query.author_id.map(UserId), open_only: false };
    let list = format!("flags?author={}", filter.author_id.as_ref().map_or("", |a| &a.0));
    let paging = Paging::new(state.keys.cursor_signer().await, list.as_str(), query.limit, query.cursor.as_deref())?;
    let (flags, next) = state.moderation.flags(&filter, paging.limit, paging.after.as_ref()).await?;
    let total = state.moderation.count_flags(&filter).await?;
    Ok(Json(RecordPage {
        items: flags.into_iter().map(Into::into).collect(),
        next_cursor: paging.next_cursor(next),
        total,
    }))
}

/// Suspend an author, with a reason and an optional end date. Their sessions end at once (so
/// do their access tokens); login answers 403 `account_suspended` until the end date.
#[utoipa::path(
    post, path = "/api/v1/suspend/author", tag = "moderation", params(AuthorQuery),
    request_body = SuspendRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Suspended", body = SuspendedAuthorView),
        (status = 400, description = "`malformed_json` or `invalid_query`", body = Problem),
        (status = 401, description = "No valid access token, or no recent authentication (`step_up_required`)", body = Problem),
        (status = 403, description = "Not an admin (`forbidden`)", body = Problem),
        (status = 404, description = "No author has this id (`not_found`)", body = Problem),
        (status = 409, description = "The account changed meanwhile (`conflict`)", body = Problem),
        (status = 415, description = "Not JSON (`unsupported_media_type`)", body = Problem),
        (status = 422, description = "No reason, or an end date not in the future (`validation_failed`)", body = Problem),
    )
)]
pub async fn suspend_author(
    State(state): State<ModerationState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<AuthorQuery>,
    JsonBody(body): JsonBody<SuspendRequest>,
) -> Result<Json<SuspendedAuthorView>, ApiError> {
    let now = state.clock.now();
    let mut errors = Vec::new();
    let reason = reason(&body.reason, &mut errors);
    let until = body.until.as_deref().map(|raw| parse_suspension_end("until", raw, now).map_err(|e| errors.push(e)));
    let (Some(reason), true) = (reason, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let until = until.and_then(Result::ok);
    let change = AccessChange::status(StatusChange::Suspend { until, reason: Some(reason) });
    let user = change_author_status(&state, &caller, query.id, change).await?;
    tracing::info!(author_id = %user.id, admin_id = %caller.user_id, "author suspended; all sessions ended");
    Ok(Json((&user).into()))
}

/// Suspends or reinstates the author `id` through the account lifecycle's one path for status
/// changes (it ends their sessions and writes the audit record). A pending account is no
/// author anyone knows: 404.
async fn change_author_status(
    state: &ModerationState,
    caller: &AuthUser,
    id: String,
    change: AccessChange,
) -> Result<User, ApiError> {
    let id = UserId(id);
    let (audit, target) = (state.moderation.as_ref(), Target { id: &id, role: Some(Role::Author) });
    match staff::change_access(state.lifecycle(), audit, caller, Action::SuspendAuthor, target, change).await {
        Err(IdentityError::Account(AccountError::PendingAccount)) => Err(ApiError::NotFound),
        result => Ok(result?),
    }
}

/// Reinstate a suspended author.
#[utoipa::path(
    post, path = "/api/v1/unsuspend/author", tag = "moderation", params(AuthorQuery),
    request_body = ReinstateRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Reinstated", body = SuspendedAuthorView),
        (status = 400, description = "`malformed_json` or `invalid_query`", body = Problem),
        (status = 401, description = "No valid access token, or no recent authentication (`step_up_required`)", body = Problem),
        (status = 403, description = "Not an admin (`forbidden`)", body = Problem),
        (status = 404, description = "No author has this id (`not_found`)", body = Problem),
        (status = 409, description = "The author is not suspended (`not_suspended`), or changed meanwhile (`conflict`)", body = Problem),
        (status = 415, description = "Not JSON (`unsupported_media_type`)", body = Problem),
        (status = 422, description = "Too long a reason (`validation_failed`)", body = Problem),
    )
)]
pub async fn unsuspend_author(
    State(state): State<ModerationState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<AuthorQuery>,
    JsonBody(body): JsonBody<ReinstateRequest>,
) -> Result<Json<SuspendedAuthorView>, ApiError> {
    let reason = match body.reason.as_deref() {
        Some(raw) if !raw.trim().is_empty() => Some(valid_reason(raw)?),
        _ => None,
    };
    let change = AccessChange::status(StatusChange::Reinstate { reason });
    let user = change_author_status(&state, &caller, query.id, change).await?;
    tracing::info!(author_id = %user.id, admin_id = %caller.user_id, "author reinstated");
    Ok(Json((&user).into()))
}

/// How many accounts of `filter` are `counted`, over every page: for lists whose matches are
/// few (suspended authors).
async fn count_accounts(
    state: &ModerationState,
    filter: crate::ports::AccountFilter,
    counted: impl Fn(&User) -> bool,
) -> Result<u64, ApiError> {
    let (mut total, mut position) = (0, None);
    loop {
        let (page, next) = state.accounts.list_accounts(filter, 100, position.as_ref()).await?;
        total += page.iter().filter(|u| counted(u)).count() as u64;
        match next {
            Some(next) => position = Some(next),
            None => return Ok(total),
        }
    }
}

/// Suspended authors, oldest account first (a suspension whose end date passed is over and
/// not listed); one author with `author_id`.
#[utoipa::path(
    get, path = "/api/v1/suspend/authors", tag = "moderation", params(RecordsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of suspended authors, and how many there are", body = RecordPage<SuspendedAuthorView>),
        (status = 400, description = "`invalid_cursor` or `invalid_query`", body = Problem),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Not a moderator or an admin (`forbidden`)", body = Problem),
        (status = 422, description = "`limit` out of range (`validation_failed`)", body = Problem),
    )
)]
pub async fn suspended_authors(
    State(state): State<ModerationState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<RecordsQuery>,
) -> Result<Json<RecordPage<SuspendedAuthorView>>, ApiError> {
    caller.require(Action::ListSuspended)?;
    let now = state.clock.now();
    let still_suspended =
        |u: &User| u.role == Role::Author && u.status.tag() == Status::Suspended && !u.suspension_is_over(now);
    if let Some(author_id) = query.author_id {
        page_limit(query.limit)?;
        let user = state.accounts.account(&UserId(author_id)).await?.filter(still_suspended);
        let items: Vec<SuspendedAuthorView> = user.iter().map(Into::into).collect();
        return Ok(Json(RecordPage { total: items.len() as u64, items, next_cursor: None }));
    }
    let filter = crate::ports::AccountFilter { role: Some(Role::Author), status: Some(Status::Suspended) };
    let paging = Paging::new(state.keys.cursor_signer().await, "suspended", query.limit, query.cursor.as_deref())?;
    let (users, next) = state.accounts.list_accounts(filter, paging.limit, paging.after.as_ref()).await?;
    let total = count_accounts(&state, filter, still_suspended).await?;
    Ok(Json(RecordPage {
        items: users.iter().filter(|u| still_suspended(u)).map(Into::into).collect(),
        next_cursor: paging.next_cursor(next),
        total,
    }))
}

/// The moderation audit trail, newest first: every report, flag, suspension and
/// reinstatement, who made it and why; for one author with `author_id`. Admins only.
#[utoipa::path(
    get, path = "/api/v1/moderation/audit", tag = "moderation", params(RecordsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of audit records", body = crate::http::Page<AuditView>),
        (status = 400, description = "`invalid_cursor` or `invalid_query`", body = Problem),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Not an admin (`forbidden`)", body = Problem),
        (status = 422, description = "`limit` out of range (`validation_failed`)", body = Problem),
    )
)]
pub async fn moderation_audit(
    State(state): State<ModerationState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<RecordsQuery>,
) -> Result<Json<crate::http::Page<AuditView>>, ApiError> {
    caller.require(Action::ReadModerationAudit)?;
    let filter = RecordFilter { author_id: query.author_id.map(UserId), open_only: false };
    let list = format!("audit?author={}", filter.author_id.as_ref().map_or("", |a| &a.0));
    let paging = Paging::new(state.keys.cursor_signer().await, list.as_str(), query.limit, query.cursor.as_deref())?;
    let (records, next) = state.moderation.audit_records(&filter, paging.limit, paging.after.as_ref()).await?;
    Ok(Json(crate::http::Page {
        items: records.into_iter().map(Into::into).collect(),
        next_cursor: paging.next_cursor(next),
    }))
}
