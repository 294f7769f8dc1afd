//! Erasing a citizen's personal data (deletion on request, purge of an
//! abandoned enrolment) and the retention purges (`citizen::retention`).
//! Every function runs in the caller's `Db::write` transaction, next to the
//! one audit entry that records it; `audit_log` itself is never touched
//! (its entries name accounts only by their random ids, docs/ARCHITECTURE.md,
//! "Erasure and the audit chain").

use diesel::prelude::*;

use super::schema::{
    accounts as a, activation_codes as ac, consents as c, devices as d, documents as doc,
    identities as i, push_subscriptions as ps, refresh_tokens as r, review_media as m,
    token_revocations as t, verification_requests as v,
};
use super::{DbConnection, StoreError};
use crate::domain::account::{AccountState, RequestStatus};

/// What an erasure removed, by kind (counts only: no personal data).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Erased {
    pub devices: usize,
    pub push_subscriptions: usize,
    pub verification_requests: usize,
    pub media: usize,
    pub consents: usize,
    pub refresh_tokens: usize,
    pub connection_history: usize,
}

/// Deletes the account and everything personal bound to it: identity,
/// document, verification requests and their media, devices and their push
/// subscriptions, consents, refresh tokens, activation code, revocation
/// marker, connection history. The account id stays only in the audit log.
/// `None` if there was no such account (nothing deleted). The email
/// address is free for a new enrolment once the transaction commits.
pub fn erase_account(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<Option<Erased>, StoreError> {
    let exists: i64 = a::table
        .filter(a::id.eq(account_id))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        return Ok(None);
    }
    let requests: Vec<String> = v::table
        .filter(v::account_id.eq(account_id))
        .select(v::id)
        .load(conn)?;
    let devices: Vec<String> = d::table
        .filter(d::account_id.eq(account_id))
        .select(d::id)
        .load(conn)?;
    let erased = Erased {
        push_subscriptions: diesel::delete(
            ps::table.filter(
                ps::account_id
                    .eq(account_id)
                    .or(ps::device_id.eq_any(&devices)),
            ),
        )
        .execute(conn)?,
        media: diesel::delete(m::table.filter(m::request_id.eq_any(&requests))).execute(conn)?,
        verification_requests: diesel::delete(v::table.filter(v::account_id.eq(account_id)))
            .execute(conn)?,
        devices: diesel::delete(d::table.filter(d::account_id.eq(account_id))).execute(conn)?,
        consents: diesel::delete(c::table.filter(c::account_id.eq(account_id))).execute(conn)?,
        refresh_tokens: diesel::delete(r::table.filter(r::account_id.eq(account_id)))
            .execute(conn)?,
        connection_history: erase_connection_history(conn, account_id)?,
    };
    diesel::delete(doc::table.filter(doc::account_id.eq(account_id))).execute(conn)?;
    diesel::delete(i::table.filter(i::account_id.eq(account_id))).execute(conn)?;
    diesel::delete(ac::table.filter(ac::account_id.eq(account_id))).execute(conn)?;
    diesel::delete(t::table.filter(t::account_id.eq(account_id))).execute(conn)?;
    diesel::delete(a::table.filter(a::id.eq(account_id))).execute(conn)?;
    Ok(Some(erased))
}

/// The account's login records (`login_history`; its foreign key cascades
/// too, but the count is reported).
fn erase_connection_history(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<usize, StoreError> {
    super::login_history::delete_of_account(conn, account_id)
}

/// Login records older than `before` (unix seconds), deleted; their count.
pub fn purge_connection_history(conn: &mut DbConnection, before: i64) -> Result<usize, StoreError> {
    super::login_history::delete_before(conn, before.saturating_mul(1000))
}

/// Deletes the photos and videos of verification requests decided before
/// `before` (unix seconds); returns how many media were deleted. The
/// request rows stay (status, dates, reason) with the account.
pub fn purge_decided_media(conn: &mut DbConnection, before: i64) -> Result<usize, StoreError> {
    let decided: Vec<String> = v::table
        .filter(v::decided_at.lt(before))
        .filter(v::status.ne_all([RequestStatus::Collecting, RequestStatus::Pending]))
        .select(v::id)
        .load(conn)?;
    if decided.is_empty() {
        return Ok(0);
    }
    Ok(diesel::delete(m::table.filter(m::request_id.eq_any(&decided))).execute(conn)?)
}

/// States of an enrolment that never reached a verified identity.
fn unverified() -> [&'static str; 6] {
    use crate::domain::account::VerificationMethod::{FaceToFace, Remote};
    [
        AccountState::EmailVerified,
        AccountState::PhoneVerified,
        AccountState::IdentitySubmitted,
        AccountState::AwaitingVerification(FaceToFace),
        AccountState::AwaitingVerification(Remote),
        AccountState::Rejected,
    ]
    .map(AccountState::as_str)
}

/// Accounts never verified with no activity since `before` (unix
/// seconds): the account unchanged since, and no verification request
/// created, submitted or decided since, nor one still open at `now`.
/// `only`: just this account, if it is one (checked again in the
/// transaction that erases it).
pub fn abandoned_enrolments(
    conn: &mut DbConnection,
    before: i64,
    now: i64,
    only: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    let mut query = a::table
        .filter(a::state.eq_any(unverified()))
        .filter(a::updated_at.lt(before))
        .select(a::id)
        .into_boxed();
    if let Some(id) = only {
        query = query.filter(a::id.eq(id));
    }
    let candidates: Vec<String> = query.load(conn)?;
    if candidates.is_empty() {
        return Ok(candidates);
    }
    let open = [RequestStatus::Collecting, RequestStatus::Pending];
    let active: Vec<String> = v::table
        .filter(v::account_id.eq_any(&candidates))
        .filter(
            v::created_at
                .ge(before)
                .or(v::submitted_at.ge(before))
                .or(v::decided_at.ge(before))
                .or(v::status.eq_any(open).and(v::expires_at.gt(now))),
        )
        .select(v::account_id)
        .load(conn)?;
    Ok(candidates
        .into_iter()
        .filter(|id| !active.contains(id))
        .collect())
}

/// Deletes refresh tokens that expired before `before` (unix seconds);
/// their count. A token past its expiry is refused anyway: the row only
/// kept which account used which client.
pub fn purge_expired_refresh_tokens(
    conn: &mut DbConnection,
    before: i64,
) -> Result<usize, StoreError> {
    Ok(diesel::delete(r::table.filter(r::expires_at.lt(before))).execute(conn)?)
}
