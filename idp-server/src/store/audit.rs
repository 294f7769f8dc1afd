//! Append-only, MAC-chained audit log.
//!
//! Each entry stores the hash of the previous entry, and its own hash covers
//! every field, so editing, deleting or reordering a row breaks the chain that
//! [`verify`] walks. An append must run in the same transaction as the change
//! it records.
//!
//! # Several chains
//!
//! An append updates a row of `audit_head` first, which orders it after
//! every append to the same chain (a row lock on PostgreSQL, held until the
//! commit; the write lock on SQLite). On PostgreSQL there are
//! [`PG_CHAINS`] heads and an append takes the first one no other
//! transaction holds (`FOR UPDATE SKIP LOCKED`), so concurrent logins do not
//! queue behind one row lock and its commit: a lone writer extends chain 1,
//! concurrent ones spread over the others. Each entry stores its `chain` and
//! its position `pos` in it; [`verify`] walks every chain (consecutive
//! positions, each linked to the one before it in its chain, each matching
//! its hash) and checks each head, so an edited, removed or reordered entry
//! still breaks a chain. `seq` is the log's global order, from a sequence on
//! PostgreSQL (gaps are possible: a rolled-back append used a number); within
//! a chain, `seq` grows with `pos`. SQLite keeps one chain, `pos = seq`.
//! Entries of chain 1 at `pos = seq` (all entries written before the chains)
//! hash as before; the others also hash their chain and position.
//!
//! The hash is an HMAC-SHA256 under the master key's `audit-chain-mac`
//! subkey, so write access to the database is not enough to rebuild a chain
//! that verifies. Logs written before the key was used keep their plain
//! SHA-256 entries: the `audit_mac_from` setting, itself MAC'd, says from
//! which position entries are keyed (1 on a deployment that started keyed).
//! Start-up writes it once ([`start_keyed_chain`]); a missing or forged
//! marker is a broken chain.
//!
//! The key reaches [`append`] and [`verify`] through the [`Db`](super::Db)
//! call they run in (`Db::install_audit_key`, then a [`KeyScope`] for the
//! duration of each `read`/`write` closure), so callers keep passing only the
//! connection.

use std::cell::Cell;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use hmac::Mac;
use sha2::{Digest, Sha256};

use super::schema::{audit_head, audit_log, settings};
use super::{DbConnection, StoreError, now_unix};

/// Name of the setting that records where keyed MACs start (`"{seq}:{mac}"`).
pub const MAC_FROM_SETTING: &str = "audit_mac_from";

thread_local! {
    /// The audit key of the `Db` whose closure runs on this thread.
    static KEY: Cell<Option<[u8; 32]>> = const { Cell::new(None) };
}

/// Makes a `Db`'s audit key visible to the closure running on this thread,
/// until dropped (then the previous one is back: calls may nest).
pub(crate) struct KeyScope {
    previous: Option<[u8; 32]>,
}

impl KeyScope {
    pub(crate) fn enter(key: Option<[u8; 32]>) -> Self {
        KeyScope {
            previous: KEY.with(|k| k.replace(key)),
        }
    }
}

impl Drop for KeyScope {
    fn drop(&mut self) {
        KEY.with(|k| k.set(self.previous.take()));
    }
}

fn installed_key() -> Result<[u8; 32], StoreError> {
    KEY.with(Cell::get).ok_or_else(|| {
        StoreError::Corrupt("the audit key is not installed on this database handle".into())
    })
}

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
    /// The chain (1 on SQLite and for every entry written before the chains).
    pub chain: i32,
    /// Position in the chain, from 1.
    pub pos: i64,
}

/// Number of chains on PostgreSQL: the head rows the migration creates.
pub const PG_CHAINS: i32 = 8;

