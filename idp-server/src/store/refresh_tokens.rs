//! Refresh tokens (hashed). A family is the chain of tokens rotated from one
//! authorization; presenting a token that was already used revokes the family.

use diesel::prelude::*;

use super::schema::refresh_tokens as r;
use super::{DbConnection, StoreError, now_unix};

#[derive(Debug, Clone, Queryable)]
pub struct RefreshTokenRow {
    pub token_hash: String,
    pub family_id: String,
    pub account_id: String,
    pub client_id: String,
    pub grant_data: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub struct NewRefreshToken<'a> {
    pub token_hash: &'a str,
    pub family_id: &'a str,
    pub account_id: &'a str,
    pub client_id: &'a str,
    pub grant_data: &'a str,
    pub expires_at: i64,
}

pub fn insert(conn: &mut DbConnection, token: &NewRefreshToken<'_>) -> Result<(), StoreError> {
    diesel::insert_into(r::table)
        .values((
            r::token_hash.eq(token.token_hash),
            r::family_id.eq(token.family_id),
            r::account_id.eq(token.account_id),
            r::client_id.eq(token.client_id),
            r::grant_data.eq(token.grant_data),
            r::created_at.eq(now_unix()),
            r::expires_at.eq(token.expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn get(
    conn: &mut DbConnection,
    token_hash: &str,
) -> Result<Option<RefreshTokenRow>, StoreError> {
    Ok(r::table
        .filter(r::token_hash.eq(token_hash))
        .first(conn)
        .optional()?)
}

/// Marks the token used if it was not yet; false if someone used it first.
pub fn mark_used(conn: &mut DbConnection, token_hash: &str) -> Result<bool, StoreError> {
    let n = diesel::update(r::table.filter(r::token_hash.eq(token_hash).and(r::used_at.is_null())))
        .set(r::used_at.eq(now_unix()))
        .execute(conn)?;
    Ok(n == 1)
}

/// Revokes every token of a family; returns how many were still live.
pub fn revoke_family(conn: &mut DbConnection, family_id: &str) -> Result<usize, StoreError> {
    Ok(
        diesel::update(r::table.filter(r::family_id.eq(family_id).and(r::revoked_at.is_null())))
            .set(r::revoked_at.eq(now_unix()))
            .execute(conn)?,
    )
}
