//! Rows of `signing_keys`. The private key column is ciphertext; this module
//! never sees a plaintext key.

use diesel::prelude::*;

use super::schema::signing_keys as sk;
use super::{DbConnection, StoreError, now_unix};
use crate::domain::key_state::KeyState;

#[derive(Debug, Clone, Queryable)]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub state: KeyState,
    pub public_jwk: String,
    pub private_key: Vec<u8>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub publish_until: Option<i64>,
}

pub struct NewSigningKey<'a> {
    pub kid: &'a str,
    pub alg: &'a str,
    pub public_jwk: &'a str,
    pub private_key: &'a [u8],
}

pub fn insert_active(conn: &mut DbConnection, key: &NewSigningKey<'_>) -> Result<(), StoreError> {
    diesel::insert_into(sk::table)
        .values((
            sk::kid.eq(key.kid),
            sk::alg.eq(key.alg),
            sk::state.eq(KeyState::Active),
            sk::public_jwk.eq(key.public_jwk),
            sk::private_key.eq(key.private_key),
            sk::created_at.eq(now_unix()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Moves the active key of `alg` (if any) to `retiring`, published until
/// `publish_until`. Returns its kid.
pub fn retire_active(
    conn: &mut DbConnection,
    alg: &str,
    publish_until: i64,
) -> Result<Option<String>, StoreError> {
    let current: Option<String> = sk::table
        .filter(sk::alg.eq(alg).and(sk::state.eq(KeyState::Active)))
        .select(sk::kid)
        .first(conn)
        .optional()?;
    if let Some(kid) = &current {
        diesel::update(sk::table.filter(sk::kid.eq(kid)))
            .set((
                sk::state.eq(KeyState::Retiring),
                sk::retired_at.eq(now_unix()),
                sk::publish_until.eq(publish_until),
            ))
            .execute(conn)?;
    }
    Ok(current)
}

/// Marks retiring keys whose publication window has passed as retired.
pub fn expire_retiring(conn: &mut DbConnection, now: i64) -> Result<usize, StoreError> {
    Ok(diesel::update(
        sk::table.filter(
            sk::state
                .eq(KeyState::Retiring)
                .and(sk::publish_until.lt(now)),
        ),
    )
    .set(sk::state.eq(KeyState::Retired))
    .execute(conn)?)
}

/// Active keys and retiring keys still in their publication window.
pub fn published(conn: &mut DbConnection, now: i64) -> Result<Vec<SigningKeyRow>, StoreError> {
    Ok(sk::table
        .filter(
            sk::state.eq(KeyState::Active).or(sk::state
                .eq(KeyState::Retiring)
                .and(sk::publish_until.ge(now))),
        )
        .order((sk::alg.asc(), sk::created_at.desc()))
        .load(conn)?)
}

pub fn all(conn: &mut DbConnection) -> Result<Vec<SigningKeyRow>, StoreError> {
    Ok(sk::table
        .order((sk::alg.asc(), sk::created_at.desc()))
        .load(conn)?)
}

pub fn count(conn: &mut DbConnection) -> Result<i64, StoreError> {
    Ok(sk::table.count().get_result(conn)?)
}
