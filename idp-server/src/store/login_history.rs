//! Rows of `login_history`: every login to a partner site and how it ended,
//! written in the transaction of its outcome (the approval's or password
//! login's audit entry, the refusal's, the report's, the expiry's), so the
//! history and the audit log never disagree. Read newest first, a page at a
//! time, through the `(account_id, at_ms)` index.

use diesel::prelude::*;

use super::schema::login_history as h;
use super::{DbConnection, StoreError};
use crate::domain::history::LoginResult;

#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub struct LoginRow {
    #[serde(skip)]
    pub id: String,
    #[serde(skip)]
    pub account_id: String,
    pub client_id: String,
    pub client_name: String,
    pub at_ms: i64,
    pub acr: String,
    pub ip: String,
    pub user_agent: String,
    pub outcome: LoginResult,
}

/// One login to record (the id is drawn by the caller, outside the
/// transaction).
#[derive(Debug, Clone)]
pub struct NewLogin {
    pub id: String,
    pub account_id: String,
    pub client_id: String,
    pub client_name: String,
    pub at_ms: i64,
    pub acr: String,
    /// Already approximate (`device::challenge::approximate_ip`).
    pub ip: String,
    pub user_agent: String,
    pub outcome: LoginResult,
}

/// Appends one login, in the caller's transaction (after its audit entry).
pub fn insert(conn: &mut DbConnection, login: &NewLogin) -> Result<(), StoreError> {
    diesel::insert_into(h::table)
        .values((
            h::id.eq(&login.id),
            h::account_id.eq(&login.account_id),
            h::client_id.eq(&login.client_id),
            h::client_name.eq(&login.client_name),
            h::at_ms.eq(login.at_ms),
            h::acr.eq(&login.acr),
            h::ip.eq(&login.ip),
            h::user_agent.eq(login.user_agent.chars().take(200).collect::<String>()),
            h::outcome.eq(login.outcome),
        ))
        .execute(conn)?;
    Ok(())
}

/// At most `limit` logins of the account, newest first, skipping `offset`.
pub fn page(
    conn: &mut DbConnection,
    account_id: &str,
    offset: i64,
    limit: i64,
) -> Result<Vec<LoginRow>, StoreError> {
    Ok(h::table
        .filter(h::account_id.eq(account_id))
        .order((h::at_ms.desc(), h::id.desc()))
        .offset(offset)
        .limit(limit)
        .load(conn)?)
}

/// Every login of the account, newest first (the data export).
pub fn all(conn: &mut DbConnection, account_id: &str) -> Result<Vec<LoginRow>, StoreError> {
    Ok(h::table
        .filter(h::account_id.eq(account_id))
        .order((h::at_ms.desc(), h::id.desc()))
        .load(conn)?)
}

/// Deletes the account's logins (its erasure); their count.
pub fn delete_of_account(conn: &mut DbConnection, account_id: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(h::table.filter(h::account_id.eq(account_id))).execute(conn)?)
}

/// Deletes the logins recorded before `before_ms` (retention); their count.
pub fn delete_before(conn: &mut DbConnection, before_ms: i64) -> Result<usize, StoreError> {
    Ok(diesel::delete(h::table.filter(h::at_ms.lt(before_ms))).execute(conn)?)
}
