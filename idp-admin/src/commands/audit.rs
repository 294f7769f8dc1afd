//! `idp-admin audit export` (JSON lines for a SIEM, streamed) and
//! `idp-admin audit verify --export FILE` (checks an exported range against
//! the chain's key: the master key of the database it came from).
//!
//! Each exported line carries its chain position: `seq`, `prev_hash` and
//! `hash`. A range is intact when its entries are consecutive, each links to
//! the one before it and each matches its hash; its first `prev_hash` and its
//! last `hash` then tie it to the database's chain (or to the neighbouring
//! exports).

use std::io::{BufRead, Write};
use std::path::Path;

use idp_server::config::Config;
use idp_server::store::audit::{self, AuditRow, ChainMac, ChainWalker};
use idp_server::store::{Db, StoreError};
use serde::{Deserialize, Serialize};

use crate::{AdminError, format_time};

/// One exported entry. `details` is the stored JSON object; the hash covers
/// its compact serialisation, which is what the check recomputes.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    seq: i64,
    at: i64,
    time: String,
    actor: String,
    action: String,
    subject: String,
    details: serde_json::Value,
    prev_hash: String,
    hash: String,
    /// The entry's chain and position in it (exports written before the
    /// chains have neither: chain 1, position = seq).
    #[serde(default = "first_chain")]
    chain: i32,
    #[serde(default)]
    pos: Option<i64>,
}

fn first_chain() -> i32 {
    1
}

impl Line {
    fn new(row: AuditRow) -> Result<Self, AdminError> {
        let details = serde_json::from_str(&row.details).map_err(|e| {
            AdminError::Store(StoreError::Corrupt(format!(
                "audit entry {} has details that are not JSON: {e}",
                row.seq
            )))
        })?;
        Ok(Line {
            seq: row.seq,
            at: row.at,
            time: format_time(row.at),
            actor: row.actor,
            action: row.action,
            subject: row.subject,
            details,
            prev_hash: row.prev_hash,
            hash: row.hash,
            chain: row.chain,
            pos: Some(row.pos),
        })
    }

    fn into_row(self) -> AuditRow {
        AuditRow {
            seq: self.seq,
            at: self.at,
            actor: self.actor,
            action: self.action,
            subject: self.subject,
            details: self.details.to_string(),
            prev_hash: self.prev_hash,
            hash: self.hash,
            chain: self.chain,
            pos: self.pos.unwrap_or(self.seq),
        }
    }
}

/// `--since`: RFC 3339, a UTC date, or unix seconds.
pub fn parse_since(raw: &str) -> Result<i64, AdminError> {
    if let Ok(unix) = raw.parse::<i64>() {
        return Ok(unix);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.timestamp());
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        && let Some(midnight) = day.and_hms_opt(0, 0, 0)
    {
        return Ok(midnight.and_utc().timestamp());
    }
    Err(AdminError::Usage(format!(
        "--since {raw:?} is not a time: use RFC 3339 (2026-12-01T08:00:00Z), a date (2026-12-01) or unix seconds"
    )))
}

/// Streams the entries written at or after `since` (all without it) as JSON
/// lines. Rows are read in batches on a blocking thread and written as they
/// come, so memory stays flat whatever the size of the log.
pub async fn export(
    config: &Config,
    since: Option<&str>,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let since = since.map(parse_since).transpose()?;
    let db = Db::new(config)?;
    let (lines, mut receive) = tokio::sync::mpsc::channel::<String>(256);
    let reader = tokio::task::spawn_blocking(move || -> Result<(), AdminError> {
        db.read_blocking(|conn| {
            let from = match since {
                Some(at) => match audit::first_seq_since(conn, at)? {
                    Some(seq) => seq,
                    None => return Ok(()),
                },
                None => 1,
            };
            audit::each_from(conn, from, |row| {
                let line = serde_json::to_string(&Line::new(row).map_err(to_store)?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                // The writer has gone (output closed): stop reading.
                lines
                    .blocking_send(line)
                    .map_err(|_| StoreError::Unavailable("output closed".into()))
            })
        })
        .map_err(AdminError::from)
    });
    while let Some(line) = receive.recv().await {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    match reader.await {
        Ok(result) => result,
        Err(e) => Err(AdminError::Store(StoreError::Unavailable(e.to_string()))),
    }
}

fn to_store(e: AdminError) -> StoreError {
    match e {
        AdminError::Store(inner) => inner,
        other => StoreError::Corrupt(other.to_string()),
    }
}

/// Checks a file written by [`export`] (`-`: standard input).
/// `mac` is the database's chain rule ([`audit::chain_mac`]): an export can
/// be checked only with the master key it was written under.
pub fn verify_export(
    file: &Path,
    mac: ChainMac,
    json: bool,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let input: Box<dyn BufRead> = if file == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        let opened = std::fs::File::open(file)
            .map_err(|e| AdminError::Usage(format!("cannot read {}: {e}", file.display())))?;
        Box::new(std::io::BufReader::new(opened))
    };
    let mut walker = ChainWalker::range(mac);
    let mut first: Option<(i64, String)> = None;
    for (n, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&line).map_err(|e| {
            AdminError::Usage(format!(
                "line {} is not an exported audit entry: {e}",
                n + 1
            ))
        })?;
        let row = parsed.into_row();
        first.get_or_insert_with(|| (row.seq, row.prev_hash.clone()));
        if let Err((seq, reason)) = walker.check(&row) {
            return Err(AdminError::AuditBroken { seq, reason });
        }
    }
    let Some((from, links_to)) = first else {
        return Err(AdminError::Usage("the export holds no entry".into()));
    };
    let (to, entries) = walker.last();
    let last_hash = walker.last_hash();
    if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "intact": true, "from": from, "to": to, "entries": entries,
                "prev_hash": links_to, "last_hash": last_hash,
            })
        )?;
    } else {
        writeln!(
            out,
            "exported range intact: entries {from} to {to} ({entries} entries); it follows hash {links_to} and ends with hash {last_hash}"
        )?;
    }
    Ok(())
}
