//! Reports, flags and the audit trail on SQLite: one open report per reporter and author is a
//! partial unique index; a flag closes its reports in the transaction that records it.

use async_trait::async_trait;
use rusqlite::{Row, Transaction, params};

use super::{SqliteDb, from_ts, ts};
use crate::{
    domain::UserId,
    ports::{
        AuditRecord, Flag, ModerationAction, ModerationError, ModerationStore, Position, RecordFilter, Report,
        StoreResult,
    },
};

/// The position after the last row of a newest-first page: its id.
pub(super) fn after_id(after: Option<&Position>) -> anyhow::Result<Option<String>> {
    after.map(|p| p["id"].as_str().map(str::to_string).ok_or_else(|| anyhow::anyhow!("bad position"))).transpose()
}

/// The page's next position, if it is full (there may be more).
pub(super) fn next_position(ids: Option<&str>, len: usize, limit: u32) -> Option<Position> {
    (len == limit as usize).then(|| ids.map(|id| serde_json::json!({ "id": id }))).flatten()
}

fn report_from(row: &Row) -> rusqlite::Result<Report> {
    Ok(Report {
        id: row.get(0)?,
        author_id: UserId(row.get(1)?),
        reporter_id: UserId(row.get(2)?),
        reason: row.get(3)?,
        created_at: from_ts(row.get(4)?)?,
        flag_id: row.get(5)?,
    })
}

fn flag_from(row: &Row) -> rusqlite::Result<Flag> {
    let report_ids: String = row.get(4)?;
    Ok(Flag {
        id: row.get(0)?,
        author_id: UserId(row.get(1)?),
        moderator_id: UserId(row.get(2)?),
        reason: row.get(3)?,
        report_ids: serde_json::from_str(&report_ids).unwrap_or_default(),
        created_at: from_ts(row.get(5)?)?,
    })
}

fn audit_from(row: &Row) -> rusqlite::Result<AuditRecord> {
    let action: String = row.get(2)?;
    Ok(AuditRecord {
        id: row.get(0)?,
        actor_id: UserId(row.get(1)?),
        action: ModerationAction::parse(&action).unwrap_or(ModerationAction::Report),
        author_id: UserId(row.get(3)?),
        reason: row.get(4)?,
        at: from_ts(row.get(5)?)?,
        record_id: row.get(6)?,
        until: row.get::<_, Option<i64>>(7)?.map(crate::domain::status::stored_end),
    })
}

fn insert_audit(tx: &Transaction, audit: &AuditRecord) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO moderation_audit (id, actor_id, action, author_id, reason, at, record_id, until)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            audit.id,
            audit.actor_id.0,
            audit.action.as_str(),
            audit.author_id.0,
            audit.reason,
            ts(audit.at),
            audit.record_id,
            audit.until.map(ts),
        ],
    )?;
    Ok(())
}

/// Filters as SQL parameters: the author (or NULL) and whether only open reports count.
fn filter_params(filter: &RecordFilter) -> (Option<String>, bool) {
    (filter.author_id.as_ref().map(|a| a.0.clone()), filter.open_only)
}

#[async_trait]
impl ModerationStore for SqliteDb {
    async fn file_report(&self, report: &Report, audit: &AuditRecord) -> Result<(), ModerationError> {
        let (report, audit) = (report.clone(), audit.clone());
        let inserted = self
            .call_watched(move |conn| {
                let tx = conn.transaction()?;
                let inserted = tx.execute(
                    "INSERT INTO reports (id, author_id, reporter_id, reason, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                    params![report.id, report.author_id.0, report.reporter_id.0, report.reason, ts(report.created_at)],
                )?;
                if inserted == 1 {
                    insert_audit(&tx, &audit)?;
                    tx.commit()?;
                }
                Ok(inserted)
            })
            .await?;
        if inserted == 1 { Ok(()) } else { Err(ModerationError::AlreadyReported) }
    }

