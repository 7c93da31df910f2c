//! Accounts on DynamoDB: the account item and, for the unique email and each linked identity,
//! a marker item written in the same transaction.

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use aws_sdk_dynamodb::{
    operation::put_item::PutItemError,
    types::{Delete, TransactWriteItem, Update},
};
use serde::{Deserialize, Serialize};
use shared::{
    domain::{Role, Status, User, UserId},
    ports::{AccountFilter, AccountStore, Position, StoreError, StoreResult},
};

use super::{Condition, DynamoStore, Item, condition_failed, get_s, key, key_from_json, key_to_json, n, s, user_pk};

pub(super) fn email_pk(email_key: &str) -> String {
    format!("EMAIL#{email_key}")
}

fn identity_pk(identity_key: &str) -> String {
    format!("IDENTITY#{identity_key}")
}

/// The account's identities as one attribute: a write that keeps them is conditional on it.
fn identity_keys(user: &User) -> String {
    let mut keys: Vec<String> = user.identities.iter().map(|i| i.key()).collect();
    keys.sort();
    keys.join("\n")
}

/// The account an item holds (an account item's image in the table's stream, say).
pub fn user_of(item: impl Into<serde_dynamo::Item>) -> anyhow::Result<User> {
    Ok(serde_dynamo::from_item::<_, UserItem>(item)?.user)
}

/// A user item: the account's fields, plus the keys and index attributes.
#[derive(Serialize, Deserialize)]
struct UserItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    /// GSI1 lists accounts by role, oldest first.
    #[serde(rename = "GSI1PK")]
    gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    gsi1sk: String,
    email_key: String,
    /// The identities' keys (`identity_keys`): a write that keeps them is one conditional put.
    #[serde(default)]
    identity_keys: String,
    #[serde(flatten)]
    user: User,
}

fn user_item(user: &User) -> anyhow::Result<Item> {
    let item = UserItem {
        pk: user_pk(&user.id),
        sk: "PROFILE".into(),
        gsi1pk: format!("ROLE#{}", user.role.as_str()),
        // Ids are UUIDv7: sorting by id is sorting by age.
        gsi1sk: user.id.0.clone(),
        email_key: user.email.key(),
        identity_keys: identity_keys(user),
        user: user.clone(),
    };
    Ok(serde_dynamo::to_item(item)?)
}

/// The marker that reserves an address for its account, claimed for `user` on `condition`. It
/// may exist before, holding only the counts of password checks for the address (see
/// `limits.rs`), which it keeps; claimed, it no longer expires. An address is taken when its
/// marker names an account (`MARKER_FREE` is the condition that it does not).
fn claim_marker(store: &DynamoStore, user: &User, condition: Condition) -> TransactWriteItem {
    let condition = condition.name("#ttl", "ttl").value(":user_id", s(user.id.0.clone()));
    store.update_if(key(email_pk(&user.email.key()), "EMAIL"), "SET user_id = :user_id REMOVE #ttl", &condition)
}

const MARKER_FREE: &str = "attribute_not_exists(user_id)";

impl DynamoStore {
    /// The marker that links a provider's subject to `user`, put only if no account has it.
    fn claim_identity(&self, user: &User, identity_key: &str) -> TransactWriteItem {
        let mut item = key(identity_pk(identity_key), "IDENTITY");
        item.insert("user_id".into(), s(user.id.0.clone()));
        self.put(item, "attribute_not_exists(PK)")
    }

    /// The removal of `user`'s marker for a provider's subject.
    fn free_identity(&self, user: &User, identity_key: &str) -> TransactWriteItem {
        let theirs = Condition::new("user_id = :id").value(":id", s(user.id.0.clone()));
        self.delete_if(key(identity_pk(identity_key), "IDENTITY"), &theirs)
    }
}