/// Where an append goes: its chain, its position there, the hash it links
/// to, and its global `seq`.
#[derive(diesel::QueryableByName)]
struct Slot {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    chain: i32,
    #[diesel(sql_type = BigInt)]
    pos: i64,
    #[diesel(sql_type = Text)]
    prev_hash: String,
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

/// Takes a chain's head and moves it one position on (PostgreSQL): the first
/// head nobody holds, else (every chain busy) waits for the one `subject`
/// falls on.
fn take_head_pg(conn: &mut diesel::PgConnection, subject: &str) -> Result<Slot, StoreError> {
    let free: Option<Slot> = diesel::sql_query(
        "WITH free AS (SELECT id FROM audit_head ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
         UPDATE audit_head h SET seq = h.seq + 1 FROM free WHERE h.id = free.id \
         RETURNING h.id AS chain, h.seq AS pos, h.hash AS prev_hash, nextval('audit_seq') AS seq",
    )
    .get_result(conn)
    .optional()?;
    if let Some(slot) = free {
        return Ok(slot);
    }
    let digest = Sha256::digest(subject.as_bytes());
    let chain = 1 + i32::from(digest[0]) % PG_CHAINS;
    Ok(diesel::sql_query(
        "UPDATE audit_head SET seq = seq + 1 WHERE id = $1 \
         RETURNING id AS chain, seq AS pos, hash AS prev_hash, nextval('audit_seq') AS seq",
    )
    .bind::<diesel::sql_types::Integer, _>(chain)
    .get_result(conn)?)
}

/// Appends one entry; call it inside the transaction of the change it records.
pub fn append(conn: &mut DbConnection, event: &AuditEvent<'_>) -> Result<i64, StoreError> {
    // Takes a head's lock and reads it in one statement.
    let slot = match conn {
        DbConnection::Pg(pg) => take_head_pg(pg, event.subject)?,
        DbConnection::Sqlite(_) => {
            let (pos, prev_hash): (i64, String) =
                diesel::update(audit_head::table.filter(audit_head::id.eq(1)))
                    .set(audit_head::seq.eq(audit_head::seq + 1))
                    .returning((audit_head::seq, audit_head::hash))
                    .get_result(conn)?;
            Slot {
                chain: 1,
                pos,
                prev_hash,
                seq: pos,
            }
        }
    };
    let Slot {
        chain,
        pos,
        prev_hash,
        seq,
    } = slot;
    let key = installed_key()?;
    let at = now_unix();
    let details = event.details.to_string();
    let hash = keyed_hash(
        &key,
        &prev_hash,
        Place { seq, chain, pos },
        at,
        event.actor,
        event.action,
        event.subject,
        &details,
    );
    match conn {
        // The entry and the head's new hash in one statement: every round
        // trip made while holding the head's lock delays every other append
        // to its chain.
        DbConnection::Pg(pg) => {
            diesel::sql_query(
                "WITH entry AS (INSERT INTO audit_log \
                 (seq, at, actor, action, subject, details, prev_hash, hash, chain, pos) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)) \
                 UPDATE audit_head SET hash = $8 WHERE id = $9",
            )
            .bind::<BigInt, _>(seq)
            .bind::<BigInt, _>(at)
            .bind::<Text, _>(event.actor)
            .bind::<Text, _>(event.action)
            .bind::<Text, _>(event.subject)
            .bind::<Text, _>(&details)
            .bind::<Text, _>(&prev_hash)
            .bind::<Text, _>(&hash)
            .bind::<diesel::sql_types::Integer, _>(chain)
            .bind::<BigInt, _>(pos)
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
                    audit_log::chain.eq(chain),
                    audit_log::pos.eq(pos),
                ))
                .execute(sqlite)?;
            diesel::update(audit_head::table.filter(audit_head::id.eq(1)))
                .set(audit_head::hash.eq(&hash))
                .execute(sqlite)?;
        }
    }
    Ok(seq)
}

/// The previous hash and every field, each length-prefixed so that no two
/// different entries serialise to the same bytes.
#[allow(clippy::too_many_arguments)]
fn feed(
    mut update: impl FnMut(&[u8]),
    prev_hash: &str,
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    details: &str,
) {
    for field in [prev_hash.as_bytes(), actor.as_bytes(), action.as_bytes()]
        .into_iter()
        .chain([subject.as_bytes(), details.as_bytes()])
    {
        update(&(field.len() as u64).to_be_bytes());
        update(field);
    }
    update(&seq.to_be_bytes());
    update(&at.to_be_bytes());
}

/// The hash of entries written before the chain was keyed: plain SHA-256,
/// which anyone can recompute (kept to verify those entries).
pub fn legacy_hash(
    prev_hash: &str,
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    details: &str,
) -> String {
    let mut h = Sha256::new();
    feed(
        |b| h.update(b),
        prev_hash,
        seq,
        at,
        actor,
        action,
        subject,
        details,
    );
    crate::crypto::hex(&h.finalize())
}