    async fn flag_author(&self, flag: &Flag, audit: &AuditRecord) -> Result<(), ModerationError> {
        let (flag, audit) = (flag.clone(), audit.clone());
        let report_ids = serde_json::to_string(&flag.report_ids).map_err(anyhow::Error::from)?;
        let not_open = self
            .call_watched(move |conn| {
                let tx = conn.transaction()?;
                for id in &flag.report_ids {
                    let closed = tx.execute(
                        "UPDATE reports SET flag_id = ?1 WHERE id = ?2 AND author_id = ?3 AND flag_id IS NULL",
                        params![flag.id, id, flag.author_id.0],
                    )?;
                    if closed == 0 {
                        // Dropping the transaction rolls back the reports closed so far.
                        return Ok(Some(id.clone()));
                    }
                }
                tx.execute(
                    "INSERT INTO flags (id, author_id, moderator_id, reason, report_ids, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        flag.id,
                        flag.author_id.0,
                        flag.moderator_id.0,
                        flag.reason,
                        report_ids,
                        ts(flag.created_at)
                    ],
                )?;
                insert_audit(&tx, &audit)?;
                tx.commit()?;
                Ok(None)
            })
            .await?;
        match not_open {
            Some(id) => Err(ModerationError::ReportNotOpen(id)),
            None => Ok(()),
        }
    }

    async fn record_action(&self, audit: &AuditRecord) -> StoreResult<()> {
        let audit = audit.clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            insert_audit(&tx, &audit)?;
            tx.commit()
        })
        .await?;
        Ok(())
    }

    async fn reports(
        &self,
        filter: &RecordFilter,
        limit: u32,
        after: Option<&Position>,
    ) -> StoreResult<(Vec<Report>, Option<Position>)> {
        let (author, open_only) = filter_params(filter);
        let after = after_id(after)?;
        let reports: Vec<Report> = self
            .call(move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT id, author_id, reporter_id, reason, created_at, flag_id FROM reports
                     WHERE (?1 IS NULL OR author_id = ?1) AND (?2 = 0 OR flag_id IS NULL) AND (?3 IS NULL OR id < ?3)
                     ORDER BY id DESC LIMIT ?4",
                )?;
                stmt.query_map(params![author, open_only, after, limit], report_from)?.collect()
            })
            .await?;
        let next = next_position(reports.last().map(|r| r.id.as_str()), reports.len(), limit);
        Ok((reports, next))
    }

    async fn count_reports(&self, filter: &RecordFilter) -> StoreResult<u64> {
        let (author, open_only) = filter_params(filter);
        Ok(self
            .call(move |conn| {
                conn.query_row(
                    "SELECT COUNT(*) FROM reports WHERE (?1 IS NULL OR author_id = ?1) AND (?2 = 0 OR flag_id IS NULL)",
                    params![author, open_only],
                    |row| row.get(0),
                )
            })
            .await?)
    }

    async fn reports_filed_by(&self, reporter: &UserId) -> StoreResult<Vec<Report>> {
        let reporter = reporter.0.clone();
        Ok(self
            .call(move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT id, author_id, reporter_id, reason, created_at, flag_id FROM reports
                     WHERE reporter_id = ?1 ORDER BY id DESC",
                )?;
                stmt.query_map([reporter], report_from)?.collect()
            })
            .await?)
    }

    async fn flags(
        &self,
        filter: &RecordFilter,
        limit: u32,
        after: Option<&Position>,
    ) -> StoreResult<(Vec<Flag>, Option<Position>)> {
        let (author, _) = filter_params(filter);
        let after = after_id(after)?;
        let flags: Vec<Flag> = self
            .call(move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT id, author_id, moderator_id, reason, report_ids, created_at FROM flags
                     WHERE (?1 IS NULL OR author_id = ?1) AND (?2 IS NULL OR id < ?2)
                     ORDER BY id DESC LIMIT ?3",
                )?;
                stmt.query_map(params![author, after, limit], flag_from)?.collect()
            })
            .await?;
        let next = next_position(flags.last().map(|f| f.id.as_str()), flags.len(), limit);
        Ok((flags, next))
    }

    async fn count_flags(&self, filter: &RecordFilter) -> StoreResult<u64> {
        let (author, _) = filter_params(filter);
        Ok(self
            .call(move |conn| {
                conn.query_row(
                    "SELECT COUNT(*) FROM flags WHERE (?1 IS NULL OR author_id = ?1)",
                    params![author],
                    |row| row.get(0),
                )
            })
            .await?)
    }

    async fn audit_records(
        &self,
        filter: &RecordFilter,
        limit: u32,
        after: Option<&Position>,
    ) -> StoreResult<(Vec<AuditRecord>, Option<Position>)> {
        let (author, _) = filter_params(filter);
        let after = after_id(after)?;
        let records: Vec<AuditRecord> = self
            .call(move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT id, actor_id, action, author_id, reason, at, record_id, until FROM moderation_audit
                     WHERE (?1 IS NULL OR author_id = ?1) AND (?2 IS NULL OR id < ?2)
                     ORDER BY id DESC LIMIT ?3",
                )?;
                stmt.query_map(params![author, after, limit], audit_from)?.collect()
            })
            .await?;
        let next = next_position(records.last().map(|r| r.id.as_str()), records.len(), limit);
        Ok((records, next))
    }
}
