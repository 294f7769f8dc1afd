//! When an account's access tokens were last revoked (suspension, device
//! revocation). Access tokens live in the ephemeral store, where a CLI on the
//! embedded backend cannot reach them; this row is what every process sees.

use diesel::prelude::*;

use super::schema::refresh_tokens as r;
use super::schema::{accounts as a, token_revocations as t};
use super::{DbConnection, StoreError};

/// Revokes every access token of the account issued at or before `at_ms`.
/// Call it after `audit::append` in the same transaction: the audit head's
/// lock then orders concurrent revocations, so the insert cannot race.
pub fn revoke_all(conn: &mut DbConnection, account_id: &str, at_ms: i64) -> Result<(), StoreError> {
    let updated = diesel::update(t::table.filter(t::account_id.eq(account_id)))
        .set(t::revoked_at_ms.eq(at_ms))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(t::table)
            .values((t::account_id.eq(account_id), t::revoked_at_ms.eq(at_ms)))
            .execute(conn)?;
    }
    Ok(())
}

/// Whether an access token of `account_id` issued at `issued_at_ms` (with the
/// refresh-token `family`, if any) still stands: the account exists and is
/// not suspended, its tokens were not revoked since, and the family was not
/// revoked. Primary-key lookups (plus one on the family index).
pub fn access_token_stands(
    conn: &mut DbConnection,
    account_id: &str,
    issued_at_ms: i64,
    family: Option<&str>,
) -> Result<bool, StoreError> {
    let state: Option<crate::domain::account::AccountState> = a::table
        .filter(a::id.eq(account_id))
        .select(a::state)
        .first(conn)
        .optional()?;
    if state.is_none_or(|s| s == crate::domain::account::AccountState::Suspended) {
        return Ok(false);
    }
    let revoked_at: Option<i64> = t::table
        .filter(t::account_id.eq(account_id))
        .select(t::revoked_at_ms)
        .first(conn)
        .optional()?;
    if revoked_at.is_some_and(|at| issued_at_ms <= at) {
        return Ok(false);
    }
    if let Some(family) = family {
        let revoked: i64 = r::table
            .filter(r::family_id.eq(family).and(r::revoked_at.is_not_null()))
            .count()
            .get_result(conn)?;
        if revoked > 0 {
            return Ok(false);
        }
    }
    Ok(true)
}
