//! What the agents' console reads for an agent's desk: the requests an agent
//! decided since a time, and the open face-to-face requests of the accounts
//! a clerk's search matched. Plain reads; no join macros (the tables are
//! read one after the other in the caller's transaction).

use diesel::prelude::*;

use super::schema::{accounts as a, identities as i, verification_requests as v};
use super::{DbConnection, StoreError, now_unix};
use crate::domain::account::{RequestStatus, VerificationMethod};

/// A request an agent decided, with the citizen's names.
#[derive(Debug, Clone)]
pub struct Decided {
    pub request_id: String,
    pub reference: Option<String>,
    pub method: VerificationMethod,
    pub status: RequestStatus,
    pub decided_at: i64,
    pub given_name: String,
    pub family_name: String,
}

/// The requests `username` decided at or after `since`, newest first.
pub fn decided_by(
    conn: &mut DbConnection,
    username: &str,
    since: i64,
    limit: i64,
) -> Result<Vec<Decided>, StoreError> {
    type Row = (
        String,
        String,
        Option<String>,
        VerificationMethod,
        RequestStatus,
        Option<i64>,
    );
    let rows: Vec<Row> = v::table
        .filter(v::decided_by.eq(username).and(v::decided_at.ge(since)))
        .order(v::decided_at.desc())
        .limit(limit)
        .select((
            v::id,
            v::account_id,
            v::reference,
            v::method,
            v::status,
            v::decided_at,
        ))
        .load(conn)?;
    let mut out = Vec::with_capacity(rows.len());
    for (request_id, account_id, reference, method, status, decided_at) in rows {
        let (given_name, family_name) = i::table
            .filter(i::account_id.eq(&account_id))
            .select((i::given_name, i::family_name))
            .first::<(String, String)>(conn)
            .optional()?
            .unwrap_or_default();
        out.push(Decided {
            request_id,
            reference,
            method,
            status,
            decided_at: decided_at.unwrap_or(since),
            given_name,
            family_name,
        });
    }
    Ok(out)
}

/// An identity a clerk's search may show: only what picks the person.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub account_id: String,
    pub given_name: String,
    pub family_name: String,
    pub birthdate: String,
}

/// Identities born on `birthdate` (YYYY-MM-DD).
pub fn born_on(conn: &mut DbConnection, birthdate: &str) -> Result<Vec<Candidate>, StoreError> {
    let rows: Vec<(String, String, String, String)> = i::table
        .filter(i::birthdate.eq(birthdate))
        .select((i::account_id, i::given_name, i::family_name, i::birthdate))
        .load(conn)?;
    Ok(rows.into_iter().map(candidate).collect())
}

/// The identity of the account whose email is `email`.
pub fn with_email(conn: &mut DbConnection, email: &str) -> Result<Vec<Candidate>, StoreError> {
    let ids: Vec<String> = a::table
        .filter(a::email.eq(email))
        .select(a::id)
        .load(conn)?;
    let rows: Vec<(String, String, String, String)> = i::table
        .filter(i::account_id.eq_any(&ids))
        .select((i::account_id, i::given_name, i::family_name, i::birthdate))
        .load(conn)?;
    Ok(rows.into_iter().map(candidate).collect())
}

fn candidate(
    (account_id, given_name, family_name, birthdate): (String, String, String, String),
) -> Candidate {
    Candidate {
        account_id,
        given_name,
        family_name,
        birthdate,
    }
}

/// The reference of the account's open face-to-face request (pending, not
/// expired), if it has one.
pub fn open_reference(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(v::table
        .filter(
            v::account_id
                .eq(account_id)
                .and(v::method.eq(VerificationMethod::FaceToFace.as_str()))
                .and(v::status.eq(RequestStatus::Pending))
                .and(v::expires_at.ge(now_unix())),
        )
        .select(v::reference)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}
