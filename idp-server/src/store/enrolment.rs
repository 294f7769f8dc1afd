//! SQL of the enrolment pipeline: documents, verification requests and
//! review media (account state changes go through `accounts::transition`).

use diesel::prelude::*;

use super::schema::{
    accounts as a, documents as d, identities as i, review_media as m, verification_requests as v,
};
use super::{DbConnection, StoreError, now_unix};
use crate::domain::account::{RequestEvent, RequestStatus, VerificationMethod};

pub fn set_phone(conn: &mut DbConnection, account_id: &str, phone: &str) -> Result<(), StoreError> {
    diesel::update(a::table.filter(a::id.eq(account_id)))
        .set((a::phone.eq(phone), a::updated_at.eq(now_unix())))
        .execute(conn)?;
    Ok(())
}

/// Whether another account past its phone verification uses this number.
pub fn phone_in_use(
    conn: &mut DbConnection,
    phone: &str,
    except: &str,
) -> Result<bool, StoreError> {
    let count: i64 = a::table
        .filter(
            a::phone
                .eq(phone)
                .and(a::id.ne(except))
                .and(a::state.ne("email_verified")),
        )
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

#[derive(Debug, Clone, Queryable)]
pub struct DocumentRow {
    pub account_id: String,
    pub kind: String,
    pub number_hash: String,
    pub number_sealed: Vec<u8>,
    pub issued_on: String,
    pub expires_on: String,
    pub created_at: i64,
    /// When the reminder of the coming expiry was sent.
    pub expiry_reminded_at: Option<i64>,
}

pub struct NewDocument<'a> {
    pub account_id: &'a str,
    pub kind: &'a str,
    pub number_hash: &'a str,
    pub number_sealed: &'a [u8],
    pub issued_on: &'a str,
    pub expires_on: &'a str,
}

