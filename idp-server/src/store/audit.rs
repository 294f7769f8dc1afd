//! Append-only, hash-chained audit log.
//!
//! Each entry stores the SHA-256 of the previous entry, and its own hash covers
//! every field, so editing, deleting or reordering a row breaks the chain that
//! [`verify`] walks. Appends are serialised by updating the single `audit_head`
//! row first (a row lock on PostgreSQL, the write lock on SQLite), and must run in
//! the same transaction as the change they record.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use sha2::{Digest, Sha256};

use super::schema::{audit_head, audit_log};
use super::{DbConnection, StoreError, now_unix};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, by whom, to what.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    /// `system`, `cli:<user>`, `agent:<id>`, `account:<id>`…
    pub actor: &'a str,
    /// Dotted verb, e.g. `keys.rotate`.
    pub action: &'a str,
    pub subject: &'a str,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub struct AuditRow {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// Appends one entry; call it inside the transaction of the change it records.
pub fn append(conn: &mut DbConnection, event: &AuditEvent<'_>) -> Result<i64, StoreError> {
    // Takes the head's lock and reads it in one statement.
    let (seq, prev_hash): (i64, String) =
        diesel::update(audit_head::table.filter(audit_head::id.eq(1)))
            .set(audit_head::seq.eq(audit_head::seq + 1))
            .returning((audit_head::seq, audit_head::hash))
            .get_result(conn)?;
    let at = now_unix();
    let details = event.details.to_string();
    let hash = entry_hash(
        &prev_hash,
        seq,
        at,
        event.actor,
        event.action,
        event.subject,
        &details,
    );
    match conn {
        // The entry and the head's new hash in one statement: every round
        // trip made while holding the head's lock delays every other append.
        DbConnection::Pg(pg) => {
            diesel::sql_query(
                "WITH entry AS (INSERT INTO audit_log \
                 (seq, at, actor, action, subject, details, prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)) \
                 UPDATE audit_head SET hash = $8 WHERE id = 1",
            )
            .bind::<BigInt, _>(seq)
            .bind::<BigInt, _>(at)
            .bind::<Text, _>(event.actor)
            .bind::<Text, _>(event.action)
            .bind::<Text, _>(event.subject)
            .bind::<Text, _>(&details)
            .bind::<Text, _>(&prev_hash)
            .bind::<Text, _>(&hash)
            .execute(pg)?;
        }
        // In process, a statement costs no round trip (and SQLite has no
        // INSERT inside WITH).
        DbConnection::Sqlite(sqlite) => {
            diesel::insert_into(audit_log::table)
                .values((
                    audit_log::seq.eq(seq),
                    audit_log::at.eq(at),
                    audit_log::actor.eq(event.actor),
                    audit_log::action.eq(event.action),
                    audit_log::subject.eq(event.subject),
                    audit_log::details.eq(&details),
                    audit_log::prev_hash.eq(&prev_hash),
                    audit_log::hash.eq(&hash),
                ))
                .execute(sqlite)?;
            diesel::update(audit_head::table.filter(audit_head::id.eq(1)))
                .set(audit_head::hash.eq(&hash))
                .execute(sqlite)?;
        }
    }
    Ok(seq)
}

/// SHA-256 over the previous hash and every field, each length-prefixed so that
/// no two different entries serialise to the same bytes.
pub fn entry_hash(
    prev_hash: &str,
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    details: &str,
) -> String {
    let mut h = Sha256::new();
    for field in [prev_hash.as_bytes(), actor.as_bytes(), action.as_bytes()]
        .into_iter()
        .chain([subject.as_bytes(), details.as_bytes()])
    {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field);
    }
    h.update(seq.to_be_bytes());
    h.update(at.to_be_bytes());
    crate::crypto::hex(&h.finalize())
}

/// Outcome of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum ChainStatus {
    Intact { entries: i64 },
    Broken { seq: i64, reason: String },
}

/// Checks entries one after the other: consecutive positions, each linked to
/// the one before it, each matching its hash. Shared by [`verify`] (from the
/// first entry) and by the check of an exported range (from wherever the
/// range starts).
#[derive(Debug, Clone)]
pub struct ChainWalker {
    expected_seq: i64,
    prev: String,
}

impl ChainWalker {
    /// A walk from the first entry of the log.
    pub fn from_start() -> Self {
        ChainWalker::from(1, GENESIS_HASH)
    }

