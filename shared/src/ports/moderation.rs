use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{Position, StoreResult};
use crate::domain::UserId;

/// A reader's or an author's report of an author. Open until a moderator's flag links it.
/// Records hold account ids only: a deleted account leaves its records, with nothing but the id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub id: String,
    pub author_id: UserId,
    pub reporter_id: UserId,
    pub reason: String,
    pub created_at: OffsetDateTime,
    /// The flag that took this report up; `None` while the report is open.
    pub flag_id: Option<String>,
}

/// A moderator's flag on an author, with the reports that led to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flag {
    pub id: String,
    pub author_id: UserId,
    pub moderator_id: UserId,
    pub reason: String,
    pub report_ids: Vec<String>,
    pub created_at: OffsetDateTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModerationAction {
    Report,
    Flag,
    Suspend,
    Unsuspend,
    /// An admin (or the operator) removed an account's second factors.
    ResetFactors,
    /// An admin ended one of another account's sessions.
    EndSession,
}

impl ModerationAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ModerationAction::Report => "report",
            ModerationAction::Flag => "flag",
            ModerationAction::Suspend => "suspend",
            ModerationAction::Unsuspend => "unsuspend",
            ModerationAction::ResetFactors => "reset_factors",
            ModerationAction::EndSession => "end_session",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Report, Self::Flag, Self::Suspend, Self::Unsuspend, Self::ResetFactors, Self::EndSession]
            .into_iter()
            .find(|a| a.as_str() == name)
    }
}

/// Who did what to which author, when and why: one per moderation action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: String,
    pub actor_id: UserId,
    pub action: ModerationAction,
    pub author_id: UserId,
    pub reason: String,
    pub at: OffsetDateTime,
    /// The report or flag the action made.
    pub record_id: Option<String>,
    /// A suspension's end.
    pub until: Option<OffsetDateTime>,
}

impl AuditRecord {
    /// A new record (its id time-ordered) of `actor` doing `action` to `author`, for `reason`.
    pub fn new(actor: &UserId, action: ModerationAction, author: &UserId, reason: String, at: OffsetDateTime) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            actor_id: actor.clone(),
            action,
            author_id: author.clone(),
            reason,
            at,
            record_id: None,
            until: None,
        }
    }
}

/// Which records a listing takes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordFilter {
    pub author_id: Option<UserId>,
    /// Reports only: just the open ones.
    pub open_only: bool,
}

/// Why a moderation write was refused.
#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
    /// This reporter already has an open report on this author.
    #[error("already reported")]
    AlreadyReported,
    /// A linked report is not an open report on this author.
    #[error("report not open")]
    ReportNotOpen(String),
    #[error(transparent)]
    Store(#[from] super::StoreError),
}

impl From<anyhow::Error> for ModerationError {
    fn from(e: anyhow::Error) -> Self {
        ModerationError::Store(e.into())
    }
}

/// Reports, flags and the audit trail. Every write of a report or a flag carries its audit
/// record in the same atomic step.
#[async_trait]
pub trait ModerationStore: Send + Sync {
    /// Files the report and its audit record, unless this reporter has an open report on this
    /// author ([`ModerationError::AlreadyReported`]), atomically with that check.
    async fn file_report(&self, report: &Report, audit: &AuditRecord) -> Result<(), ModerationError>;
    /// Records the flag and its audit record and closes the reports it links, each of which
    /// must be an open report on the flagged author ([`ModerationError::ReportNotOpen`]
    /// otherwise, and nothing is written), atomically.
    async fn flag_author(&self, flag: &Flag, audit: &AuditRecord) -> Result<(), ModerationError>;
    /// Records an action whose effect lives elsewhere (a suspension: on the account).
    async fn record_action(&self, audit: &AuditRecord) -> StoreResult<()>;
    /// Reports, newest first, and the position after the last one if there may be more.
    async fn reports(
        &self,
        filter: &RecordFilter,
        limit: u32,
        after: Option<&Position>,
    ) -> StoreResult<(Vec<Report>, Option<Position>)>;
    async fn count_reports(&self, filter: &RecordFilter) -> StoreResult<u64>;
    /// Every report this account filed, newest first (its data export).
    async fn reports_filed_by(&self, reporter: &UserId) -> StoreResult<Vec<Report>>;
    /// Flags, newest first.
    async fn flags(
        &self,
        filter: &RecordFilter,
        limit: u32,
        after: Option<&Position>,
    ) -> StoreResult<(Vec<Flag>, Option<Position>)>;
    async fn count_flags(&self, filter: &RecordFilter) -> StoreResult<u64>;
    /// The audit trail, newest first.
    async fn audit_records(
        &self,
        filter: &RecordFilter,
        limit: u32,
        after: Option<&Position>,
    ) -> StoreResult<(Vec<AuditRecord>, Option<Position>)>;
}

/// How many reports one flag may link (one transaction holds them all on DynamoDB).
pub const MAX_LINKED_REPORTS: usize = 25;
