//! Reports, flags and the audit trail on DynamoDB. Each kind lives in one partition (`REPORTS`,
//! `FLAGS`, `AUDIT`), newest last by id, and in GSI1 by author. One open report per reporter
//! and author is a marker item put on `attribute_not_exists` in the report's transaction; a
//! flag closes its reports (and drops their markers) in its own.

use async_trait::async_trait;
use shared::{
    domain::UserId,
    ports::{
        AuditRecord, Flag, ModerationAction, ModerationError, ModerationStore, Position, RecordFilter, Report,
        StoreResult,
    },
};

use super::{Condition, DynamoStore, Item, Listing, get_n, get_s, get_time, key, n, s};

fn open_marker(author: &UserId, reporter: &UserId) -> Item {
    key(format!("OPEN_REPORT#{author}#{reporter}"), "OPEN_REPORT")
}

fn report_item(report: &Report) -> Item {
    let mut item = key("REPORTS".into(), &report.id);
    item.extend([
        ("author_id".to_string(), s(report.author_id.0.clone())),
        ("reporter_id".to_string(), s(report.reporter_id.0.clone())),
        ("reason".to_string(), s(report.reason.clone())),
        ("created_at".to_string(), n(report.created_at.unix_timestamp())),
        ("state".to_string(), s("open")),
        ("GSI1PK".to_string(), s(format!("REPORTS#{}", report.author_id))),
        ("GSI1SK".to_string(), s(report.id.clone())),
    ]);
    item
}

fn report_from(item: &Item) -> anyhow::Result<Report> {
    Ok(Report {
        id: get_s(item, "SK")?.to_string(),
        author_id: UserId(get_s(item, "author_id")?.to_string()),
        reporter_id: UserId(get_s(item, "reporter_id")?.to_string()),
        reason: get_s(item, "reason")?.to_string(),
        created_at: get_time(item, "created_at")?,
        flag_id: get_s(item, "flag_id").ok().map(str::to_string),
    })
}

fn flag_item(flag: &Flag) -> Item {
    let mut item = key("FLAGS".into(), &flag.id);
    item.extend([
        ("author_id".to_string(), s(flag.author_id.0.clone())),
        ("moderator_id".to_string(), s(flag.moderator_id.0.clone())),
        ("reason".to_string(), s(flag.reason.clone())),
        ("report_ids".to_string(), s(serde_json::to_string(&flag.report_ids).unwrap_or_default())),
        ("created_at".to_string(), n(flag.created_at.unix_timestamp())),
        ("GSI1PK".to_string(), s(format!("FLAGS#{}", flag.author_id))),
        ("GSI1SK".to_string(), s(flag.id.clone())),
    ]);
    item
}

fn flag_from(item: &Item) -> anyhow::Result<Flag> {
    Ok(Flag {
        id: get_s(item, "SK")?.to_string(),
        author_id: UserId(get_s(item, "author_id")?.to_string()),
        moderator_id: UserId(get_s(item, "moderator_id")?.to_string()),
        reason: get_s(item, "reason")?.to_string(),
        report_ids: serde_json::from_str(get_s(item, "report_ids")?)?,
        created_at: get_time(item, "created_at")?,
    })
}

fn audit_item(audit: &AuditRecord) -> Item {
    let mut item = key("AUDIT".into(), &audit.id);
    item.extend([
        ("actor_id".to_string(), s(audit.actor_id.0.clone())),
        ("action".to_string(), s(audit.action.as_str())),
        ("author_id".to_string(), s(audit.author_id.0.clone())),
        ("reason".to_string(), s(audit.reason.clone())),
        ("at".to_string(), n(audit.at.unix_timestamp())),
        ("GSI1PK".to_string(), s(format!("AUDIT#{}", audit.author_id))),
        ("GSI1SK".to_string(), s(audit.id.clone())),
    ]);
    if let Some(record) = &audit.record_id {
        item.insert("record_id".to_string(), s(record.clone()));
    }
    if let Some(until) = audit.until {
        item.insert("until".to_string(), n(until.unix_timestamp()));
    }
    item
}

fn audit_from(item: &Item) -> anyhow::Result<AuditRecord> {
    Ok(AuditRecord {
        id: get_s(item, "SK")?.to_string(),
        actor_id: UserId(get_s(item, "actor_id")?.to_string()),
        action: ModerationAction::parse(get_s(item, "action")?).ok_or_else(|| anyhow::anyhow!("unknown action"))?,
        author_id: UserId(get_s(item, "author_id")?.to_string()),
        reason: get_s(item, "reason")?.to_string(),
        at: get_time(item, "at")?,
        record_id: get_s(item, "record_id").ok().map(str::to_string),
        until: get_n(item, "until").ok().map(shared::domain::status::stored_end),
    })
}

/// A kind's listing: its own partition, or one author's in GSI1; newest first.
fn listing(kind: &str, filter: &RecordFilter) -> Listing {
    let listing = match &filter.author_id {
        Some(author) => Listing::gsi1(format!("{kind}#{author}")),
        None => Listing::table(kind.to_string()),
    }
    .newest_first();
    if filter.open_only {
        listing.filter(Condition::new("#state = :open").name("#state", "state").value(":open", s("open")))
    } else {
        listing
    }
}

