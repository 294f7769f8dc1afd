//! Rows of `devices`: activated authenticator apps.
//!
//! The PIN and number failure counters change only through conditional updates, so that
//! concurrent decisions on any replica serialise on the row: a wrong PIN is
//! counted before anything else happens, and no attempt can be evaluated
//! once the device is locked.

use diesel::prelude::*;

use super::schema::devices as d;
use super::{DbConnection, StoreError, now_unix};
use crate::domain::device::{DeviceState, LockReason};

/// Wrong PINs in a row that lock a device (DESIGN §7).
pub const MAX_PIN_FAILURES: i32 = 3;
/// Wrong numbers chosen in a row that lock a device, counted apart from
/// wrong PINs (DESIGN §7).
pub const MAX_NUMBER_FAILURES: i32 = 3;

#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub struct DeviceRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    #[serde(skip)]
    pub public_jwk: String,
    #[serde(skip)]
    pub pin_verifier: String,
    pub pin_failures: i32,
    pub state: DeviceState,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub number_failures: i32,
}

impl DeviceRow {
    /// What locked it (meaningful for a locked device).
    pub fn lock_reason(&self) -> LockReason {
        LockReason::of_counts(self.number_failures, MAX_NUMBER_FAILURES)
    }
}

pub struct NewDevice<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub name: &'a str,
    pub public_jwk: &'a str,
    pub pin_verifier: &'a str,
}

pub fn insert(conn: &mut DbConnection, device: &NewDevice<'_>) -> Result<(), StoreError> {
    insert_many(conn, std::slice::from_ref(device))
}

