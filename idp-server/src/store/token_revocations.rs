//! When an account's tokens and sessions were last revoked (suspension,
//! device revocation, password reset or change). Access tokens and SSO
//! sessions live in the ephemeral store, where a CLI on the embedded backend
//! cannot reach them (and sessions are not indexed by account); this row is
//! what every process sees. Refresh tokens are durable: the revocation marks
//! them revoked in the same transaction.

use diesel::prelude::*;

use super::accounts::WithIdentity;
use super::schema::refresh_tokens as r;
use super::schema::{accounts as a, token_revocations as t};
use super::{DbConnection, StoreError, now_unix};
use crate::domain::account::AccountState;

/// Revokes everything of the account issued at or before `at_ms`: access
/// tokens and SSO sessions (refused at use, [`access_token_stands`],
/// [`session_stands`]) and every live refresh token of every family (marked
/// revoked here). Call it after `audit::append` in the same transaction: the
/// audit head's lock then orders concurrent revocations, so the insert
/// cannot race.
pub fn revoke_all(conn: &mut DbConnection, account_id: &str, at_ms: i64) -> Result<(), StoreError> {
    let updated = diesel::update(t::table.filter(t::account_id.eq(account_id)))
        .set(t::revoked_at_ms.eq(at_ms))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(t::table)
            .values((t::account_id.eq(account_id), t::revoked_at_ms.eq(at_ms)))
            .execute(conn)?;
    }
    diesel::update(r::table.filter(r::account_id.eq(account_id).and(r::revoked_at.is_null())))
        .set(r::revoked_at.eq(now_unix()))
        .execute(conn)?;
    Ok(())
}

/// When the account's tokens were last revoked (unix ms), if ever. A
/// primary-key read.
pub fn revoked_at(conn: &mut DbConnection, account_id: &str) -> Result<Option<i64>, StoreError> {
    Ok(t::table
        .filter(t::account_id.eq(account_id))
        .select(t::revoked_at_ms)
        .first(conn)
        .optional()?)
}

/// The account's state and its last revocation (unix ms), in one read by
/// primary key; `None` when the account does not exist.
fn state_and_revocation(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<Option<(AccountState, Option<i64>)>, StoreError> {
    Ok(a::table
        .left_join(t::table)
        .filter(a::id.eq(account_id))
        .select((a::state, t::revoked_at_ms.nullable()))
        .first(conn)
        .optional()?)
}

/// The account, its identity and its document's expiry (as
/// [`super::accounts::with_identity`]) and its last revocation (unix ms), in
/// one read by primary key; `None` when the account does not exist.
fn with_identity_and_revocation(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<Option<(WithIdentity, Option<i64>)>, StoreError> {
    use super::schema::{documents as doc, identities as i};
    let found: Option<(_, _, _, Option<i64>)> = a::table
        .left_join(i::table)
        .left_join(doc::table)
        .left_join(t::table)
        .filter(a::id.eq(account_id))
        .select((
            a::all_columns,
            i::all_columns.nullable(),
            doc::expires_on.nullable(),
            t::revoked_at_ms.nullable(),
        ))
        .first(conn)
        .optional()?;
    Ok(found
        .map(|(account, identity, expires_on, revoked)| ((account, identity, expires_on), revoked)))
}

/// Whether something of the account made at `made_at_ms` still stands: the
/// account exists, is not suspended, and nothing was revoked at or after.
fn stands(found: Option<(AccountState, Option<i64>)>, made_at_ms: i64) -> bool {
    match found {
        None | Some((AccountState::Suspended, _)) => false,
        Some((_, revoked)) => revoked.is_none_or(|at| made_at_ms > at),
    }
}

/// The account with its identity if what was made at `made_at_ms` still
/// stands on it (rule of [`stands`]), from one read.
fn standing_with_identity(
    conn: &mut DbConnection,
    account_id: &str,
    made_at_ms: i64,
) -> Result<Option<WithIdentity>, StoreError> {
    let found = with_identity_and_revocation(conn, account_id)?;
    let rule = found.as_ref().map(|(p, revoked)| (p.0.state, *revoked));
    Ok(found.filter(|_| stands(rule, made_at_ms)).map(|(p, _)| p))
}

/// Whether an SSO session of `account_id` created at `created_at_ms` still
/// counts (same rule as access tokens): one read by primary key.
pub fn session_stands(
    conn: &mut DbConnection,
    account_id: &str,
    created_at_ms: i64,
) -> Result<bool, StoreError> {
    Ok(stands(
        state_and_revocation(conn, account_id)?,
        created_at_ms,
    ))
}

/// Whether an access token of `account_id` issued at `issued_at_ms` (with the
/// refresh-token `family`, if any) still stands: the account exists and is
/// not suspended, its tokens were not revoked since, and the family was not
/// revoked. One primary-key read (plus one on the family index).
pub fn access_token_stands(
    conn: &mut DbConnection,
    account_id: &str,
    issued_at_ms: i64,
    family: Option<&str>,
) -> Result<bool, StoreError> {
    if !stands(state_and_revocation(conn, account_id)?, issued_at_ms) {
        return Ok(false);
    }
    Ok(!family_revoked(conn, family)?)
}

/// The account with its identity, for an access token that still stands
/// (the rule of [`access_token_stands`]): the check and the read userinfo's
/// claims need in one read by primary key (plus the family's, if any).
/// `None` when the token no longer stands.
pub fn access_token_standing(
    conn: &mut DbConnection,
    account_id: &str,
    issued_at_ms: i64,
    family: Option<&str>,
) -> Result<Option<WithIdentity>, StoreError> {
    let Some(person) = standing_with_identity(conn, account_id, issued_at_ms)? else {
        return Ok(None);
    };
    Ok((!family_revoked(conn, family)?).then_some(person))
}

/// Whether the refresh-token family (if any) was revoked: one read on the
/// family index.
fn family_revoked(conn: &mut DbConnection, family: Option<&str>) -> Result<bool, StoreError> {
    let Some(family) = family else {
        return Ok(false);
    };
    let revoked: i64 = r::table
        .filter(r::family_id.eq(family).and(r::revoked_at.is_not_null()))
        .count()
        .get_result(conn)?;
    Ok(revoked > 0)
}

/// The account with its identity, for a grant (a code or a refresh token)
/// of `account_id` whose authentication happened at `auth_time` (unix
/// seconds), if it may go on: the account exists, is not suspended, and was
/// not revoked after that authentication. The check and the read the
/// tokens' claims need are one read by primary key; `None` when the grant
/// no longer stands (a code redeemed after the revocation, too). The
/// refresh token itself was marked revoked by [`revoke_all`]; this also
/// catches a token stored by a grant that raced the revocation. `auth_time` has second precision, so an authentication
/// in the very second of the revocation is given the benefit of the doubt
/// (a later one is needed to get a grant at all after the revocation).
pub fn grant_standing(
    conn: &mut DbConnection,
    account_id: &str,
    auth_time: i64,
) -> Result<Option<WithIdentity>, StoreError> {
    standing_with_identity(conn, account_id, last_ms_of_second(auth_time))
}

fn last_ms_of_second(unix_secs: i64) -> i64 {
    unix_secs.saturating_mul(1000).saturating_add(999)
}