/// Where an entry sits: its global order, its chain and its position there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub seq: i64,
    pub chain: i32,
    pub pos: i64,
}

impl Place {
    /// Chain 1 at `pos = seq`: every entry written before the chains, and
    /// the lone writer's. They hash exactly as before.
    fn is_single_chain(self) -> bool {
        self.chain == 1 && self.pos == self.seq
    }
}

/// HMAC-SHA256 under the audit key over the same bytes as [`legacy_hash`],
/// followed by the chain and the position unless the entry is
/// [single-chain](Place::is_single_chain) (its `seq` then says both).
#[allow(clippy::too_many_arguments)]
pub fn keyed_hash(
    key: &[u8; 32],
    prev_hash: &str,
    place: Place,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    details: &str,
) -> String {
    let mut mac = crate::crypto::hmac_sha256(key);
    feed(
        |b| mac.update(b),
        prev_hash,
        place.seq,
        at,
        actor,
        action,
        subject,
        details,
    );
    if !place.is_single_chain() {
        mac.update(&place.chain.to_be_bytes());
        mac.update(&place.pos.to_be_bytes());
    }
    crate::crypto::hex(&mac.finalize().into_bytes())
}

fn marker_mac(key: &[u8; 32], from: i64) -> String {
    let mut mac = crate::crypto::hmac_sha256(key);
    mac.update(b"audit-mac-from\0");
    mac.update(&from.to_be_bytes());
    crate::crypto::hex(&mac.finalize().into_bytes())
}

/// How each entry's hash is computed: keyed from position `keyed_from` on,
/// plain SHA-256 before it.
#[derive(Clone)]
pub struct ChainMac {
    key: [u8; 32],
    keyed_from: i64,
}

impl std::fmt::Debug for ChainMac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainMac")
            .field("keyed_from", &self.keyed_from)
            .finish_non_exhaustive()
    }
}

impl ChainMac {
    pub fn new(key: [u8; 32], keyed_from: i64) -> Self {
        ChainMac { key, keyed_from }
    }

    /// The first position whose hash is keyed.
    pub fn keyed_from(&self) -> i64 {
        self.keyed_from
    }

    fn hash(&self, row: &AuditRow) -> String {
        let place = Place {
            seq: row.seq,
            chain: row.chain,
            pos: row.pos,
        };
        if row.seq >= self.keyed_from {
            keyed_hash(
                &self.key,
                &row.prev_hash,
                place,
                row.at,
                &row.actor,
                &row.action,
                &row.subject,
                &row.details,
            )
        } else {
            // Plain SHA-256 entries predate the chains: chain 1, pos = seq
            // (checked by the walker before the hash).
            legacy_hash(
                &row.prev_hash,
                row.seq,
                row.at,
                &row.actor,
                &row.action,
                &row.subject,
                &row.details,
            )
        }
    }
}

/// Records, once, where keyed MACs start: the position after the last entry
/// (1 on a new deployment). Runs at start-up, in a write transaction on a
/// handle with the audit key installed; it takes every head's lock, which
/// orders it against every append, so no entry before the position is keyed
/// and none after it is plain. Returns the position.
pub fn start_keyed_chain(conn: &mut DbConnection) -> Result<i64, StoreError> {
    let key = installed_key()?;
    let _heads: Vec<i32> = diesel::update(audit_head::table)
        .set(audit_head::seq.eq(audit_head::seq))
        .returning(audit_head::id)
        .get_results(conn)?;
    if let Some(stored) = super::settings::get(conn, MAC_FROM_SETTING)? {
        return parse_marker(&key, &stored).map_err(StoreError::Corrupt);
    }
    let last: Option<AuditRow> = audit_log::table
        .order(audit_log::seq.desc())
        .first(conn)
        .optional()?;
    if let Some(last) = &last
        && ChainMac::new(key, 1).hash(last) == last.hash
    {
        // The log is already keyed: the marker was removed, not never
        // written. Leave it missing, so that `verify` reports it.
        tracing::error!(
            "audit log: the {MAC_FROM_SETTING} setting is missing although entry {} is keyed; not recreating it",
            last.seq
        );
        return Ok(0);
    }
    let head = last.as_ref().map_or(0, |row| row.seq);
    let from = head + 1;
    diesel::insert_into(settings::table)
        .values((
            settings::name.eq(MAC_FROM_SETTING),
            settings::value.eq(format!("{from}:{}", marker_mac(&key, from))),
            settings::updated_at.eq(now_unix()),
        ))
        .execute(conn)?;
    if head > 0 {
        tracing::warn!(
            keyed_from = from,
            "audit log: entries up to {head} keep their plain SHA-256 hashes; \
             entries from {from} on are keyed (this is logged once, at the upgrade)"
        );
    }
    Ok(from)
}