/// Inserts active devices in one statement (bulk loads; keep slices to a
/// few thousand rows, see `accounts::insert_many`).
pub fn insert_many(conn: &mut DbConnection, devices: &[NewDevice<'_>]) -> Result<(), StoreError> {
    if devices.is_empty() {
        return Ok(());
    }
    let now = now_unix();
    let rows: Vec<_> = devices
        .iter()
        .map(|device| {
            (
                d::id.eq(device.id),
                d::account_id.eq(device.account_id),
                d::name.eq(device.name),
                d::public_jwk.eq(device.public_jwk),
                d::pin_verifier.eq(device.pin_verifier),
                d::pin_failures.eq(0),
                d::number_failures.eq(0),
                d::state.eq(DeviceState::Active),
                d::created_at.eq(now),
            )
        })
        .collect();
    insert_rows!(conn, d::table, rows);
    Ok(())
}

pub fn by_id(conn: &mut DbConnection, id: &str) -> Result<Option<DeviceRow>, StoreError> {
    Ok(d::table.filter(d::id.eq(id)).first(conn).optional()?)
}

/// The account's devices, oldest first.
pub fn of_account(conn: &mut DbConnection, account_id: &str) -> Result<Vec<DeviceRow>, StoreError> {
    Ok(d::table
        .filter(d::account_id.eq(account_id))
        .order(d::created_at.asc())
        .then_order_by(d::id.asc())
        .load(conn)?)
}

/// Counts one wrong PIN on an active device that is not locked yet; returns
/// the new count, or `None` when the device is no longer active.
pub fn count_pin_failure(conn: &mut DbConnection, id: &str) -> Result<Option<i32>, StoreError> {
    let updated = diesel::update(
        d::table.filter(
            d::id
                .eq(id)
                .and(d::state.eq(DeviceState::Active))
                .and(d::pin_failures.lt(MAX_PIN_FAILURES)),
        ),
    )
    .set(d::pin_failures.eq(d::pin_failures + 1))
    .execute(conn)?;
    if updated == 0 {
        return Ok(None);
    }
    Ok(Some(
        d::table
            .filter(d::id.eq(id))
            .select(d::pin_failures)
            .first(conn)?,
    ))
}

/// Counts one wrong number chosen on an active device (apart from wrong
/// PINs); returns the new count, or `None` when the device is no longer
/// active.
pub fn count_number_failure(conn: &mut DbConnection, id: &str) -> Result<Option<i32>, StoreError> {
    let updated = diesel::update(
        d::table.filter(
            d::id
                .eq(id)
                .and(d::state.eq(DeviceState::Active))
                .and(d::number_failures.lt(MAX_NUMBER_FAILURES)),
        ),
    )
    .set(d::number_failures.eq(d::number_failures + 1))
    .execute(conn)?;
    if updated == 0 {
        return Ok(None);
    }
    Ok(Some(
        d::table
            .filter(d::id.eq(id))
            .select(d::number_failures)
            .first(conn)?,
    ))
}

/// A right number and PIN: resets both counts if the device is still active
/// and unlocked. False when the device was locked or revoked meanwhile.
pub fn pin_success(conn: &mut DbConnection, id: &str) -> Result<bool, StoreError> {
    let updated = diesel::update(
        d::table.filter(
            d::id
                .eq(id)
                .and(d::state.eq(DeviceState::Active))
                .and(d::pin_failures.lt(MAX_PIN_FAILURES))
                .and(d::number_failures.lt(MAX_NUMBER_FAILURES)),
        ),
    )
    .set((
        d::pin_failures.eq(0),
        d::number_failures.eq(0),
        d::last_used_at.eq(Some(now_unix())),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Whether the phone number (E.164) belongs to an account whose app is
/// locked (`device_locked`: no device may approve until a new activation),
/// and what locked it (its newest locked device's counts). `None` when no
/// such account: the phone login then waits as for an unknown number.
pub fn lock_of_phone(
    conn: &mut DbConnection,
    phone: &str,
) -> Result<Option<LockReason>, StoreError> {
    use super::schema::accounts as a;
    use crate::domain::account::AccountState;
    let account: Option<String> = a::table
        .filter(a::phone.eq(phone))
        .filter(a::state.eq(AccountState::DeviceLocked))
        .order(a::created_at.asc())
        .select(a::id)
        .first(conn)
        .optional()?;
    let Some(account) = account else {
        return Ok(None);
    };
    let numbers: Option<i32> = d::table
        .filter(d::account_id.eq(&account))
        .filter(d::state.eq(DeviceState::Locked))
        .order(d::created_at.desc())
        .select(d::number_failures)
        .first(conn)
        .optional()?;
    Ok(Some(numbers.map_or(LockReason::WrongPins, |n| {
        LockReason::of_counts(n, MAX_NUMBER_FAILURES)
    })))
}

/// Locks an active device; true if it was active.
pub fn lock(conn: &mut DbConnection, id: &str) -> Result<bool, StoreError> {
    let updated =
        diesel::update(d::table.filter(d::id.eq(id).and(d::state.eq(DeviceState::Active))))
            .set(d::state.eq(DeviceState::Locked))
            .execute(conn)?;
    Ok(updated == 1)
}

/// Revokes one of the account's devices; true if it was not revoked already.
pub fn revoke(conn: &mut DbConnection, account_id: &str, id: &str) -> Result<bool, StoreError> {
    let updated = diesel::update(
        d::table.filter(
            d::id
                .eq(id)
                .and(d::account_id.eq(account_id))
                .and(d::state.ne(DeviceState::Revoked)),
        ),
    )
    .set((
        d::state.eq(DeviceState::Revoked),
        d::revoked_at.eq(Some(now_unix())),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Revokes the account's locked devices (re-activation replaces them).
pub fn revoke_locked(conn: &mut DbConnection, account_id: &str) -> Result<usize, StoreError> {
    Ok(diesel::update(
        d::table.filter(
            d::account_id
                .eq(account_id)
                .and(d::state.eq(DeviceState::Locked)),
        ),
    )
    .set((
        d::state.eq(DeviceState::Revoked),
        d::revoked_at.eq(Some(now_unix())),
    ))
    .execute(conn)?)
}

/// Renames one of the account's devices that is not revoked.
pub fn rename(
    conn: &mut DbConnection,
    account_id: &str,
    id: &str,
    name: &str,
) -> Result<bool, StoreError> {
    let updated = diesel::update(
        d::table.filter(
            d::id
                .eq(id)
                .and(d::account_id.eq(account_id))
                .and(d::state.ne(DeviceState::Revoked)),
        ),
    )
    .set(d::name.eq(name))
    .execute(conn)?;
    Ok(updated == 1)
}

/// The durable bound on accepted request `iat`s (see `device::request`).
pub fn request_lease(conn: &mut DbConnection) -> Result<i64, StoreError> {
    use super::schema::device_request_lease as l;
    Ok(l::table
        .filter(l::id.eq(1))
        .select(l::lease_until)
        .first::<i64>(conn)
        .optional()?
        .unwrap_or(0))
}

/// Raises the durable bound to `until` (never lowers it). Not audited: it is
/// a clock bound of the replay guard, not a change of anyone's state.
pub fn extend_request_lease(conn: &mut DbConnection, until: i64) -> Result<(), StoreError> {
    use super::schema::device_request_lease as l;
    diesel::update(l::table.filter(l::id.eq(1).and(l::lease_until.lt(until))))
        .set(l::lease_until.eq(until))
        .execute(conn)?;
    Ok(())
}