/// Replaces the account's document (a resubmission after a rejection).
pub fn put_document(conn: &mut DbConnection, doc: &NewDocument<'_>) -> Result<(), StoreError> {
    diesel::delete(d::table.filter(d::account_id.eq(doc.account_id))).execute(conn)?;
    diesel::insert_into(d::table)
        .values((
            d::account_id.eq(doc.account_id),
            d::kind.eq(doc.kind),
            d::number_hash.eq(doc.number_hash),
            d::number_sealed.eq(doc.number_sealed),
            d::issued_on.eq(doc.issued_on),
            d::expires_on.eq(doc.expires_on),
            d::created_at.eq(now_unix()),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn document(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<Option<DocumentRow>, StoreError> {
    Ok(d::table
        .filter(d::account_id.eq(account_id))
        .first(conn)
        .optional()?)
}

/// Whether this document number already proves another verified identity.
pub fn number_bound_to_verified(
    conn: &mut DbConnection,
    number_hash: &str,
    except: &str,
) -> Result<bool, StoreError> {
    let count: i64 = d::table
        .inner_join(i::table.on(i::account_id.eq(d::account_id)))
        .filter(
            d::number_hash
                .eq(number_hash)
                .and(d::account_id.ne(except))
                .and(i::verified_at.is_not_null()),
        )
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

/// Replaces the declared identity (unverified).
pub fn put_identity(
    conn: &mut DbConnection,
    identity: &super::accounts::IdentityRow,
) -> Result<(), StoreError> {
    diesel::delete(i::table.filter(i::account_id.eq(&identity.account_id))).execute(conn)?;
    super::accounts::insert_identity(conn, identity)
}

#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub struct RequestRow {
    pub id: String,
    pub account_id: String,
    pub method: VerificationMethod,
    pub reference: Option<String>,
    pub status: RequestStatus,
    pub challenge: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub submitted_at: Option<i64>,
    pub decided_at: Option<i64>,
    pub decided_by: Option<String>,
    pub office: Option<String>,
    pub reason: Option<String>,
    /// What the citizen is told of a refusal.
    pub reason_category: Option<crate::domain::account::RefusalCategory>,
    /// Face to face at the citizen's home (a postman visits).
    pub home_visit: bool,
}

pub struct NewRequest<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub method: VerificationMethod,
    pub reference: Option<&'a str>,
    pub status: RequestStatus,
    pub challenge: Option<&'a str>,
    pub expires_at: i64,
    pub submitted_at: Option<i64>,
    pub home_visit: bool,
}

pub fn insert_request(conn: &mut DbConnection, r: &NewRequest<'_>) -> Result<(), StoreError> {
    diesel::insert_into(v::table)
        .values((
            v::id.eq(r.id),
            v::account_id.eq(r.account_id),
            v::method.eq(r.method),
            v::reference.eq(r.reference),
            v::status.eq(r.status),
            v::challenge.eq(r.challenge),
            v::created_at.eq(now_unix()),
            v::expires_at.eq(r.expires_at),
            v::submitted_at.eq(r.submitted_at),
            v::home_visit.eq(r.home_visit),
        ))
        .execute(conn)?;
    Ok(())
}

/// The account's request that is still collecting media or pending a decision.
pub fn open_request(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<Option<RequestRow>, StoreError> {
    Ok(v::table
        .filter(
            v::account_id
                .eq(account_id)
                .and(v::status.eq_any([RequestStatus::Collecting, RequestStatus::Pending])),
        )
        .first(conn)
        .optional()?)
}

/// The most recent request of the account, whatever its status.
pub fn latest_request(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<Option<RequestRow>, StoreError> {
    Ok(v::table
        .filter(v::account_id.eq(account_id))
        .order(v::created_at.desc())
        .first(conn)
        .optional()?)
}

pub fn request_by_reference(
    conn: &mut DbConnection,
    reference: &str,
) -> Result<Option<RequestRow>, StoreError> {
    Ok(v::table
        .filter(v::reference.eq(reference))
        .first(conn)
        .optional()?)
}

/// Pending face-to-face requests, oldest first, at most `limit`; only the
/// home visits when `home_visit_only`.
pub fn pending_face_to_face(
    conn: &mut DbConnection,
    home_visit_only: bool,
    limit: i64,
) -> Result<Vec<RequestRow>, StoreError> {
    let mut query = v::table
        .filter(
            v::method
                .eq(VerificationMethod::FaceToFace)
                .and(v::status.eq(RequestStatus::Pending))
                .and(v::expires_at.ge(now_unix())),
        )
        .into_boxed();
    if home_visit_only {
        query = query.filter(v::home_visit.eq(true));
    }
    Ok(query
        .order((v::created_at.asc(), v::id.asc()))
        .limit(limit)
        .load(conn)?)
}

pub fn request(conn: &mut DbConnection, id: &str) -> Result<Option<RequestRow>, StoreError> {
    Ok(v::table.filter(v::id.eq(id)).first(conn).optional()?)
}

/// Moves a request from `from` by `event` ([`RequestStatus::apply`]);
/// false if it was no longer in `from` (conditional `UPDATE`).
pub fn set_request_status(
    conn: &mut DbConnection,
    id: &str,
    from: RequestStatus,
    event: RequestEvent,
) -> Result<bool, StoreError> {
    let to = from
        .apply(event)
        .map_err(|e| StoreError::Corrupt(format!("request {id}: {e}")))?;
    let submitted = (to == RequestStatus::Pending).then(now_unix);
    let n = diesel::update(v::table.filter(v::id.eq(id).and(v::status.eq(from))))
        .set((v::status.eq(to), v::submitted_at.eq(submitted.or(None))))
        .execute(conn)?;
    Ok(n == 1)
}

pub fn put_media(
    conn: &mut DbConnection,
    request_id: &str,
    kind: &str,
    content_type: &str,
    size: i64,
    sealed: &[u8],
) -> Result<(), StoreError> {
    diesel::delete(m::table.filter(m::request_id.eq(request_id).and(m::kind.eq(kind))))
        .execute(conn)?;
    diesel::insert_into(m::table)
        .values((
            m::request_id.eq(request_id),
            m::kind.eq(kind),
            m::content_type.eq(content_type),
            m::size.eq(size),
            m::sealed.eq(sealed),
            m::created_at.eq(now_unix()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Kinds of media already stored for a request.
pub fn media_kinds(conn: &mut DbConnection, request_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(m::table
        .filter(m::request_id.eq(request_id))
        .select(m::kind)
        .load(conn)?)
}

/// Online requests waiting for a reviewer, oldest submission first.
pub fn review_queue(conn: &mut DbConnection, limit: i64) -> Result<Vec<RequestRow>, StoreError> {
    Ok(v::table
        .filter(
            v::method
                .eq("remote")
                .and(v::status.eq(RequestStatus::Pending)),
        )
        .order(v::submitted_at.asc())
        .limit(limit)
        .load(conn)?)
}

/// One sealed medium of a request: (content type, sealed bytes).
pub fn media(
    conn: &mut DbConnection,
    request_id: &str,
    kind: &str,
) -> Result<Option<(String, Vec<u8>)>, StoreError> {
    Ok(m::table
        .filter(m::request_id.eq(request_id).and(m::kind.eq(kind)))
        .select((m::content_type, m::sealed))
        .first(conn)
        .optional()?)
}