fn parse_marker(key: &[u8; 32], stored: &str) -> Result<i64, String> {
    let forged = || format!("the {MAC_FROM_SETTING} setting is not authentic");
    let (from, mac) = stored.split_once(':').ok_or_else(forged)?;
    let from: i64 = from.parse().map_err(|_| forged())?;
    if from < 1
        || !crate::crypto::constant_time_eq(mac.as_bytes(), marker_mac(key, from).as_bytes())
    {
        return Err(forged());
    }
    Ok(from)
}

/// The chain's MAC rule, read from the marker and checked under the
/// installed key. `Ok(Err(reason))`: the marker is missing or forged.
pub fn chain_mac(conn: &mut DbConnection) -> Result<Result<ChainMac, String>, StoreError> {
    let key = installed_key()?;
    Ok(match super::settings::get(conn, MAC_FROM_SETTING)? {
        None => Err(format!(
            "the {MAC_FROM_SETTING} setting is missing (it is written at start-up)"
        )),
        Some(stored) => parse_marker(&key, &stored).map(|from| ChainMac::new(key, from)),
    })
}

/// Outcome of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum ChainStatus {
    Intact { entries: i64 },
    Broken { seq: i64, reason: String },
}

/// Checks entries one after the other, in `seq` order: in each chain,
/// consecutive positions, each linked to the entry before it in its chain,
/// each matching its hash. Shared by [`verify`] (from the first entry) and
/// by the check of an exported range (each chain from wherever the range
/// starts it).
#[derive(Debug, Clone)]
pub struct ChainWalker {
    /// Per chain: the next position expected and the hash it links to.
    chains: std::collections::BTreeMap<i32, (i64, String)>,
    /// A range: a chain seen for the first time starts where its first row
    /// says (a walk from the start wants position 1 after the genesis hash).
    partial: bool,
    last_seq: i64,
    last_hash: String,
    entries: i64,
    mac: ChainMac,
}

impl ChainWalker {
    /// A walk from the first entry of the log.
    pub fn from_start(mac: ChainMac) -> Self {
        ChainWalker {
            chains: Default::default(),
            partial: false,
            last_seq: 0,
            last_hash: GENESIS_HASH.to_owned(),
            entries: 0,
            mac,
        }
    }

    /// A walk over a range of the log: each chain is followed from its
    /// first entry in the range on.
    pub fn range(mac: ChainMac) -> Self {
        ChainWalker {
            partial: true,
            ..ChainWalker::from_start(mac)
        }
    }

    /// `seq` of the last entry checked and the number of entries checked.
    pub fn last(&self) -> (i64, i64) {
        (self.last_seq, self.entries)
    }

    /// Hash of the last entry checked.
    pub fn last_hash(&self) -> &str {
        &self.last_hash
    }

    /// Per chain: the position and hash of its last entry checked.
    pub fn heads(&self) -> impl Iterator<Item = (i32, i64, &str)> {
        self.chains
            .iter()
            .map(|(chain, (next, hash))| (*chain, next - 1, hash.as_str()))
    }

