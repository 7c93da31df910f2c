//! Accounts on SQLite: the unique email is the table's `UNIQUE` constraint; each linked
//! identity is a row of `linked_identities`, whose key is unique.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::SqliteDb;
use crate::{
    domain::{Role, Status, User, UserId},
    ports::{AccountFilter, AccountStore, Position, StoreError, StoreResult},
};

fn user_from_json(data: String) -> rusqlite::Result<User> {
    serde_json::from_str(&data)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

#[async_trait]
impl AccountStore for SqliteDb {
    async fn create_account(&self, user: &User) -> StoreResult<()> {
        let user = user.clone();
        let data = serde_json::to_string(&user).map_err(anyhow::Error::from)?;
        let inserted = self
            .call_watched(move |conn| {
                let tx = conn.transaction()?;
                // A registration never confirmed gives its address up to the new one.
                tx.execute(
                    "DELETE FROM linked_identities WHERE user_id IN
                        (SELECT id FROM users WHERE email_key = ?1 AND status = 'pending')",
                    [user.email.key()],
                )?;
                tx.execute("DELETE FROM users WHERE email_key = ?1 AND status = 'pending'", [user.email.key()])?;
                let inserted = tx.execute(
                    "INSERT INTO users (id, email_key, role, status, created_at, data, version, credential_version)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (email_key) DO NOTHING",
                    params![
                        user.id.0,
                        user.email.key(),
                        user.role.as_str(),
                        user.status.tag().as_str(),
                        super::ts(user.created_at),
                        data,
                        user.version,
                        user.credential_version,
                    ],
                )?;
                if inserted == 0 {
                    return Ok(Written::EmailTaken);
                }
                if !claim_identities(&tx, &user)? {
                    return Ok(Written::IdentityTaken);
                }
                tx.commit()?;
                Ok(Written::Done)
            })
            .await?;
        inserted.into()
    }

    async fn account(&self, id: &UserId) -> StoreResult<Option<User>> {
        let data: Option<String> = self.read(|conn| {
            conn.prepare_cached("SELECT data FROM users WHERE id = ?1")?.query_row([&id.0], |row| row.get(0)).optional()
        })?;
        Ok(data.map(user_from_json).transpose().map_err(anyhow::Error::from)?)
    }

    async fn account_by_identity(&self, provider: &str, subject: &str) -> StoreResult<Option<User>> {
        let key = crate::domain::identity_key(provider, subject);
        let data: Option<String> = self.read(|conn| {
            conn.prepare_cached(
                "SELECT data FROM users WHERE id = (SELECT user_id FROM linked_identities WHERE identity_key = ?1)",
            )?
            .query_row([&key], |row| row.get(0))
            .optional()
        })?;
        Ok(data.map(user_from_json).transpose().map_err(anyhow::Error::from)?)
    }

    async fn account_by_email(&self, email_key: &str) -> StoreResult<Option<User>> {
        let data: Option<String> = self.read(|conn| {
            conn.prepare_cached("SELECT data FROM users WHERE email_key = ?1")?
                .query_row([email_key], |row| row.get(0))
                .optional()
        })?;
        Ok(data.map(user_from_json).transpose().map_err(anyhow::Error::from)?)
    }

    async fn accounts_by_id(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        let ids: Vec<String> = ids.iter().map(|id| id.0.clone()).collect();
        let rows: Vec<String> = self
            .call(move |conn| {
                let mut stmt = conn.prepare("SELECT data FROM users WHERE id IN (SELECT value FROM json_each(?1))")?;
                let ids = serde_json::to_string(&ids).unwrap_or_default();
                stmt.query_map([ids], |row| row.get(0))?.collect()
            })
            .await?;
        Ok(rows.into_iter().map(user_from_json).collect::<rusqlite::Result<_>>().map_err(anyhow::Error::from)?)
    }

    async fn update_account(&self, user: &User) -> StoreResult<()> {
        let read_version = user.version;
        let mut user = user.clone();
        user.version += 1;
        let data = serde_json::to_string(&user).map_err(anyhow::Error::from)?;
        let result = self
            .call_watched(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let Some(stored_admin) = stored_admin(&tx, &user.id, read_version)? else {
                    return Ok(Written::Conflict);
                };
                if stored_admin && !user.counts_as_admin() && active_admins(&tx)? <= 1 {
                    return Ok(Written::LastAdmin);
                }
                // A registration never confirmed gives up the address an email change takes.
                tx.execute(
                    "DELETE FROM users WHERE email_key = ?1 AND status = 'pending' AND id <> ?2",
                    params![user.email.key(), user.id.0],
                )?;
                tx.execute(
                    "UPDATE users SET email_key = ?2, role = ?3, status = ?4, data = ?5, version = ?6,
                        credential_version = ?7, access_version = ?8
                     WHERE id = ?1",
                    params![
                        user.id.0,
                        user.email.key(),
                        user.role.as_str(),
                        user.status.tag().as_str(),
                        data,
                        user.version,
                        user.credential_version,
                        user.access_version,
                    ],
                )?;
                tx.execute("DELETE FROM linked_identities WHERE user_id = ?1", [&user.id.0])?;
                if !claim_identities(&tx, &user)? {
                    return Ok(Written::IdentityTaken);
                }
                tx.commit()?;
                Ok(Written::Done)
            })
            .await;
        match result {
            Ok(written) => written.into(),
            Err(e) if is_unique_violation(&e) => Err(StoreError::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_account(&self, user: &User) -> StoreResult<()> {
        let (id, read_version) = (user.id.clone(), user.version);
        self.call_watched(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(stored_admin) = stored_admin(&tx, &id, read_version)? else {
                return Ok(Written::Conflict);
            };
            if stored_admin && active_admins(&tx)? <= 1 {
                return Ok(Written::LastAdmin);
            }
            tx.execute("DELETE FROM users WHERE id = ?1", [&id.0])?;
            tx.execute("DELETE FROM linked_identities WHERE user_id = ?1", [&id.0])?;
            tx.commit()?;
            Ok(Written::Done)
        })
        .await?
        .into()
    }

    async fn list_accounts(
        &self,
        filter: AccountFilter,
        limit: u32,
        after: Option<&Position>,
    ) -> StoreResult<(Vec<User>, Option<Position>)> {
        // The position is the last row's (role, id); ids are UUIDv7, so they sort by age.
        let (after_role, after_id) = match after {
            Some(p) => (
                p["role"].as_str().ok_or_else(|| anyhow::anyhow!("bad position"))?.to_string(),
                p["id"].as_str().ok_or_else(|| anyhow::anyhow!("bad position"))?.to_string(),
            ),
            None => (String::new(), String::new()),
        };
        let (role, status) = (filter.role.map(Role::as_str), filter.status.map(Status::as_str));
        let rows: Vec<(String, String, String)> = self
            .call(move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT role, id, data FROM users
                     WHERE (?1 IS NULL OR role = ?1) AND (?5 IS NULL OR status = ?5) AND (role, id) > (?2, ?3)
                     ORDER BY role, id LIMIT ?4",
                )?;
                stmt.query_map(params![role, after_role, after_id, limit, status], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?
                .collect()
            })
            .await?;
        let next = (rows.len() == limit as usize)
            .then(|| rows.last().map(|(role, id, _)| serde_json::json!({ "role": role, "id": id })))
            .flatten();
        let users = rows.into_iter().map(|(_, _, data)| user_from_json(data)).collect::<rusqlite::Result<_>>();
        Ok((users.map_err(anyhow::Error::from)?, next))
    }
}

/// How a conditional write ended (one that did not end `Done` is rolled back).
enum Written {
    Done,
    Conflict,
    LastAdmin,
    EmailTaken,
    IdentityTaken,
}

/// Claims each of the account's identities for it; `false` if another account has one.
fn claim_identities(tx: &Transaction, user: &User) -> rusqlite::Result<bool> {
    for identity in &user.identities {
        let claimed = tx.execute(
            "INSERT INTO linked_identities (identity_key, user_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![identity.key(), user.id.0],
        )?;
        if claimed == 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

impl From<Written> for StoreResult<()> {
    fn from(written: Written) -> Self {
        match written {
            Written::Done => Ok(()),
            Written::Conflict => Err(StoreError::Conflict),
            Written::LastAdmin => Err(StoreError::LastAdmin),
            Written::EmailTaken => Err(StoreError::EmailTaken),
            Written::IdentityTaken => Err(StoreError::IdentityTaken),
        }
    }
}

/// Whether the account, if it is still at `version`, is an active admin; `None` if it is not
/// at that version (or gone).
fn stored_admin(tx: &Transaction, id: &UserId, version: u64) -> rusqlite::Result<Option<bool>> {
    tx.query_row(
        "SELECT role = 'admin' AND status = 'active' FROM users WHERE id = ?1 AND version = ?2",
        params![id.0, version],
        |row| row.get(0),
    )
    .optional()
}

fn active_admins(tx: &Transaction) -> rusqlite::Result<u64> {
    tx.query_row("SELECT COUNT(*) FROM users WHERE role = 'admin' AND status = 'active'", [], |row| row.get(0))
}

fn is_unique_violation(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<rusqlite::Error>(),
            Some(rusqlite::Error::SqliteFailure(f, _)) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        )
    })
}
