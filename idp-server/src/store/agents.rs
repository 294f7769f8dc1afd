//! Rows of `agents` and `activation_codes`.

use diesel::prelude::*;

use super::schema::{activation_codes as c, agents as a};
use super::{DbConnection, StoreError, now_unix};
use crate::domain::agent::Role;

#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub struct AgentRow {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub office: Option<String>,
    #[serde(skip)]
    pub password_hash: String,
    #[serde(skip)]
    pub totp_sealed: Option<Vec<u8>>,
    #[serde(skip)]
    pub totp_last_step: Option<i64>,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// The initial password is still the one given at creation.
    pub must_change_password: bool,
    /// Counts password changes; a console session opened under another
    /// value has ended.
    pub session_epoch: i32,
}

pub struct NewAgent<'a> {
    pub id: &'a str,
    pub username: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub office: Option<&'a str>,
    pub password_hash: &'a str,
}

pub fn insert(conn: &mut DbConnection, agent: &NewAgent<'_>) -> Result<(), StoreError> {
    let now = now_unix();
    diesel::insert_into(a::table)
        .values((
            a::id.eq(agent.id),
            a::username.eq(agent.username),
            a::display_name.eq(agent.display_name),
            a::role.eq(agent.role),
            a::office.eq(agent.office),
            a::password_hash.eq(agent.password_hash),
            a::disabled.eq(false),
            a::must_change_password.eq(true),
            a::created_at.eq(now),
            a::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn by_username(
    conn: &mut DbConnection,
    username: &str,
) -> Result<Option<AgentRow>, StoreError> {
    Ok(a::table
        .filter(a::username.eq(username))
        .first(conn)
        .optional()?)
}

pub fn by_id(conn: &mut DbConnection, id: &str) -> Result<Option<AgentRow>, StoreError> {
    Ok(a::table.filter(a::id.eq(id)).first(conn).optional()?)
}

pub fn all(conn: &mut DbConnection) -> Result<Vec<AgentRow>, StoreError> {
    Ok(a::table.order(a::username.asc()).load(conn)?)
}

pub fn set_disabled(conn: &mut DbConnection, id: &str, disabled: bool) -> Result<bool, StoreError> {
    Ok(diesel::update(a::table.filter(a::id.eq(id)))
        .set((a::disabled.eq(disabled), a::updated_at.eq(now_unix())))
        .execute(conn)?
        == 1)
}

/// Replaces the password hash chosen by the agent: the first-login flag
/// goes and the session epoch moves on (other sessions end). Returns the
/// new epoch, or `None` for an unknown agent.
pub fn set_password(
    conn: &mut DbConnection,
    id: &str,
    password_hash: &str,
) -> Result<Option<i32>, StoreError> {
    let updated = diesel::update(a::table.filter(a::id.eq(id)))
        .set((
            a::password_hash.eq(password_hash),
            a::must_change_password.eq(false),
            a::session_epoch.eq(a::session_epoch + 1),
            a::updated_at.eq(now_unix()),
        ))
        .execute(conn)?;
    if updated != 1 {
        return Ok(None);
    }
    Ok(Some(
        a::table
            .filter(a::id.eq(id))
            .select(a::session_epoch)
            .first(conn)?,
    ))
}

/// Replaces (or clears) the sealed TOTP secret.
pub fn set_totp(
    conn: &mut DbConnection,
    id: &str,
    sealed: Option<&[u8]>,
) -> Result<bool, StoreError> {
    Ok(diesel::update(a::table.filter(a::id.eq(id)))
        .set((
            a::totp_sealed.eq(sealed),
            a::totp_last_step.eq(None::<i64>),
            a::updated_at.eq(now_unix()),
        ))
        .execute(conn)?
        == 1)
}

/// Records `step` as used if it is newer than the last one; false for a replay.
pub fn use_totp_step(conn: &mut DbConnection, id: &str, step: i64) -> Result<bool, StoreError> {
    Ok(diesel::update(
        a::table.filter(
            a::id
                .eq(id)
                .and(a::totp_last_step.is_null().or(a::totp_last_step.lt(step))),
        ),
    )
    .set(a::totp_last_step.eq(step))
    .execute(conn)?
        == 1)
}

#[derive(Debug, Clone, Queryable)]
pub struct ActivationRow {
    pub account_id: String,
    pub code_hash: String,
    pub attempts: i32,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Replaces the account's activation code (a fresh one, no attempts yet).
///
/// One upsert rather than DELETE then INSERT: two transactions issuing codes
/// at once on PostgreSQL would both find nothing left to delete and the
/// second INSERT would hit the primary key; with `ON CONFLICT DO UPDATE` the
/// second waits for the first and replaces its row. (SQLite serialises the
/// transactions anyway; the statement is the same.)
pub fn put_activation(
    conn: &mut DbConnection,
    account_id: &str,
    code_hash: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    let now = now_unix();
    let row = (
        c::account_id.eq(account_id),
        c::code_hash.eq(code_hash),
        c::attempts.eq(0),
        c::created_at.eq(now),
        c::expires_at.eq(expires_at),
    );
    let fresh = (
        c::code_hash.eq(code_hash),
        c::attempts.eq(0),
        c::created_at.eq(now),
        c::expires_at.eq(expires_at),
    );
    match conn {
        DbConnection::Pg(pg) => diesel::insert_into(c::table)
            .values(row)
            .on_conflict(c::account_id)
            .do_update()
            .set(fresh)
            .execute(pg)?,
        DbConnection::Sqlite(sqlite) => diesel::insert_into(c::table)
            .values(row)
            .on_conflict(c::account_id)
            .do_update()
            .set(fresh)
            .execute(sqlite)?,
    };
    Ok(())
}

pub fn activation(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<Option<ActivationRow>, StoreError> {
    Ok(c::table
        .filter(c::account_id.eq(account_id))
        .first(conn)
        .optional()?)
}

/// Wrong activation codes that void the code (DESIGN §7).
pub const MAX_ACTIVATION_ATTEMPTS: i32 = 5;

/// Counts one activation attempt before the code is compared; returns the
/// new count, or `None` when the code is absent or already used up.
pub fn count_activation_attempt(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<Option<i32>, StoreError> {
    let updated = diesel::update(
        c::table.filter(
            c::account_id
                .eq(account_id)
                .and(c::attempts.lt(MAX_ACTIVATION_ATTEMPTS)),
        ),
    )
    .set(c::attempts.eq(c::attempts + 1))
    .execute(conn)?;
    if updated == 0 {
        return Ok(None);
    }
    Ok(Some(
        c::table
            .filter(c::account_id.eq(account_id))
            .select(c::attempts)
            .first(conn)?,
    ))
}

/// Consumes the account's activation code; true if it was there.
pub fn delete_activation(conn: &mut DbConnection, account_id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(c::table.filter(c::account_id.eq(account_id))).execute(conn)? == 1)
}

/// A registered security key: (credential id, serialised passkey).
pub fn keys_of(
    conn: &mut DbConnection,
    agent_id: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    use super::schema::agent_keys as k;
    Ok(k::table
        .filter(k::agent_id.eq(agent_id))
        .select((k::credential_id, k::passkey))
        .order(k::created_at.asc())
        .load(conn)?)
}

pub fn insert_key(
    conn: &mut DbConnection,
    credential_id: &str,
    agent_id: &str,
    passkey: &str,
) -> Result<(), StoreError> {
    use super::schema::agent_keys as k;
    diesel::insert_into(k::table)
        .values((
            k::credential_id.eq(credential_id),
            k::agent_id.eq(agent_id),
            k::passkey.eq(passkey),
            k::created_at.eq(now_unix()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Stores the updated credential (signature counter) after a login.
pub fn update_key(
    conn: &mut DbConnection,
    credential_id: &str,
    passkey: &str,
) -> Result<(), StoreError> {
    use super::schema::agent_keys as k;
    diesel::update(k::table.filter(k::credential_id.eq(credential_id)))
        .set((k::passkey.eq(passkey), k::last_used_at.eq(Some(now_unix()))))
        .execute(conn)?;
    Ok(())
}