/// Whether a cancelled transaction's items in `range` include one whose condition failed.
fn failed_in(codes: &[String], range: std::ops::Range<usize>) -> bool {
    codes.iter().skip(range.start).take(range.len()).any(|c| c == "ConditionalCheckFailed")
}

/// The count of accounts that [`User::counts_as_admin`]: the last one cannot go.
const ADMINS_PK: &str = "ADMINS";

/// The stored item is (or is not) an active admin, as `admin` says.
fn admin_is(admin: bool) -> Condition {
    let active_admin = "(#role = :admin_role AND #status = :active_status)";
    Condition::new(&if admin { active_admin.to_string() } else { format!("NOT {active_admin}") })
        .name("#role", "role")
        .name("#status", "status")
        .value(":admin_role", s("admin"))
        .value(":active_status", s("active"))
}

/// The account as stored after a write from `user` (one version on).
fn written(user: &User) -> User {
    User { version: user.version + 1, ..user.clone() }
}

impl DynamoStore {
    /// One more active admin.
    fn admin_joins(&self) -> TransactWriteItem {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(ADMINS_PK.into(), "COUNT")))
            .update_expression("ADD active_admins :one")
            .expression_attribute_values(":one", n(1))
            .build()
            .expect("table, key and expression are set");
        TransactWriteItem::builder().update(update).build()
    }

    /// One active admin fewer, unless it is the last.
    fn admin_leaves(&self) -> TransactWriteItem {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(ADMINS_PK.into(), "COUNT")))
            .update_expression("SET active_admins = active_admins - :one")
            .condition_expression("active_admins > :one")
            .expression_attribute_values(":one", n(1))
            .build()
            .expect("table, key and expression are set");
        TransactWriteItem::builder().update(update).build()
    }

    /// Makes sure the admin count exists: a table written before it existed has none, and
    /// every removal of an admin would fail its condition. Counted once from GSI1 (the active
    /// admins) and put only if still absent; `true` if it was made now, so the refused write
    /// may be tried again.
    async fn ensure_admin_count(&self) -> anyhow::Result<bool> {
        if self.get(ADMINS_PK.into(), "COUNT").await?.is_some() {
            return Ok(false);
        }
        let mut count = 0u64;
        let mut start_key = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("GSI1")
                .key_condition_expression("GSI1PK = :role")
                .filter_expression("#status = :active")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":role", s("ROLE#admin"))
                .expression_attribute_values(":active", s("active"))
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .context("DynamoDB Query")?;
            count += page.items().len() as u64;
            match page.last_evaluated_key {
                Some(last) => start_key = Some(last),
                None => break,
            }
        }
        let mut item = key(ADMINS_PK.into(), "COUNT");
        item.insert("active_admins".into(), n(count));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match put {
            Ok(_) => {
                tracing::info!(active_admins = count, "admin count established");
                Ok(true)
            }
            Err(e) if condition_failed::<PutItemError, _>(&e) => Ok(true), // another writer made it
            Err(e) => Err(anyhow::Error::new(e).context("DynamoDB PutItem")),
        }
    }

    /// Replaces the pending account `holder` by `user` in one transaction: the old account
    /// goes (if it is still pending, at the version read), the marker moves, the new account
    /// is put. `Ok(false)` if something changed in between.
    /// The deletion of the pending account `holder`, if it is still pending at the version read.
    fn delete_pending(&self, holder: &User) -> Result<TransactWriteItem, aws_sdk_dynamodb::error::BuildError> {
        let delete_holder = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(&holder.id), "PROFILE")))
            .condition_expression("#status = :pending AND #version = :version")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":version", n(holder.version))
            .build()?;
        Ok(TransactWriteItem::builder().delete(delete_holder).build())
    }

    async fn replace_pending(&self, holder: &User, user: &User) -> StoreResult<bool> {
        let marker_still_theirs = Condition::new("user_id = :holder").value(":holder", s(holder.id.0.clone()));
        let mut items = vec![
            self.delete_pending(holder).map_err(anyhow::Error::from)?,
            claim_marker(self, user, marker_still_theirs),
            self.put(user_item(user)?, "attribute_not_exists(PK)"),
        ];
        let claims = items.len()..items.len() + user.identities.len();
        items.extend(user.identities.iter().map(|i| self.claim_identity(user, &i.key())));
        if user.counts_as_admin() {
            items.push(self.admin_joins());
        }
        match self.transact(items).await? {
            Ok(()) => Ok(true),
            Err(codes) if failed_in(&codes, claims) => Err(StoreError::IdentityTaken),
            Err(_) => Ok(false),
        }
    }
}

