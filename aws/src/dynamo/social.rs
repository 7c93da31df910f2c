//! Subscriptions and follows on DynamoDB. An edge lives in its maker's partition
//! (`USER#<from>`, `SUB#<to>` or `FOLLOW#<to>`) and in GSI1 under its target
//! (`SUBSCRIBERS#<to>` or `FOLLOWERS#<to>`); counts live in `USER#<id>`/`COUNTS`. Adding is one
//! transaction: the target is still an author's account, the edge is new, the counts go up.

use anyhow::Context;
use async_trait::async_trait;
use shared::{
    domain::{AuthorCounts, UserId},
    ports::{Edge, EdgeAdded, EdgeKind, IdRange, Position, Side, SocialStore, StoreResult},
};

use super::{Condition, DynamoStore, Item, Listing, get_n, get_s, get_time, key, n, s, user_pk};

/// Edge removals a deletion runs at once.
const ERASE_CONCURRENCY: usize = 8;

fn sk_prefix(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Subscription => "SUB#",
        EdgeKind::Follow => "FOLLOW#",
    }
}

fn incoming(kind: EdgeKind, to: &UserId) -> String {
    match kind {
        EdgeKind::Subscription => format!("SUBSCRIBERS#{to}"),
        EdgeKind::Follow => format!("FOLLOWERS#{to}"),
    }
}

fn edge_key(kind: EdgeKind, from: &UserId, to: &UserId) -> Item {
    key(user_pk(from), &format!("{}{to}", sk_prefix(kind)))
}

fn counts_key(user: &UserId) -> Item {
    key(user_pk(user), "COUNTS")
}

/// The count updates an edge makes: the target's subscribers or followers, and for a follow
/// the maker's follows.
fn counted(kind: EdgeKind, from: &UserId, to: &UserId) -> Vec<(Item, &'static str)> {
    match kind {
        EdgeKind::Subscription => vec![(counts_key(to), "subscribers")],
        EdgeKind::Follow => vec![(counts_key(to), "followers"), (counts_key(from), "follows")],
    }
}

impl DynamoStore {
    fn count_by(&self, key: Item, counter: &str, by: i64) -> aws_sdk_dynamodb::types::TransactWriteItem {
        let add = Condition::default().name("#counter", counter).value(":by", n(by));
        self.update_if(key, "ADD #counter :by", &add)
    }
}