    /// Checks the next entry; on failure, its `seq` and the reason.
    pub fn check(&mut self, row: &AuditRow) -> Result<(), (i64, String)> {
        let name = |pos: i64| match row.chain {
            1 => format!("entry {pos}"),
            chain => format!("entry {pos} of chain {chain}"),
        };
        if row.seq <= self.last_seq {
            return Err((row.seq, format!("{} is out of order", name(row.pos))));
        }
        if row.seq < self.mac.keyed_from() && !(row.chain == 1 && row.pos == row.seq) {
            return Err((row.seq, format!("{} predates the chains", name(row.pos))));
        }
        let start = if self.partial {
            (row.pos, row.prev_hash.clone())
        } else {
            (1, GENESIS_HASH.to_owned())
        };
        let (expected, prev) = self.chains.entry(row.chain).or_insert(start);
        if row.pos != *expected {
            let missing = *expected;
            return Err((
                row.seq,
                format!("{} is missing (next is {})", name(missing), row.pos),
            ));
        }
        if row.prev_hash != *prev {
            return Err((
                row.seq,
                "previous-hash link does not match the entry before it".into(),
            ));
        }
        let recomputed = self.mac.hash(row);
        if !crate::crypto::constant_time_eq(recomputed.as_bytes(), row.hash.as_bytes()) {
            return Err((row.seq, "content does not match its hash (edited)".into()));
        }
        prev.clone_from(&row.hash);
        *expected += 1;
        self.last_seq = row.seq;
        self.last_hash.clone_from(&row.hash);
        self.entries += 1;
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
    let mac = match chain_mac(conn)? {
        Ok(mac) => mac,
        Err(reason) => return Ok(ChainStatus::Broken { seq: 1, reason }),
    };
    let mut walker = ChainWalker::from_start(mac);
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
    let heads: Vec<(i32, i64, String)> = audit_head::table
        .order(audit_head::id.asc())
        .select((audit_head::id, audit_head::seq, audit_head::hash))
        .load(conn)?;
    let walked: std::collections::BTreeMap<i32, (i64, String)> = walker
        .heads()
        .map(|(chain, pos, hash)| (chain, (pos, hash.to_owned())))
        .collect();
    let (last_seq, entries) = walker.last();
    for (chain, pos, hash) in &heads {
        let (last, prev) = walked
            .get(chain)
            .map_or((0, GENESIS_HASH), |(pos, hash)| (*pos, hash.as_str()));
        if *pos != last || hash != prev {
            let head = match chain {
                1 => "head".to_owned(),
                n => format!("head of chain {n}"),
            };
            return Ok(ChainStatus::Broken {
                seq: last_seq + 1,
                reason: format!(
                    "{head} says {pos} entries but the log ends at {last} (entries removed from the end)"
                ),
            });
        }
    }
    if let Some(chain) = walked.keys().find(|c| !heads.iter().any(|h| h.0 == **c)) {
        return Ok(ChainStatus::Broken {
            seq: last_seq,
            reason: format!("entries of chain {chain}, which has no head"),
        });
    }
    Ok(ChainStatus::Intact { entries })
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

/// The most recent entries with this action about `subject`, newest first.
pub fn for_subject_action(
    conn: &mut DbConnection,
    subject: &str,
    action: &str,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    Ok(audit_log::table
        .filter(
            audit_log::subject
                .eq(subject)
                .and(audit_log::action.eq(action)),
        )
        .order(audit_log::seq.desc())
        .limit(limit)
        .load(conn)?)
}

/// How many entries with this action about `subject` were written at or
/// after `since` (Unix seconds).
pub fn count_for_subject_since(
    conn: &mut DbConnection,
    subject: &str,
    action: &str,
    since: i64,
) -> Result<i64, StoreError> {
    Ok(audit_log::table
        .filter(
            audit_log::subject
                .eq(subject)
                .and(audit_log::action.eq(action))
                .and(audit_log::at.ge(since)),
        )
        .count()
        .get_result(conn)?)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, prev: &str, actor: &str) -> AuditRow {
        AuditRow {
            seq,
            at: 1_700_000_000 + seq,
            actor: actor.into(),
            action: "test.action".into(),
            subject: format!("subject-{seq}"),
            details: "{}".into(),
            prev_hash: prev.into(),
            hash: String::new(),
            chain: 1,
            pos: seq,
        }
    }

    /// Entries 1..=n, hashed under `mac` (the writer's rule).
    fn chain(n: i64, mac: &ChainMac) -> Vec<AuditRow> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let mut r = row(seq, &prev, "system");
                r.hash = mac.hash(&r);
                prev.clone_from(&r.hash);
                r
            })
            .collect()
    }

    fn walk(rows: &[AuditRow], mac: ChainMac) -> Result<(), (i64, String)> {
        let mut walker = ChainWalker::from_start(mac);
        rows.iter().try_for_each(|r| walker.check(r))
    }

    const KEY: [u8; 32] = [7; 32];

    /// Two chains written side by side, as concurrent appends on PostgreSQL
    /// do: each verifies on its own links; a row moved to the other chain,
    /// or a gap in one, breaks the walk; a range walk starts each chain
    /// where the range does.
    #[test]
    fn interleaved_chains_verify_each_on_its_own() {
        let mac = ChainMac::new(KEY, 1);
        let mut prev = [GENESIS_HASH.to_owned(), GENESIS_HASH.to_owned()];
        let mut pos = [0i64, 0];
        let rows: Vec<AuditRow> = (1..=10)
            .map(|seq| {
                let c = usize::from(seq % 3 == 0);
                pos[c] += 1;
                let mut r = row(seq, &prev[c], "system");
                r.chain = c as i32 + 1;
                r.pos = pos[c];
                r.hash = mac.hash(&r);
                prev[c].clone_from(&r.hash);
                r
            })
            .collect();
        assert_eq!(walk(&rows, mac.clone()), Ok(()));
        let mut walker = ChainWalker::from_start(mac.clone());
        rows.iter().for_each(|r| walker.check(r).unwrap());
        assert_eq!(walker.last(), (10, 10));
        let heads: Vec<(i32, i64)> = walker.heads().map(|(c, p, _)| (c, p)).collect();
        assert_eq!(heads, vec![(1, 7), (2, 3)]);

        let mut moved = rows.clone();
        moved[2].chain = 1; // seq 3 claims chain 1
        assert!(walk(&moved, mac.clone()).is_err());
        let mut gap = rows.clone();
        gap.remove(5); // seq 6: chain 2's second entry (seq 9 is its third)
        let err = walk(&gap, mac.clone()).unwrap_err();
        assert!(err.1.contains("entry 2 of chain 2 is missing"), "{err:?}");

        let mut range = ChainWalker::range(mac.clone());
        assert_eq!(rows[3..].iter().try_for_each(|r| range.check(r)), Ok(()));
        let mut from_start = ChainWalker::from_start(mac);
        assert!(
            rows[3..]
                .iter()
                .try_for_each(|r| from_start.check(r))
                .is_err()
        );
    }

    #[test]
    fn legacy_entries_before_the_marker_verify_and_keyed_ones_after() {
        // An upgraded deployment: 3 plain entries, keyed from entry 4.
        let mac = ChainMac::new(KEY, 4);
        let rows = chain(6, &mac);
        assert_eq!(
            rows[2].hash,
            legacy_hash(
                &rows[2].prev_hash,
                3,
                rows[2].at,
                "system",
                "test.action",
                "subject-3",
                "{}"
            )
        );
        assert_ne!(
            rows[3].hash,
            legacy_hash(
                &rows[3].prev_hash,
                4,
                rows[3].at,
                "system",
                "test.action",
                "subject-4",
                "{}"
            )
        );
        assert_eq!(walk(&rows, mac.clone()), Ok(()));
        // Under another key, the keyed part fails at its first entry.
        assert_eq!(walk(&rows, ChainMac::new([8; 32], 4)).unwrap_err().0, 4);
    }

    #[test]
    fn a_chain_rebuilt_with_plain_sha256_fails() {
        let mac = ChainMac::new(KEY, 1);
        let mut rows = chain(4, &mac);
        assert_eq!(walk(&rows, mac.clone()), Ok(()));
        // The attacker edits entry 2 and rebuilds every hash without the key.
        rows[1].actor = "someone-else".into();
        let mut prev = GENESIS_HASH.to_owned();
        for r in &mut rows {
            r.prev_hash.clone_from(&prev);
            r.hash = legacy_hash(
                &r.prev_hash,
                r.seq,
                r.at,
                &r.actor,
                &r.action,
                &r.subject,
                &r.details,
            );
            prev.clone_from(&r.hash);
        }
        let (seq, reason) = walk(&rows, mac).unwrap_err();
        assert_eq!(seq, 1);
        assert!(reason.contains("edited"), "{reason}");
    }

    #[test]
    fn the_marker_is_authenticated() {
        let sealed = format!("4:{}", marker_mac(&KEY, 4));
        assert_eq!(parse_marker(&KEY, &sealed), Ok(4));
        assert!(parse_marker(&[8; 32], &sealed).is_err());
        let moved = format!("9:{}", marker_mac(&KEY, 4));
        assert!(parse_marker(&KEY, &moved).is_err());
        assert!(parse_marker(&KEY, "9").is_err());
    }
}
