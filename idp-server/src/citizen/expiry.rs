//! Identity documents coming to their expiry (#16): the list operators read
//! (`idp-admin accounts expiring --days N`) and the reminder emailed once
//! per document (`--notify`, safe to run from a daily cron). Past the expiry
//! day the identity no longer proves eidas2 for a new login
//! (`device::challenge::start` reads the date with the approving account).

use chrono::{Days, NaiveDate};
use diesel::prelude::*;
use serde::Serialize;

use crate::app::Core;
use crate::domain::account::AccountState;
use crate::store::accounts::Entry;
use crate::store::schema::{accounts as a, documents as d, identities as i};
use crate::store::{Db, DbConnection, StoreError, now_unix};

/// A verified identity whose document expires soon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expiring {
    pub account_id: String,
    pub email: String,
    pub state: AccountState,
    /// `YYYY-MM-DD`, the last day the document is valid.
    pub expires_on: String,
    /// When the reminder was sent (unix seconds), if it was.
    pub reminded_at: Option<i64>,
}

/// The verified identities whose document expires from `today` to
/// `today + days` (both included), soonest first.
pub async fn expiring(db: &Db, today: NaiveDate, days: u32) -> Result<Vec<Expiring>, StoreError> {
    let (from, to) = window(today, days);
    db.read(move |conn| within(conn, &from, &to)).await
}

fn window(today: NaiveDate, days: u32) -> (String, String) {
    let last = today
        .checked_add_days(Days::new(u64::from(days)))
        .unwrap_or(NaiveDate::MAX);
    let iso = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    (iso(today), iso(last))
}

fn within(conn: &mut DbConnection, from: &str, to: &str) -> Result<Vec<Expiring>, StoreError> {
    // Stored as `YYYY-MM-DD`: text order is date order on both backends.
    let rows: Vec<(String, String, AccountState, String, Option<i64>)> = d::table
        .inner_join(a::table)
        .filter(d::expires_on.ge(from).and(d::expires_on.le(to)))
        .filter(diesel::dsl::exists(
            i::table
                .filter(i::account_id.eq(d::account_id))
                .filter(i::verified_at.is_not_null()),
        ))
        .order((d::expires_on.asc(), a::email.asc()))
        .select((
            a::id,
            a::email,
            a::state,
            d::expires_on,
            d::expiry_reminded_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(account_id, email, state, expires_on, reminded_at)| Expiring {
                account_id,
                email,
                state,
                expires_on,
                reminded_at,
            },
        )
        .collect())
}

/// Emails the reminder to every identity of [`expiring`] not yet reminded
/// for its current document. Each reminder is claimed in one transaction
/// (a conditional update of the document, one audit entry) before the email
/// goes, so concurrent or repeated runs send it once. Returns those
/// reminded now.
pub async fn remind(
    core: &Core,
    today: NaiveDate,
    days: u32,
    actor: &str,
) -> Result<Vec<Expiring>, StoreError> {
    let due: Vec<Expiring> = expiring(&core.db, today, days)
        .await?
        .into_iter()
        .filter(|e| e.reminded_at.is_none())
        .collect();
    let url = format!("{}/compte", core.config.issuer());
    let mut sent = Vec::new();
    for mut one in due {
        let (id, expires_on, who) = (
            one.account_id.clone(),
            one.expires_on.clone(),
            actor.to_owned(),
        );
        let claimed = core
            .db
            .write(move |conn| claim(conn, &id, &expires_on, &who))
            .await?;
        let Some(at) = claimed else { continue };
        let email = crate::notify::citizen::document_expiring(&one.email, &one.expires_on, &url);
        if let Err(e) = core.notifier.send_email(&email).await {
            tracing::warn!(error = %e, "could not send the document expiry reminder");
        }
        one.reminded_at = Some(at);
        sent.push(one);
    }
    Ok(sent)
}

/// Marks the reminder of this document sent, if nobody did: the time, or
/// `None` if it already was (or the document changed meanwhile).
fn claim(
    conn: &mut DbConnection,
    account_id: &str,
    expires_on: &str,
    actor: &str,
) -> Result<Option<i64>, StoreError> {
    let now = now_unix();
    let claimed = diesel::update(
        d::table.filter(
            d::account_id
                .eq(account_id)
                .and(d::expires_on.eq(expires_on))
                .and(d::expiry_reminded_at.is_null()),
        ),
    )
    .set(d::expiry_reminded_at.eq(Some(now)))
    .execute(conn)?;
    if claimed != 1 {
        return Ok(None);
    }
    Entry {
        actor: actor.to_owned(),
        action: "document.expiry_reminded",
        details: serde_json::json!({ "expires_on": expires_on }),
    }
    .append(conn, account_id)?;
    Ok(Some(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_includes_both_ends() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap_or_default();
        assert_eq!(
            window(today, 30),
            ("2026-12-03".to_owned(), "2027-01-02".to_owned())
        );
        assert_eq!(
            window(today, 0),
            ("2026-12-03".to_owned(), "2026-12-03".to_owned())
        );
    }
}
