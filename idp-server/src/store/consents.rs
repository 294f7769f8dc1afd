//! Remembered consents: which scopes a person agreed to share with a client.

use diesel::prelude::*;

use super::schema::consents as c;
use super::{DbConnection, StoreError, now_unix};

/// Scopes already granted to `client_id`, if any.
pub fn granted(
    conn: &mut DbConnection,
    account_id: &str,
    client_id: &str,
) -> Result<Option<Vec<String>>, StoreError> {
    let scopes: Option<String> = c::table
        .filter(c::account_id.eq(account_id).and(c::client_id.eq(client_id)))
        .select(c::scopes)
        .first(conn)
        .optional()?;
    Ok(scopes.map(|s| {
        s.split(' ')
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    }))
}

/// Scopes as the `scopes` column holds them: sorted, once each, space-separated.
fn stored_form(mut scopes: Vec<String>) -> String {
    scopes.sort_unstable();
    scopes.dedup();
    scopes.join(" ")
}

/// Records (or widens) the consent; call inside a write transaction.
pub fn grant(
    conn: &mut DbConnection,
    account_id: &str,
    client_id: &str,
    scopes: &[String],
) -> Result<(), StoreError> {
    let mut all = granted(conn, account_id, client_id)?.unwrap_or_default();
    all.extend(scopes.iter().cloned());
    let joined = stored_form(all);
    let updated = diesel::update(
        c::table.filter(c::account_id.eq(account_id).and(c::client_id.eq(client_id))),
    )
    .set((c::scopes.eq(&joined), c::granted_at.eq(now_unix())))
    .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(c::table)
            .values((
                c::account_id.eq(account_id),
                c::client_id.eq(client_id),
                c::scopes.eq(&joined),
                c::granted_at.eq(now_unix()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Records the same consent for accounts that have none for `client_id` yet,
/// in one statement (bulk loads; keep slices to a few thousand rows).
pub fn grant_new(
    conn: &mut DbConnection,
    account_ids: &[&str],
    client_id: &str,
    scopes: &[String],
) -> Result<(), StoreError> {
    if account_ids.is_empty() {
        return Ok(());
    }
    let joined = stored_form(scopes.to_vec());
    let now = now_unix();
    let rows: Vec<_> = account_ids
        .iter()
        .map(|account_id| {
            (
                c::account_id.eq(*account_id),
                c::client_id.eq(client_id),
                c::scopes.eq(joined.as_str()),
                c::granted_at.eq(now),
            )
        })
        .collect();
    insert_rows!(conn, c::table, rows);
    Ok(())
}

/// Every consent of the account (client id, client name, scopes, when),
/// for the citizen's data export.
pub fn of_account(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<Vec<(String, String, String, i64)>, StoreError> {
    use super::schema::clients as k;
    let rows: Vec<(String, String, i64)> = c::table
        .filter(c::account_id.eq(account_id))
        .order(c::granted_at.desc())
        .select((c::client_id, c::scopes, c::granted_at))
        .load(conn)?;
    let ids: Vec<&String> = rows.iter().map(|r| &r.0).collect();
    let names: Vec<(String, String)> = k::table
        .filter(k::client_id.eq_any(ids))
        .select((k::client_id, k::name))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(client, scopes, at)| {
            let name = names.iter().find(|n| n.0 == client);
            let name = name.map(|n| n.1.clone()).unwrap_or_default();
            (client, name, scopes, at)
        })
        .collect())
}
