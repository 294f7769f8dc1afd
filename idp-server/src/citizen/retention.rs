//! The retention periods of `[retention]` (docs/operations.md,
//! "Retention"), enforced by `idp-admin purge`: [`purge`] removes what is
//! older than its period and reports counts per kind. It is idempotent
//! (what it removed is gone, a second run finds nothing) and writes audit
//! entries only when it removed something: one `account.purged` per
//! abandoned enrolment (the same erasure as a deletion by the citizen,
//! `citizen::rgpd::erase_in`, in its own transaction), then one
//! `retention.purged` with the counts, in the transaction of the other
//! kinds. The audit log itself is never purged (append-only, it holds no
//! personal data, docs/ARCHITECTURE.md, "Erasure and the audit chain").

use serde::Serialize;

use crate::app::Core;
use crate::config::RetentionConfig;
use crate::store::audit::{self, AuditEvent};
use crate::store::{StoreError, erasure};

/// The audit action of one purge run that removed something.
pub const PURGED: &str = "retention.purged";
/// The audit action of an abandoned enrolment erased by the purge.
pub const ENROLMENT_PURGED: &str = "account.purged";

const DAY: i64 = 24 * 3600;

/// What one purge removed, per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    /// Photos and videos of verification requests decided before the period.
    pub verification_media: usize,
    /// Accounts never verified and inactive for the period, erased.
    pub abandoned_enrolments: usize,
    /// Connection-history records older than the period.
    pub connection_history: usize,
    /// Refresh tokens expired for longer than the period.
    pub expired_refresh_tokens: usize,
}

impl Purged {
    pub fn total(&self) -> usize {
        self.verification_media
            + self.abandoned_enrolments
            + self.connection_history
            + self.expired_refresh_tokens
    }

    /// One (kind, count, period in days) per kind, in a fixed order.
    pub fn lines(&self, periods: &RetentionConfig) -> [(&'static str, usize, u32); 4] {
        [
            (
                "verification media",
                self.verification_media,
                periods.media_after_decision_days,
            ),
            (
                "abandoned enrolments",
                self.abandoned_enrolments,
                periods.abandoned_enrolment_days,
            ),
            (
                "connection history",
                self.connection_history,
                periods.connection_history_days,
            ),
            (
                "expired refresh tokens",
                self.expired_refresh_tokens,
                periods.expired_refresh_token_days,
            ),
        ]
    }
}

/// Removes everything past its retention period at `now` (unix seconds);
/// `actor` is the audit actor (`cli:<user>`).
pub async fn purge(core: &Core, now: i64, actor: &str) -> Result<Purged, StoreError> {
    let periods = core.config.retention.clone();
    let cutoff = |days: u32| now - i64::from(days) * DAY;
    let enrolment_cutoff = cutoff(periods.abandoned_enrolment_days);
    let abandoned = core
        .db
        .read(move |conn| erasure::abandoned_enrolments(conn, enrolment_cutoff, now, None))
        .await?;
    let mut purged = Purged::default();
    let key = core.subkeys.erasure_key;
    for id in abandoned {
        let who = actor.to_owned();
        let erased = core
            .db
            .write(move |conn| {
                // Checked again inside the transaction: it may have moved.
                let still = erasure::abandoned_enrolments(conn, enrolment_cutoff, now, Some(&id))?;
                if still.is_empty() {
                    return Ok(None);
                }
                super::rgpd::erase_in(conn, &key, &id, &who, ENROLMENT_PURGED)
            })
            .await?;
        purged.abandoned_enrolments += usize::from(erased.is_some());
    }
    let (media, history, tokens) = (
        cutoff(periods.media_after_decision_days),
        cutoff(periods.connection_history_days),
        cutoff(periods.expired_refresh_token_days),
    );
    let who = actor.to_owned();
    let enrolments = purged.abandoned_enrolments;
    core.db
        .write(move |conn| {
            let purged = Purged {
                verification_media: erasure::purge_decided_media(conn, media)?,
                abandoned_enrolments: enrolments,
                connection_history: erasure::purge_connection_history(conn, history)?,
                expired_refresh_tokens: erasure::purge_expired_refresh_tokens(conn, tokens)?,
            };
            if purged.total() > 0 {
                audit::append(
                    conn,
                    &AuditEvent {
                        actor: &who,
                        action: PURGED,
                        subject: "retention",
                        details: serde_json::json!({ "removed": purged }),
                    },
                )?;
            }
            Ok(purged)
        })
        .await
}
