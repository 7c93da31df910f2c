//! Reports, flags and the audit trail on DynamoDB. Each kind lives in one partition (`REPORTS`,
//! `FLAGS`, `AUDIT`), newest last by id, in GSI1 by author, and reports in GSI2 by reporter. One open report per reporter
//! and author is a marker item put on `attribute_not_exists` in the report's transaction; a
//! flag closes its reports (and drops their markers) in its own.
//!
//! The totals the listings show are kept as they change, in the same transactions: one
//! `MODERATION_COUNTS` item for everyone (`ALL`) and one per reported author, each with
//! `reports`, `open_reports` and `flags`. A listing reads one page and one item, however many
//! reports there are. A table written before the counts existed has them counted once, from
//! the records, the first time they are read.

use async_trait::async_trait;
use shared::{
    domain::UserId,
    ports::{
        AuditRecord, Flag, ModerationAction, ModerationError, ModerationStore, Position, RecordFilter, Report,
        StoreResult,
    },
};

use super::{Condition, DynamoStore, Item, Listing, get_n, get_s, get_time, key, n, s};

/// The totals of everyone's records (`None`) or of one author's.
fn counts_key(author: Option<&UserId>) -> Item {
    key("MODERATION_COUNTS".into(), &author.map_or_else(|| "ALL".to_string(), |a| a.0.clone()))
}

/// Which total a filter reads.
fn total_of(kind: &str, filter: &RecordFilter) -> &'static str {
    match (kind, filter.open_only) {
        ("REPORTS", true) => "open_reports",
        ("REPORTS", false) => "reports",
        _ => "flags",
    }
}

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
        ("GSI2PK".to_string(), s(format!("REPORTED_BY#{}", report.reporter_id))),
        ("GSI2SK".to_string(), s(report.id.clone())),
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

impl DynamoStore {
    /// Adds to the totals of everyone and of `author`, as part of a transaction.
    fn count_records(
        &self,
        author: &UserId,
        changes: &[(&str, i64)],
    ) -> Vec<aws_sdk_dynamodb::types::TransactWriteItem> {
        let mut condition = Condition::default();
        let mut adds = Vec::new();
        for (i, (name, by)) in changes.iter().enumerate() {
            condition = condition.name(&format!("#c{i}"), name).value(&format!(":c{i}"), n(*by));
            adds.push(format!("#c{i} :c{i}"));
        }
        let update = format!("ADD {}", adds.join(", "));
        [None, Some(author)].into_iter().map(|scope| self.update_if(counts_key(scope), &update, &condition)).collect()
    }

    /// A total of `kind` records under `filter`: one read of its counts item, counted from the
    /// records once if the item predates the counts.
    async fn total(&self, kind: &str, filter: &RecordFilter) -> anyhow::Result<u64> {
        let scope = filter.author_id.as_ref();
        let key = counts_key(scope);
        let (pk, sk) = (get_s(&key, "PK")?.to_string(), get_s(&key, "SK")?.to_string());
        let counts = match self.get(pk.clone(), &sk).await? {
            Some(counts) if counts.contains_key("counted") => counts,
            _ => {
                self.count_once(scope).await?;
                self.get(pk, &sk).await?.unwrap_or_default()
            }
        };
        Ok(get_n(&counts, total_of(kind, filter)).unwrap_or(0).max(0) as u64)
    }

    /// Counts the records of everyone or of one author from their listings and sets the totals,
    /// unless another reader did it first.
    async fn count_once(&self, author: Option<&UserId>) -> anyhow::Result<()> {
        let everyone = RecordFilter { author_id: author.cloned(), open_only: false };
        let open = RecordFilter { open_only: true, ..everyone.clone() };
        let reports = self.count(&listing("REPORTS", &everyone)).await?;
        let open_reports = self.count(&listing("REPORTS", &open)).await?;
        let flags = self.count(&listing("FLAGS", &everyone)).await?;
        let condition = Condition::new("attribute_not_exists(counted)")
            .value(":reports", n(reports as i64))
            .value(":open", n(open_reports as i64))
            .value(":flags", n(flags as i64))
            .value(":yes", aws_sdk_dynamodb::types::AttributeValue::Bool(true));
        let update = "SET reports = :reports, open_reports = :open, flags = :flags, counted = :yes";
        let _refused_if_counted_first = self.update_one(counts_key(author), update, &condition).await?;
        Ok(())
    }
}

#[async_trait]
impl ModerationStore for DynamoStore {
    async fn file_report(&self, report: &Report, audit: &AuditRecord) -> Result<(), ModerationError> {
        let mut marker = open_marker(&report.author_id, &report.reporter_id);
        marker.insert("report_id".to_string(), s(report.id.clone()));
        let mut items = vec![
            self.put(marker, "attribute_not_exists(PK)"),
            self.put(report_item(report), "attribute_not_exists(PK)"),
            self.put(audit_item(audit), "attribute_not_exists(PK)"),
        ];
        items.extend(self.count_records(&report.author_id, &[("reports", 1), ("open_reports", 1)]));
        let written = self.transact(items).await?;
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
        let closed = flag.report_ids.len() as i64;
        items.extend(self.count_records(&flag.author_id, &[("flags", 1), ("open_reports", -closed)]));
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
        Ok(self.total("REPORTS", filter).await?)
    }

    /// The reports an account filed, from GSI2 (keys only) and the table.
    async fn reports_filed_by(&self, reporter: &UserId) -> StoreResult<Vec<Report>> {
        let listing = Listing::gsi2(format!("REPORTED_BY#{reporter}")).newest_first();
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
        Ok(self.total("FLAGS", &filter).await?)
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