    /// A walk that expects entry `seq`, linked to the hash `prev`.
    pub fn from(seq: i64, prev: &str) -> Self {
        ChainWalker {
            expected_seq: seq,
            prev: prev.to_owned(),
        }
    }

    /// Position and hash of the last entry checked.
    pub fn last(&self) -> (i64, &str) {
        (self.expected_seq - 1, &self.prev)
    }

    /// Checks the next entry; on failure, the position and the reason.
    pub fn check(&mut self, row: &AuditRow) -> Result<(), (i64, String)> {
        let expected = self.expected_seq;
        if row.seq != expected {
            return Err((
                expected,
                format!("entry {expected} is missing (next is {})", row.seq),
            ));
        }
        if row.prev_hash != self.prev {
            return Err((
                row.seq,
                "previous-hash link does not match the entry before it".into(),
            ));
        }
        let recomputed = entry_hash(
            &row.prev_hash,
            row.seq,
            row.at,
            &row.actor,
            &row.action,
            &row.subject,
            &row.details,
        );
        if recomputed != row.hash {
            return Err((row.seq, "content does not match its hash (edited)".into()));
        }
        self.prev.clone_from(&row.hash);
        self.expected_seq += 1;
        Ok(())
    }
}

/// Entries from position `from_seq` on, in order, `BATCH` rows per query, each
/// handed to `each` (a stream for exports: memory stays flat).
pub fn each_from<E: From<StoreError>>(
    conn: &mut DbConnection,
    from_seq: i64,
    mut each: impl FnMut(AuditRow) -> Result<(), E>,
) -> Result<(), E> {
    const BATCH: i64 = 1000;
    let mut next = from_seq;
    loop {
        let rows: Vec<AuditRow> = audit_log::table
            .filter(audit_log::seq.ge(next))
            .order(audit_log::seq.asc())
            .limit(BATCH)
            .load(conn)
            .map_err(StoreError::from)?;
        let done = (rows.len() as i64) < BATCH;
        for row in rows {
            next = row.seq + 1;
            each(row)?;
        }
        if done {
            return Ok(());
        }
    }
}

/// Position of the first entry written at or after `at` (unix seconds).
pub fn first_seq_since(conn: &mut DbConnection, at: i64) -> Result<Option<i64>, StoreError> {
    Ok(audit_log::table
        .filter(audit_log::at.ge(at))
        .select(diesel::dsl::min(audit_log::seq))
        .first::<Option<i64>>(conn)?)
}

/// Walks the whole chain in order and names the first entry that does not hold.
pub fn verify(conn: &mut DbConnection) -> Result<ChainStatus, StoreError> {
    let mut walker = ChainWalker::from_start();
    let mut broken = None;
    each_from(conn, 1, |row| {
        if broken.is_none()
            && let Err(at) = walker.check(&row)
        {
            broken = Some(at);
        }
        Ok::<(), StoreError>(())
    })?;
    if let Some((seq, reason)) = broken {
        return Ok(ChainStatus::Broken { seq, reason });
    }
    let (head_seq, head_hash): (i64, String) = audit_head::table
        .filter(audit_head::id.eq(1))
        .select((audit_head::seq, audit_head::hash))
        .first(conn)?;
    let (last, prev) = walker.last();
    if head_seq != last || head_hash != prev {
        return Ok(ChainStatus::Broken {
            seq: last + 1,
            reason: format!(
                "head says {head_seq} entries but the log ends at {last} (entries removed from the end)"
            ),
        });
    }
    Ok(ChainStatus::Intact { entries: last })
}

/// The most recent entries, newest first.
pub fn recent(conn: &mut DbConnection, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
    Ok(audit_log::table
        .order(audit_log::seq.desc())
        .limit(limit)
        .load(conn)?)
}

/// The most recent entries about `subject`, newest first.
pub fn for_subject(
    conn: &mut DbConnection,
    subject: &str,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    Ok(audit_log::table
        .filter(audit_log::subject.eq(subject))
        .order(audit_log::seq.desc())
        .limit(limit)
        .load(conn)?)
}

/// The most recent entry with this action about `subject`.
pub fn latest_for_subject(
    conn: &mut DbConnection,
    subject: &str,
    action: &str,
) -> Result<Option<AuditRow>, StoreError> {
    Ok(audit_log::table
        .filter(
            audit_log::subject
                .eq(subject)
                .and(audit_log::action.eq(action)),
        )
        .order(audit_log::seq.desc())
        .first(conn)
        .optional()?)
}
