//! Rows of `vapid_keys` and `push_subscriptions` (Web Push, see `push/`).
//! The VAPID private key column is ciphertext; this module never sees a
//! plaintext key.

use diesel::prelude::*;

use super::schema::devices as d;
use super::schema::push_subscriptions as ps;
use super::schema::vapid_keys as vk;
use super::{DbConnection, StoreError, now_unix};
use crate::domain::key_state::KeyState;

#[derive(Debug, Clone, Queryable)]
pub struct VapidKeyRow {
    pub kid: String,
    pub state: KeyState,
    /// base64url of the uncompressed P-256 point (what the app passes as
    /// `applicationServerKey`).
    pub public_key: String,
    pub private_key: Vec<u8>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

pub struct NewVapidKey<'a> {
    pub kid: &'a str,
    pub public_key: &'a str,
    pub private_key: &'a [u8],
}

/// Inserts a new active key; a concurrent insert of another active key
/// fails on the `vapid_keys_one_active` index (a unique violation).
pub fn insert_active(conn: &mut DbConnection, key: &NewVapidKey<'_>) -> Result<(), StoreError> {
    diesel::insert_into(vk::table)
        .values((
            vk::kid.eq(key.kid),
            vk::state.eq(KeyState::Active),
            vk::public_key.eq(key.public_key),
            vk::private_key.eq(key.private_key),
            vk::created_at.eq(now_unix()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Retires the active key (if any); returns its kid.
pub fn retire_active(conn: &mut DbConnection) -> Result<Option<String>, StoreError> {
    let current: Option<String> = vk::table
        .filter(vk::state.eq(KeyState::Active))
        .select(vk::kid)
        .first(conn)
        .optional()?;
    if let Some(kid) = &current {
        diesel::update(vk::table.filter(vk::kid.eq(kid)))
            .set((
                vk::state.eq(KeyState::Retired),
                vk::retired_at.eq(now_unix()),
            ))
            .execute(conn)?;
    }
    Ok(current)
}

/// Every key, the active one first, then newest first.
pub fn all_keys(conn: &mut DbConnection) -> Result<Vec<VapidKeyRow>, StoreError> {
    let mut rows: Vec<VapidKeyRow> = vk::table.order(vk::created_at.desc()).load(conn)?;
    rows.sort_by_key(|r| r.state != KeyState::Active);
    Ok(rows)
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct SubscriptionRow {
    pub device_id: String,
    pub account_id: String,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub vapid_kid: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub struct NewSubscription<'a> {
    pub device_id: &'a str,
    pub account_id: &'a str,
    pub endpoint: &'a str,
    pub p256dh: &'a str,
    pub auth: &'a str,
    pub vapid_kid: &'a str,
}

/// Stores the device's subscription, replacing the one it had.
pub fn replace(conn: &mut DbConnection, sub: &NewSubscription<'_>) -> Result<(), StoreError> {
    let now = now_unix();
    let created_at: Option<i64> = ps::table
        .filter(ps::device_id.eq(sub.device_id))
        .select(ps::created_at)
        .first(conn)
        .optional()?;
    diesel::delete(ps::table.filter(ps::device_id.eq(sub.device_id))).execute(conn)?;
    diesel::insert_into(ps::table)
        .values((
            ps::device_id.eq(sub.device_id),
            ps::account_id.eq(sub.account_id),
            ps::endpoint.eq(sub.endpoint),
            ps::p256dh.eq(sub.p256dh),
            ps::auth.eq(sub.auth),
            ps::vapid_kid.eq(sub.vapid_kid),
            ps::created_at.eq(created_at.unwrap_or(now)),
            ps::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes the device's subscription; true if it had one.
pub fn delete(conn: &mut DbConnection, device_id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(ps::table.filter(ps::device_id.eq(device_id))).execute(conn)? > 0)
}

/// Deletes the subscription of `device_id` only if it still points at
/// `endpoint` (a push service said it is gone; a renewal since then stays).
pub fn delete_endpoint(
    conn: &mut DbConnection,
    device_id: &str,
    endpoint: &str,
) -> Result<bool, StoreError> {
    Ok(
        diesel::delete(
            ps::table.filter(ps::device_id.eq(device_id).and(ps::endpoint.eq(endpoint))),
        )
        .execute(conn)?
            > 0,
    )
}

/// Deletes the subscriptions of the account's devices in `state` (used when
/// they are revoked together).
pub fn delete_for_devices_in_state(
    conn: &mut DbConnection,
    account_id: &str,
    state: crate::domain::device::DeviceState,
) -> Result<usize, StoreError> {
    let ids: Vec<String> = d::table
        .filter(d::account_id.eq(account_id).and(d::state.eq(state)))
        .select(d::id)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::delete(ps::table.filter(ps::device_id.eq_any(ids))).execute(conn)?)
}

/// The subscriptions of the account's devices that are not revoked; with
/// `active_only`, of its active devices only (a login request goes to
/// devices that can approve; a security alert to locked ones too).
pub fn of_account(
    conn: &mut DbConnection,
    account_id: &str,
    active_only: bool,
) -> Result<Vec<SubscriptionRow>, StoreError> {
    use crate::domain::device::DeviceState;
    let states: &[DeviceState] = if active_only {
        &[DeviceState::Active]
    } else {
        &[DeviceState::Active, DeviceState::Locked]
    };
    Ok(ps::table
        .inner_join(d::table.on(d::id.eq(ps::device_id)))
        .filter(ps::account_id.eq(account_id))
        .filter(d::state.eq_any(states))
        .select(ps::all_columns)
        .order(ps::device_id.asc())
        .load(conn)?)
}

/// The ids of the account's devices that have a subscription.
pub fn subscribed_devices(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(ps::table
        .filter(ps::account_id.eq(account_id))
        .select(ps::device_id)
        .load(conn)?)
}

pub fn count(conn: &mut DbConnection) -> Result<i64, StoreError> {
    Ok(ps::table.count().get_result(conn)?)
}
