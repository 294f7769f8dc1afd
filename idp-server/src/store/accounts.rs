//! Accounts and identities, as the login and claims need them, and
//! [`transition`]: the one path by which an account changes state.

use diesel::prelude::*;

use super::audit::{self, AuditEvent};
use super::push::SubscriptionRow;
use super::schema::{accounts as a, identities as i};
use super::{DbConnection, StoreError, now_unix};
use crate::domain::account::{AccountEvent, AccountState, IllegalRestore, IllegalTransition};

/// What moves an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// An arrow of the state machine ([`AccountState::apply`]).
    Event(AccountEvent),
    /// Back from `suspended` to the state recorded by the suspension
    /// ([`AccountState::restore_from_suspension`]).
    LiftSuspension { to: AccountState },
}

/// A transition that happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    pub from: AccountState,
    pub to: AccountState,
}

/// Why a transition did not happen (nothing was written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The domain rules do not allow the change from the current state.
    Illegal { current: AccountState, why: Illegal },
    /// Another transaction moved the account between the read and the
    /// conditional update.
    Raced { current: AccountState },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Illegal {
    #[error(transparent)]
    Transition(#[from] IllegalTransition),
    #[error(transparent)]
    Restore(#[from] IllegalRestore),
}

/// The audit entry of a transition; its subject is the account.
#[derive(Debug, Clone)]
pub struct Entry {
    pub actor: String,
    pub action: &'static str,
    pub details: serde_json::Value,
}

impl Entry {
    /// Appends this entry to the audit log, about `account_id`.
    pub fn append(self, conn: &mut DbConnection, account_id: &str) -> Result<(), StoreError> {
        audit::append(
            conn,
            &AuditEvent {
                actor: &self.actor,
                action: self.action,
                subject: account_id,
                details: self.details,
            },
        )
        .map(drop)
    }
}

/// The current state of an account; a missing account or an unknown state
/// is corrupt data.
pub fn state(conn: &mut DbConnection, account_id: &str) -> Result<AccountState, StoreError> {
    a::table
        .filter(a::id.eq(account_id))
        .select(a::state)
        .first::<AccountState>(conn)
        .optional()?
        .ok_or_else(|| StoreError::Corrupt(format!("account {account_id} vanished")))
}

/// Moves an account, the only way states change: reads the state, applies
/// the domain rule, moves it by `UPDATE … WHERE state = <read>` (so two
/// racing transactions cannot both move it), then runs `audit`, which may
/// write what goes with the change and returns the one audit entry appended
/// for it. Call it inside a `Db::write` transaction; an error from `audit`
/// rolls everything back.
pub fn transition(
    conn: &mut DbConnection,
    account_id: &str,
    change: Change,
    audit: impl FnOnce(&mut DbConnection, Moved) -> Result<Entry, StoreError>,
) -> Result<Result<Moved, Refused>, StoreError> {
    let current = state(conn, account_id)?;
    let next = match change {
        Change::Event(event) => current.apply(event).map_err(Illegal::from),
        Change::LiftSuspension { to } => current.restore_from_suspension(to).map_err(Illegal::from),
    };
    let to = match next {
        Ok(to) => to,
        Err(why) => return Ok(Err(Refused::Illegal { current, why })),
    };
    let moved =
        diesel::update(a::table.filter(a::id.eq(account_id).and(a::state.eq(current.as_str()))))
            .set((a::state.eq(to.as_str()), a::updated_at.eq(now_unix())))
            .execute(conn)?;
    if moved != 1 {
        return Ok(Err(Refused::Raced { current }));
    }
    let moved = Moved { from: current, to };
    audit(conn, moved)?.append(conn, account_id)?;
    Ok(Ok(moved))
}

#[derive(Debug, Clone, Queryable)]
pub struct AccountRow {
    pub id: String,
    pub state: AccountState,
    pub email: String,
    pub password_hash: Option<String>,
    pub phone: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Queryable, Insertable, serde::Serialize)]
#[diesel(table_name = super::schema::identities)]
pub struct IdentityRow {
    pub account_id: String,
    pub given_name: String,
    pub family_name: String,
    pub preferred_username: Option<String>,
    pub birthdate: String,
    pub gender: String,
    pub birthplace: String,
    pub birthcountry: String,
    pub verified_at: Option<i64>,
    pub verification_method: Option<crate::domain::account::VerificationMethod>,
}

pub fn by_email(conn: &mut DbConnection, email: &str) -> Result<Option<AccountRow>, StoreError> {
    Ok(a::table.filter(a::email.eq(email)).first(conn).optional()?)
}

/// Replaces the account's email address (`citizen::contact`); false when
/// the account is gone. The column is unique: an address taken meanwhile
/// is a store error, nothing written.
pub fn set_email(conn: &mut DbConnection, id: &str, email: &str) -> Result<bool, StoreError> {
    let updated = diesel::update(a::table.filter(a::id.eq(id)))
        .set((a::email.eq(email), a::updated_at.eq(now_unix())))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Accounts using this phone number (E.164); several only if some have not
/// verified it yet.
pub fn by_phone(conn: &mut DbConnection, phone: &str) -> Result<Vec<AccountRow>, StoreError> {
    Ok(a::table
        .filter(a::phone.eq(phone))
        .order(a::created_at.asc())
        .load(conn)?)
}

pub fn by_id(conn: &mut DbConnection, id: &str) -> Result<Option<AccountRow>, StoreError> {
    Ok(a::table.filter(a::id.eq(id)).first(conn).optional()?)
}

/// An account, its identity if declared, and its document's last day of
/// validity (`YYYY-MM-DD`) if it has one.
pub type WithIdentity = (AccountRow, Option<IdentityRow>, Option<String>);

/// The account, its identity and its document's expiry, in one query.
pub fn with_identity(
    conn: &mut DbConnection,
    id: &str,
) -> Result<Option<WithIdentity>, StoreError> {
    use super::schema::documents as doc;
    Ok(a::table
        .left_join(i::table)
        .left_join(doc::table)
        .filter(a::id.eq(id))
        .select((
            a::all_columns,
            i::all_columns.nullable(),
            doc::expires_on.nullable(),
        ))
        .first(conn)
        .optional()?)
}

/// The oldest active account of this phone number (E.164) that has an active
/// device, in one query: the account a phone login asks to approve, with the
/// push subscriptions of its active devices (as
/// [`super::push::of_account`] with `active_only`), read in the same query.
pub fn approver_by_phone(
    conn: &mut DbConnection,
    phone: &str,
) -> Result<Option<Approver>, StoreError> {
    use super::schema::devices as d;
    use super::schema::documents as doc;
    use super::schema::push_subscriptions as ps;
    // One row per active device of each candidate account, oldest account
    // first, its subscription if any.
    let rows: Vec<(String, Option<String>, Option<SubscriptionRow>)> = a::table
        .inner_join(d::table.on(d::account_id.eq(a::id)))
        .left_join(doc::table)
        .left_join(ps::table.on(ps::device_id.eq(d::id).and(ps::account_id.eq(a::id))))
        .filter(a::phone.eq(phone))
        .filter(a::state.eq(AccountState::Active))
        .filter(d::state.eq(crate::domain::device::DeviceState::Active))
        .order((a::created_at.asc(), a::id.asc(), d::id.asc()))
        .select((
            a::id,
            doc::expires_on.nullable(),
            ps::all_columns.nullable(),
        ))
        .load(conn)?;
    let mut rows = rows.into_iter().peekable();
    let Some((account_id, document_expires_on, _)) = rows.peek().cloned() else {
        return Ok(None);
    };
    let push = rows
        .take_while(|(id, _, _)| *id == account_id)
        .filter_map(|(_, _, subscription)| subscription)
        .collect();
    Ok(Some(Approver {
        account_id,
        document_expires_on,
        push,
    }))
}

/// The account that may approve a phone login, with the expiry date of its
/// identity document (`YYYY-MM-DD`), read in the same row: past it, the
/// identity no longer proves eidas2 for a new login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver {
    pub account_id: String,
    pub document_expires_on: Option<String>,
    /// The push subscriptions of its active devices, by device id.
    pub push: Vec<SubscriptionRow>,
}

pub fn identity(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<Option<IdentityRow>, StoreError> {
    Ok(i::table
        .filter(i::account_id.eq(account_id))
        .first(conn)
        .optional()?)
}

pub struct NewAccount<'a> {
    pub id: &'a str,
    pub state: &'a str,
    pub email: &'a str,
    pub password_hash: Option<&'a str>,
    pub phone: Option<&'a str>,
}

pub fn insert(conn: &mut DbConnection, account: &NewAccount<'_>) -> Result<(), StoreError> {
    insert_many(conn, std::slice::from_ref(account))
}

/// Inserts the accounts in one statement (bulk loads such as the benchmark's
/// seeding). Keep slices to a few thousand rows: PostgreSQL takes at most
/// 65,535 parameters per statement (7 per account here).
pub fn insert_many(conn: &mut DbConnection, accounts: &[NewAccount<'_>]) -> Result<(), StoreError> {
    if accounts.is_empty() {
        return Ok(());
    }
    let now = now_unix();
    let rows: Vec<_> = accounts
        .iter()
        .map(|account| {
            (
                a::id.eq(account.id),
                a::state.eq(account.state),
                a::email.eq(account.email),
                a::password_hash.eq(account.password_hash),
                a::phone.eq(account.phone),
                a::created_at.eq(now),
                a::updated_at.eq(now),
            )
        })
        .collect();
    insert_rows!(conn, a::table, rows);
    Ok(())
}

pub fn insert_identity(conn: &mut DbConnection, identity: &IdentityRow) -> Result<(), StoreError> {
    insert_identities(conn, std::slice::from_ref(identity))
}

/// Inserts the identities in one statement (see [`insert_many`]).
pub fn insert_identities(
    conn: &mut DbConnection,
    identities: &[IdentityRow],
) -> Result<(), StoreError> {
    if identities.is_empty() {
        return Ok(());
    }
    insert_rows!(conn, i::table, identities);
    Ok(())
}

/// Replaces the account's password hash (a reset or a change); false when
/// the account does not exist. The caller appends the audit entry in the
/// same transaction.
pub fn set_password_hash(
    conn: &mut DbConnection,
    account_id: &str,
    password_hash: &str,
) -> Result<bool, StoreError> {
    let updated = diesel::update(a::table.filter(a::id.eq(account_id)))
        .set((
            a::password_hash.eq(Some(password_hash)),
            a::updated_at.eq(now_unix()),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}