#[async_trait]
impl AccountStore for DynamoStore {
    async fn create_account(&self, user: &User) -> StoreResult<()> {
        for _ in 0..5 {
            let mut items = vec![
                self.put(user_item(user)?, "attribute_not_exists(PK)"),
                claim_marker(self, user, Condition::new(MARKER_FREE)),
            ];
            let claims = items.len()..items.len() + user.identities.len();
            items.extend(user.identities.iter().map(|i| self.claim_identity(user, &i.key())));
            if user.counts_as_admin() {
                items.push(self.admin_joins());
            }
            match self.transact(items).await? {
                Ok(()) => return Ok(()),
                Err(codes) if failed_in(&codes, claims) => return Err(StoreError::IdentityTaken),
                Err(_) => {}
            }
            // The address is held. By an account never confirmed, it gives way.
            let Some(holder) = self.account_by_email(&user.email.key()).await? else { continue };
            if holder.status.tag() != Status::Pending {
                return Err(StoreError::EmailTaken);
            }
            if self.replace_pending(&holder, user).await? {
                return Ok(());
            }
        }
        Err(anyhow!("the address kept changing hands during the registration").into())
    }

    async fn account(&self, id: &UserId) -> StoreResult<Option<User>> {
        let Some(item) = self.get(user_pk(id), "PROFILE").await? else {
            return Ok(None);
        };
        let stored: UserItem = serde_dynamo::from_item(item).map_err(anyhow::Error::from)?;
        Ok(Some(stored.user))
    }

    async fn account_by_identity(&self, provider: &str, subject: &str) -> StoreResult<Option<User>> {
        let marker = self.get(identity_pk(&shared::domain::identity_key(provider, subject)), "IDENTITY").await?;
        let Some(id) = marker.as_ref().and_then(|m| get_s(m, "user_id").ok()) else {
            return Ok(None);
        };
        self.account(&UserId(id.to_string())).await
    }

    async fn account_by_email(&self, email_key: &str) -> StoreResult<Option<User>> {
        let marker = self.get(email_pk(email_key), "EMAIL").await?;
        let Some(id) = marker.as_ref().and_then(|m| get_s(m, "user_id").ok()) else {
            return Ok(None);
        };
        self.account(&UserId(id.to_string())).await
    }

    async fn accounts_by_id(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        let keys = ids.iter().map(|id| key(user_pk(id), "PROFILE")).collect();
        let items = self.batch_get(keys).await?;
        let users = items.into_iter().map(|item| serde_dynamo::from_item::<_, UserItem>(item).map(|i| i.user));
        Ok(users.collect::<Result<_, _>>().map_err(anyhow::Error::from)?)
    }