#[async_trait]
impl SocialStore for DynamoStore {
    async fn add_edge(&self, edge: &Edge) -> StoreResult<EdgeAdded> {
        let mut item = edge_key(edge.kind, &edge.from, &edge.to);
        item.extend([
            ("from".to_string(), s(edge.from.0.clone())),
            ("to".to_string(), s(edge.to.0.clone())),
            ("created_at".to_string(), n(edge.created_at.unix_timestamp())),
            ("GSI1PK".to_string(), s(incoming(edge.kind, &edge.to))),
            ("GSI1SK".to_string(), s(edge.from.0.clone())),
        ]);
        let is_author = Condition::new("#role = :author").name("#role", "role").value(":author", s("author"));
        let check = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(&edge.to), "PROFILE")))
            .condition_expression(&is_author.expression)
            .set_expression_attribute_names(is_author.names())
            .set_expression_attribute_values(is_author.values())
            .build()
            .expect("table, key and condition are set");
        let mut items = vec![
            aws_sdk_dynamodb::types::TransactWriteItem::builder().condition_check(check).build(),
            self.put(item, "attribute_not_exists(PK)"),
        ];
        for (key, counter) in counted(edge.kind, &edge.from, &edge.to) {
            items.push(self.count_by(key, counter, 1));
        }
        match self.transact(items).await? {
            Ok(()) => Ok(EdgeAdded::New),
            Err(codes) if codes.first().map(String::as_str) == Some("ConditionalCheckFailed") => {
                Ok(EdgeAdded::NotAnAuthor)
            }
            Err(_) => Ok(EdgeAdded::Existing),
        }
    }

    async fn remove_edge(&self, kind: EdgeKind, from: &UserId, to: &UserId) -> StoreResult<bool> {
        let mut items = vec![self.delete_if(edge_key(kind, from, to), &Condition::new("attribute_exists(PK)"))];
        for (key, counter) in counted(kind, from, to) {
            items.push(self.count_by(key, counter, -1));
        }
        Ok(self.transact(items).await?.is_ok())
    }

    async fn edges(
        &self,
        kind: EdgeKind,
        side: &Side,
        limit: u32,
        after: Option<&Position>,
    ) -> StoreResult<(Vec<Edge>, Option<Position>)> {
        let listing = match side {
            Side::From(from) => Listing::table(user_pk(from)).prefix(sk_prefix(kind)),
            // GSI1 is eventually consistent: an edge made a moment ago may be missing here. Its
            // entry says it all: the maker is the sort key, the target the partition's.
            Side::To(to) => Listing::gsi1_entries(incoming(kind, to)),
        };
        let (items, next) = self.page(&listing, limit, after).await?;
        let edges = items
            .iter()
            .map(|item| {
                let to = match side {
                    Side::To(to) => to.clone(),
                    Side::From(_) => UserId(get_s(item, "to")?.to_string()),
                };
                let from = match side {
                    Side::To(_) => UserId(get_s(item, "GSI1SK")?.to_string()),
                    Side::From(from) => from.clone(),
                };
                Ok(Edge { kind, from, to, created_at: get_time(item, "created_at")? })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok((edges, next))
    }

    async fn counts(&self, user: &UserId) -> StoreResult<AuthorCounts> {
        let item = self.get(user_pk(user), "COUNTS").await?.unwrap_or_default();
        let count = |name| get_n(&item, name).unwrap_or(0).max(0) as u64;
        Ok(AuthorCounts { subscribers: count("subscribers"), followers: count("followers"), follows: count("follows") })
    }

    /// GSI1 (eventually consistent) read between the range's bounds: past `after` (exclusive)
    /// or from `range.from`, up to `range.until` (exclusive); pages until `limit` are found or
    /// the range ends, so a short answer means the end.
    async fn subscriber_ids(
        &self,
        author: &UserId,
        range: &IdRange,
        after: Option<&UserId>,
        limit: u32,
    ) -> StoreResult<Vec<UserId>> {
        let lower = after.map(|a| a.0.clone()).or_else(|| range.from.clone());
        let (sort, mut values) = match (&lower, &range.until) {
            (Some(lo), Some(hi)) => (" AND GSI1SK BETWEEN :lo AND :hi", vec![(":lo", lo), (":hi", hi)]),
            (Some(lo), None) => (" AND GSI1SK >= :lo", vec![(":lo", lo)]),
            (None, Some(hi)) => (" AND GSI1SK < :hi", vec![(":hi", hi)]),
            (None, None) => ("", vec![]),
        };
        let partition = incoming(EdgeKind::Subscription, author);
        values.push((":partition", &partition));
        let values: Item = values.into_iter().map(|(k, v)| (k.to_string(), s(v.clone()))).collect();
        let keep = |id: &str| after.is_none_or(|a| id > a.0.as_str()) && range.contains(id);
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("GSI1")
                .key_condition_expression(format!("GSI1PK = :partition{sort}"))
                .set_expression_attribute_values(Some(values.clone()))
                .set_exclusive_start_key(start)
                .limit((limit - found.len() as u32 + 1) as i32)
                .send()
                .await
                .context("DynamoDB Query")?;
            for item in output.items.unwrap_or_default() {
                let id = get_s(&item, "GSI1SK")?;
                if keep(id) && found.len() < limit as usize {
                    found.push(UserId(id.to_string()));
                }
            }
            start = output.last_evaluated_key;
            if found.len() == limit as usize || start.is_none() {
                return Ok(found);
            }
        }
    }

    async fn subscriber_id_bounds(&self, author: &UserId) -> StoreResult<Option<(UserId, UserId)>> {
        let end = |forward: bool| {
            self.client
                .query()
                .table_name(&self.table)
                .index_name("GSI1")
                .key_condition_expression("GSI1PK = :partition")
                .expression_attribute_values(":partition", s(incoming(EdgeKind::Subscription, author)))
                .scan_index_forward(forward)
                .limit(1)
                .send()
        };
        let (first, last) = tokio::try_join!(end(true), end(false)).context("DynamoDB Query")?;
        let id = |output: aws_sdk_dynamodb::operation::query::QueryOutput| -> Option<UserId> {
            let item = output.items?.into_iter().next()?;
            Some(UserId(get_s(&item, "GSI1SK").ok()?.to_string()))
        };
        Ok(id(first).zip(id(last)))
    }

    /// Takes the edges from the start of each listing (those removed are gone from it), so a
    /// run that stopped anywhere is taken up by the next. Each removal is its own transaction
    /// with its counts, run a few at a time.
    async fn delete_user_edges(&self, user: &UserId, limit: u32) -> StoreResult<bool> {
        let mut left = limit;
        for kind in [EdgeKind::Subscription, EdgeKind::Follow] {
            for side in [Side::From(user.clone()), Side::To(user.clone())] {
                while left > 0 {
                    let (edges, next) = self.edges(kind, &side, left.min(100), None).await?;
                    for chunk in edges.chunks(ERASE_CONCURRENCY) {
                        let removals = chunk.iter().map(|edge| self.remove_edge(kind, &edge.from, &edge.to));
                        futures_util::future::try_join_all(removals).await?;
                    }
                    left -= edges.len() as u32;
                    if next.is_none() || edges.is_empty() {
                        break;
                    }
                }
            }
        }
        if left == 0 {
            return Ok(true);
        }
        self.delete(user_pk(user), "COUNTS").await?;
        Ok(false)
    }
}
