//! Named settings the server keeps about itself (e.g. the master-key check value).

use diesel::prelude::*;

use super::schema::settings;
use super::{DbConnection, StoreError, now_unix};

pub fn get(conn: &mut DbConnection, name: &str) -> Result<Option<String>, StoreError> {
    Ok(settings::table
        .filter(settings::name.eq(name))
        .select(settings::value)
        .first::<String>(conn)
        .optional()?)
}

/// Inserts `name` only if it is absent; returns the value now stored (which is
/// another process's value if it won the race). Call it outside a write
/// transaction: on PostgreSQL a lost race aborts the enclosing transaction.
pub fn insert_if_absent(
    conn: &mut DbConnection,
    name: &str,
    value: &str,
) -> Result<String, StoreError> {
    if let Some(existing) = get(conn, name)? {
        return Ok(existing);
    }
    let inserted = diesel::insert_into(settings::table)
        .values((
            settings::name.eq(name),
            settings::value.eq(value),
            settings::updated_at.eq(now_unix()),
        ))
        .execute(conn);
    match inserted.map_err(StoreError::from) {
        Ok(_) => Ok(value.to_owned()),
        Err(e) if e.is_unique_violation() => {
            get(conn, name)?.ok_or_else(|| StoreError::Corrupt(format!("setting {name} vanished")))
        }
        Err(e) => Err(e),
    }
}