    async fn update_account(&self, user: &User) -> StoreResult<()> {
        let unchanged = Condition::new("attribute_exists(PK)")
            .and(Condition::number_is("version", user.version))
            .and(Condition::new("email_key = :email_key").value(":email_key", s(user.email.key())))
            .and(Condition::new("identity_keys = :identity_keys").value(":identity_keys", s(identity_keys(user))))
            .and(admin_is(user.counts_as_admin()));
        // The common case, the email, identities and adminship unchanged, is one conditional
        // write. (An item written before identities existed has no `identity_keys`: its first
        // write takes the transaction below.)
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(user_item(&written(user))?))
            .condition_expression(&unchanged.expression)
            .set_expression_attribute_names(unchanged.names())
            .set_expression_attribute_values(unchanged.values())
            .send()
            .await;
        match result {
            Ok(_) => return Ok(()),
            Err(e) if condition_failed::<PutItemError, _>(&e) => {}
            Err(e) => return Err(anyhow::Error::new(e).context("DynamoDB PutItem").into()),
        }
        // Either the account moved on since it was read, or the email, identities or adminship
        // change.
        let Some(current) = self.account(&user.id).await? else { return Err(StoreError::Conflict) };
        let admin_changes = current.counts_as_admin() != user.counts_as_admin();
        let identities_change = identity_keys(&current) != identity_keys(user);
        if current.version != user.version || (current.email == user.email && !admin_changes && !identities_change) {
            return Err(StoreError::Conflict);
        }
        // One transaction: the account (still as read), the email marker moved, the admin count.
        let old_key = current.email.key();
        let still_as_read = Condition::number_is("version", user.version)
            .and(Condition::new("email_key = :old").value(":old", s(old_key.clone())));
        let mut items = vec![self.put_if(user_item(&written(user))?, &still_as_read)];
        let mut new_marker = None;
        let mut displaced = None;
        if current.email != user.email {
            let delete_old = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(email_pk(&old_key), "EMAIL")))
                .condition_expression("user_id = :id")
                .expression_attribute_values(":id", s(user.id.0.clone()))
                .build()
                .map_err(anyhow::Error::from)?;
            items.push(TransactWriteItem::builder().delete(delete_old).build());
            new_marker = Some(items.len());
            // A registration never confirmed gives the address up: it goes in this write.
            let holder = self.account_by_email(&user.email.key()).await?;
            match holder.filter(|h| h.id != user.id && h.status.tag() == Status::Pending) {
                Some(holder) => {
                    let marker_still_theirs =
                        Condition::new("user_id = :holder").value(":holder", s(holder.id.0.clone()));
                    items.push(claim_marker(self, user, marker_still_theirs));
                    items.push(self.delete_pending(&holder).map_err(anyhow::Error::from)?);
                    displaced = Some(items.len() - 1);
                }
                None => items.push(claim_marker(self, user, Condition::new(MARKER_FREE))),
            }
        }
        let added: Vec<String> = user
            .identities
            .iter()
            .filter(|i| current.identity(&i.provider, &i.subject).is_none())
            .map(|i| i.key())
            .collect();
        let claims = items.len()..items.len() + added.len();
        items.extend(added.iter().map(|k| self.claim_identity(user, k)));
        let removed = current.identities.iter().filter(|i| user.identity(&i.provider, &i.subject).is_none());
        items.extend(removed.map(|i| self.free_identity(user, &i.key())));
        let mut admin_count = None;
        if admin_changes {
            admin_count = Some(items.len());
            items.push(if user.counts_as_admin() { self.admin_joins() } else { self.admin_leaves() });
        }
        let failed = |codes: &[String], index: Option<usize>| {
            index.and_then(|i| codes.get(i)).is_some_and(|c| c == "ConditionalCheckFailed")
        };
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(codes) if failed(&codes, Some(0)) => Err(StoreError::Conflict),
            // The pending holder changed meanwhile (confirmed, or replaced): read again.
            Err(codes) if failed(&codes, displaced) => Err(StoreError::Conflict),
            Err(codes) if failed(&codes, new_marker) => Err(StoreError::EmailTaken),
            Err(codes) if failed_in(&codes, claims) => Err(StoreError::IdentityTaken),
            // Tried again (by the caller, on a fresh read) once a missing count is made.
            Err(codes) if failed(&codes, admin_count) && self.ensure_admin_count().await? => Err(StoreError::Conflict),
            Err(codes) if failed(&codes, admin_count) => Err(StoreError::LastAdmin),
            Err(_) => Err(StoreError::Conflict),
        }
    }

    async fn delete_account(&self, user: &User) -> StoreResult<()> {
        let still_as_read = Condition::number_is("version", user.version);
        let delete_account = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(&user.id), "PROFILE")))
            .condition_expression(format!("attribute_exists(PK) AND {}", still_as_read.expression))
            .set_expression_attribute_names(still_as_read.names())
            .set_expression_attribute_values(still_as_read.values())
            .build()
            .map_err(anyhow::Error::from)?;
        let delete_marker = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(email_pk(&user.email.key()), "EMAIL")))
            .condition_expression("user_id = :id")
            .expression_attribute_values(":id", s(user.id.0.clone()))
            .build()
            .map_err(anyhow::Error::from)?;
        let mut items = vec![
            TransactWriteItem::builder().delete(delete_account).build(),
            TransactWriteItem::builder().delete(delete_marker).build(),
        ];
        // The version condition pins the account as read, so its identities are current.
        items.extend(user.identities.iter().map(|i| self.free_identity(user, &i.key())));
        // ... and its adminship.
        let admin_count = items.len();
        if user.counts_as_admin() {
            items.push(self.admin_leaves());
        }
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(codes) if codes.get(admin_count).is_some_and(|c| c == "ConditionalCheckFailed") => {
                // Tried again (by the caller, on a fresh read) once a missing count is made.
                if self.ensure_admin_count().await? { Err(StoreError::Conflict) } else { Err(StoreError::LastAdmin) }
            }
            Err(_) => Err(StoreError::Conflict),
        }
    }

    /// One role's accounts come from GSI1 queries (their keys and status; the accounts from the
    /// table, in one batch read a page); all roles, from one role after another. A
    /// status filter is a `FilterExpression`, so a query may match fewer than it read: reading
    /// goes on until the page is full or the role is done. The position is the role being read
    /// and DynamoDB's `LastEvaluatedKey` in it (null at the start of a role). GSI reads are
    /// eventually consistent: fine for a listing, and no decision rests on one.
    async fn list_accounts(
        &self,
        filter: AccountFilter,
        limit: u32,
        after: Option<&Position>,
    ) -> StoreResult<(Vec<User>, Option<Position>)> {
        let roles: Vec<Role> = filter.role.map_or_else(|| Role::ALL.to_vec(), |role| vec![role]);
        let (first, mut start_key) = match after {
            None => (0, None),
            Some(position) => {
                let role = position["role"].as_str().and_then(Role::parse).ok_or_else(|| anyhow!("bad position"))?;
                let index = roles.iter().position(|r| *r == role).ok_or_else(|| anyhow!("position of another role"))?;
                (index, key_from_json(&position["key"])?)
            }
        };
        let mut users = Vec::new();
        for role in &roles[first..] {
            loop {
                let remaining = limit as usize - users.len();
                if remaining == 0 {
                    let key = start_key.as_ref().map_or(serde_json::Value::Null, key_to_json);
                    return Ok((users, Some(serde_json::json!({ "role": role.as_str(), "key": key }))));
                }
                let mut query = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name("GSI1")
                    .key_condition_expression("GSI1PK = :role")
                    .expression_attribute_values(":role", s(format!("ROLE#{}", role.as_str())))
                    .limit(remaining as i32)
                    .set_exclusive_start_key(start_key.take());
                if let Some(status) = filter.status {
                    query = query
                        .filter_expression("#status = :status")
                        .expression_attribute_names("#status", "status")
                        .expression_attribute_values(":status", s(status.as_str()));
                }
                let page = query.send().await.context("DynamoDB Query")?;
                for item in self.indexed_items(page.items().to_vec()).await? {
                    let stored: UserItem = serde_dynamo::from_item(item).map_err(anyhow::Error::from)?;
                    users.push(stored.user);
                }
                match page.last_evaluated_key {
                    Some(last) => start_key = Some(last),
                    None => break,
                }
            }
        }
        Ok((users, None))
    }
}
