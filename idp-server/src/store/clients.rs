//! Rows of `clients`. The metadata column holds a validated `ClientMetadata`.

use diesel::prelude::*;

use super::schema::clients as c;
use super::{DbConnection, StoreError, now_unix};

#[derive(Debug, Clone, Queryable)]
pub struct ClientRow {
    pub client_id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub metadata: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn get(conn: &mut DbConnection, client_id: &str) -> Result<Option<ClientRow>, StoreError> {
    Ok(c::table
        .filter(c::client_id.eq(client_id))
        .first(conn)
        .optional()?)
}

pub fn all(conn: &mut DbConnection) -> Result<Vec<ClientRow>, StoreError> {
    Ok(c::table.order(c::client_id.asc()).load(conn)?)
}

pub fn insert(
    conn: &mut DbConnection,
    client_id: &str,
    name: &str,
    secret_hash: Option<&str>,
    metadata: &str,
) -> Result<(), StoreError> {
    let now = now_unix();
    diesel::insert_into(c::table)
        .values((
            c::client_id.eq(client_id),
            c::name.eq(name),
            c::secret_hash.eq(secret_hash),
            c::metadata.eq(metadata),
            c::created_at.eq(now),
            c::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Replaces name, secret hash and metadata; false if the client does not exist.
pub fn update(
    conn: &mut DbConnection,
    client_id: &str,
    name: &str,
    secret_hash: Option<&str>,
    metadata: &str,
) -> Result<bool, StoreError> {
    let n = diesel::update(c::table.filter(c::client_id.eq(client_id)))
        .set((
            c::name.eq(name),
            c::secret_hash.eq(secret_hash),
            c::metadata.eq(metadata),
            c::updated_at.eq(now_unix()),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

pub fn delete(conn: &mut DbConnection, client_id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(c::table.filter(c::client_id.eq(client_id))).execute(conn)? == 1)
}