#[async_trait]
impl ModerationStore for DynamoStore {
    async fn file_report(&self, report: &Report, audit: &AuditRecord) -> Result<(), ModerationError> {
        let mut marker = open_marker(&report.author_id, &report.reporter_id);
        marker.insert("report_id".to_string(), s(report.id.clone()));
        let written = self
            .transact(vec![
                self.put(marker, "attribute_not_exists(PK)"),
                self.put(report_item(report), "attribute_not_exists(PK)"),
                self.put(audit_item(audit), "attribute_not_exists(PK)"),
            ])
            .await?;
        match written {
            Ok(()) => Ok(()),
            Err(codes) if codes.first().map(String::as_str) == Some("ConditionalCheckFailed") => {
                Err(ModerationError::AlreadyReported)
            }
            Err(codes) => Err(anyhow::anyhow!("filing a report failed: {codes:?}").into()),
        }
    }

    async fn flag_author(&self, flag: &Flag, audit: &AuditRecord) -> Result<(), ModerationError> {
        // Each report's reporter names its open marker; the update's condition is what holds.
        let mut items = vec![
            self.put(flag_item(flag), "attribute_not_exists(PK)"),
            self.put(audit_item(audit), "attribute_not_exists(PK)"),
        ];
        for id in &flag.report_ids {
            let report = match self.get("REPORTS".into(), id).await? {
                Some(item) => report_from(&item)?,
                None => return Err(ModerationError::ReportNotOpen(id.clone())),
            };
            if report.author_id != flag.author_id || report.flag_id.is_some() {
                return Err(ModerationError::ReportNotOpen(id.clone()));
            }
            let still_open = Condition::new("#state = :open AND author_id = :author")
                .name("#state", "state")
                .value(":open", s("open"))
                .value(":author", s(flag.author_id.0.clone()))
                .value(":flagged", s("flagged"))
                .value(":flag", s(flag.id.clone()));
            items.push(self.update_if(
                key("REPORTS".into(), id),
                "SET #state = :flagged, flag_id = :flag",
                &still_open,
            ));
            items.push(self.delete_if(open_marker(&report.author_id, &report.reporter_id), &Condition::default()));
        }
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(codes) => {
                // Item 2 + 2i is report i's update.
                let failed = codes.iter().position(|c| c == "ConditionalCheckFailed").unwrap_or(0);
                let report = failed.checked_sub(2).map(|i| flag.report_ids[i / 2].clone());
                match report {
                    Some(id) => Err(ModerationError::ReportNotOpen(id)),
                    None => Err(anyhow::anyhow!("recording a flag failed: {codes:?}").into()),
                }
            }
        }
    }

    async fn record_action(&self, audit: &AuditRecord) -> StoreResult<()> {
        use anyhow::Context as _;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(audit_item(audit)))
            .send()
            .await
            .context("DynamoDB PutItem")?;
        Ok(())
    }

    async fn reports(
        &self,
        filter: &RecordFilter,
        limit: u32,
        after: Option<&Position>,
    ) -> StoreResult<(Vec<Report>, Option<Position>)> {
        let (items, next) = self.page(&listing("REPORTS", filter), limit, after).await?;
        Ok((items.iter().map(report_from).collect::<anyhow::Result<_>>()?, next))
    }

    async fn count_reports(&self, filter: &RecordFilter) -> StoreResult<u64> {
        Ok(self.count(&listing("REPORTS", filter)).await?)
    }

    /// A filtered read of the whole `REPORTS` partition: exports are rare, and a by-reporter
    /// index would be one more copy of every report for their sake.
    async fn reports_filed_by(&self, reporter: &UserId) -> StoreResult<Vec<Report>> {
        let by = Condition::new("reporter_id = :reporter").value(":reporter", s(reporter.0.clone()));
        let listing = Listing::table("REPORTS".into()).newest_first().filter(by);
        let (mut reports, mut after) = (Vec::new(), None);
        loop {
            let (items, next) = self.page(&listing, 100, after.as_ref()).await?;
            reports.extend(items.iter().map(report_from).collect::<anyhow::Result<Vec<_>>>()?);
            match next {
                Some(next) => after = Some(next),
                None => return Ok(reports),
            }
        }
    }

    async fn flags(
        &self,
        filter: &RecordFilter,
        limit: u32,
        after: Option<&Position>,
    ) -> StoreResult<(Vec<Flag>, Option<Position>)> {
        let filter = RecordFilter { open_only: false, ..filter.clone() };
        let (items, next) = self.page(&listing("FLAGS", &filter), limit, after).await?;
        Ok((items.iter().map(flag_from).collect::<anyhow::Result<_>>()?, next))
    }

    async fn count_flags(&self, filter: &RecordFilter) -> StoreResult<u64> {
        let filter = RecordFilter { open_only: false, ..filter.clone() };
        Ok(self.count(&listing("FLAGS", &filter)).await?)
    }

    async fn audit_records(
        &self,
        filter: &RecordFilter,
        limit: u32,
        after: Option<&Position>,
    ) -> StoreResult<(Vec<AuditRecord>, Option<Position>)> {
        let filter = RecordFilter { open_only: false, ..filter.clone() };
        let (items, next) = self.page(&listing("AUDIT", &filter), limit, after).await?;
        Ok((items.iter().map(audit_from).collect::<anyhow::Result<_>>()?, next))
    }
}
