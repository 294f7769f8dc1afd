//! Account support shared by the CLI (`idp-admin accounts …`) and the
//! console's admin pages: find an account, show it, suspend it, lift the
//! suspension, send a new activation code. State changes go through the
//! domain state machine and a conditional transition, with their audit entry
//! in the same transaction. Refusals are `SupportError::Refused`: one line an
//! operator can read, on the CLI or on a page.

use crate::app::Core;
use crate::domain::account::{AccountEvent, AccountState};
use crate::domain::email::Email;
use crate::domain::phone::FrenchMobile;
use crate::notify::mask_phone;
use crate::store::accounts::{self, AccountRow, Change, Entry, Refused};
use crate::store::audit;
use crate::store::enrolment as rows;
use crate::store::{Db, StoreError, agents, now_millis, now_unix, token_revocations};
use crate::views::{Account, Activation, AuditEntry, Device, Identity, Request};
use serde_json::{Value, json};

/// Why support could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SupportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A refusal an operator can read (CLI line or console message).
    #[error("{0}")]
    Refused(String),
}

/// How many audit entries an overview lists.
pub const AUDIT_SHOWN: i64 = 20;
const SUSPEND: &str = "accounts.suspend";
const UNSUSPEND: &str = "accounts.unsuspend";

fn usage(message: impl Into<String>) -> SupportError {
    SupportError::Refused(message.into())
}

const CHANGED: &str = "the account changed meanwhile; try again";

/// How the operator named the account.
pub enum Lookup {
    /// Lower-cased address.
    Email(String),
    /// E.164 number.
    Phone(String),
}

impl Lookup {
    pub fn parse(raw: &str) -> Result<Lookup, SupportError> {
        if raw.contains('@') {
            return Email::parse(raw)
                .map(|e| Lookup::Email(e.as_str().to_owned()))
                .map_err(|e| usage(format!("{raw:?} is not a valid email address ({e})")));
        }
        FrenchMobile::parse(raw)
            .map(|p| Lookup::Phone(p.as_str().to_owned()))
            .map_err(|_| {
                usage(format!(
                    "{raw:?} is neither an email address nor a French mobile number"
                ))
            })
    }
}

/// The account named by `lookup`, or a one-line error.
pub async fn find(db: &Db, lookup: &Lookup) -> Result<Account, SupportError> {
    find_row(db, lookup).await.map(Account::from)
}

async fn find_row(db: &Db, lookup: &Lookup) -> Result<AccountRow, SupportError> {
    let db = db.clone();
    match lookup {
        Lookup::Email(email) => {
            let address = email.clone();
            db.read(move |conn| accounts::by_email(conn, &address))
                .await?
                .ok_or_else(|| usage(format!("no account has the email address {email}")))
        }
        Lookup::Phone(phone) => {
            let number = phone.clone();
            let found = db
                .read(move |conn| accounts::by_phone(conn, &number))
                .await?;
            // A number is only someone's once verified; an account still at
            // email_verified may hold it as unconfirmed input.
            let confirmed: Vec<&AccountRow> = found
                .iter()
                .filter(|a| a.state != AccountState::EmailVerified)
                .collect();
            match (confirmed.as_slice(), found.as_slice()) {
                ([one], _) => Ok((*one).clone()),
                ([], [one]) => Ok(one.clone()),
                ([], []) => Err(usage(format!(
                    "no account has the phone number {}",
                    mask_phone(phone)
                ))),
                _ => Err(usage(format!(
                    "several accounts use the phone number {}; name the account by its email",
                    mask_phone(phone)
                ))),
            }
        }
    }
}

/// The account's state, read inside the transaction that changes it.
fn current_state(
    conn: &mut crate::store::DbConnection,
    id: &str,
) -> Result<AccountState, StoreError> {
    accounts::by_id(conn, id)?
        .map(|a| a.state)
        .ok_or_else(|| StoreError::Corrupt(format!("account {id} vanished")))
}

/// What support sees of an account (never the document number).
pub struct Overview {
    pub identity: Option<Identity>,
    pub request: Option<Request>,
    /// A pending, unexpired activation code.
    pub activation: Option<Activation>,
    /// The app installations, revoked ones included.
    pub devices: Vec<Device>,
    pub audit: Vec<AuditEntry>,
}

pub async fn overview(db: &Db, account_id: &str) -> Result<Overview, SupportError> {
    let (db, id) = (db.clone(), account_id.to_owned());
    let (identity, request, activation, devices, audit) = db
        .read(move |conn| {
            Ok((
                accounts::identity(conn, &id)?,
                rows::latest_request(conn, &id)?,
                agents::activation(conn, &id)?,
                crate::store::devices::of_account(conn, &id)?,
                audit::for_subject(conn, &id, AUDIT_SHOWN)?,
            ))
        })
        .await?;
    Ok(Overview {
        identity: identity.map(Identity::from),
        request: request.map(Request::from),
        activation: activation
            .filter(|a| a.expires_at > now_unix())
            .map(Activation::from),
        devices: devices.into_iter().map(Device::from).collect(),
        audit: audit.into_iter().map(AuditEntry::from).collect(),
    })
}

/// Suspends the account; returns the state it had.
pub async fn suspend(
    db: &Db,
    row: &Account,
    actor: &str,
    reason: &str,
) -> Result<AccountState, SupportError> {
    let reason = reason.trim().to_owned();
    if reason.is_empty() {
        return Err(usage("a suspension needs a reason"));
    }
    let (db, id, who, why) = (db.clone(), row.id.clone(), actor.to_owned(), reason);
    let previous = db
        .write(move |conn| {
            let moved = accounts::transition(
                conn,
                &id,
                Change::Event(AccountEvent::Suspend),
                |conn, moved| {
                    // Its access tokens stop at once, and stay stopped if the
                    // suspension is lifted before they expire.
                    token_revocations::revoke_all(conn, &id, now_millis())?;
                    Ok(Entry {
                        actor: who,
                        action: SUSPEND,
                        details: json!({ "reason": why, "previous_state": moved.from.as_str() }),
                    })
                },
            )?;
            Ok(match moved {
                Ok(moved) => Ok(moved.from),
                Err(Refused::Illegal { current, .. }) => {
                    Err(format!("the account is already {current}"))
                }
                Err(Refused::Raced { .. }) => Err(CHANGED.to_owned()),
            })
        })
        .await?
        .map_err(usage)?;
    Ok(previous)
}

/// Lifts a suspension: the account gets back the state it had before.
pub async fn unsuspend(
    db: &Db,
    row: &Account,
    actor: &str,
    reason: Option<String>,
) -> Result<AccountState, SupportError> {
    let (db, id, who) = (db.clone(), row.id.clone(), actor.to_owned());
    let why = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    let restored = db
        .write(move |conn| {
            let current = current_state(conn, &id)?;
            if current != AccountState::Suspended {
                return Ok(Err(format!(
                    "the account is not suspended (it is {current})"
                )));
            }
            let Some(entry) = audit::latest_for_subject(conn, &id, SUSPEND)? else {
                return Ok(Err(format!(
                    "no {SUSPEND} audit entry records the state before the suspension"
                )));
            };
            let Some(previous) = serde_json::from_str::<Value>(&entry.details)
                .ok()
                .and_then(|d| d["previous_state"].as_str().and_then(AccountState::parse))
            else {
                return Ok(Err(format!(
                    "audit entry {} does not name a known previous state",
                    entry.seq
                )));
            };
            let moved = accounts::transition(
                conn,
                &id,
                Change::LiftSuspension { to: previous },
                |_, moved| {
                    Ok(Entry {
                        actor: who,
                        action: UNSUSPEND,
                        details: json!({
                            "restored_state": moved.to.as_str(),
                            "suspension": entry.seq,
                            "reason": why,
                        }),
                    })
                },
            )?;
            Ok(match moved {
                Ok(moved) => Ok(moved.to),
                Err(Refused::Illegal { why, .. }) => Err(why.to_string()),
                Err(Refused::Raced { .. }) => Err(CHANGED.to_owned()),
            })
        })
        .await?
        .map_err(usage)?;
    Ok(restored)
}

/// Revokes one of the account's devices (a lost or stolen phone): it can no
/// longer approve logins nor call the device API.
pub async fn revoke_device(
    core: &Core,
    row: &Account,
    device_id: &str,
    actor: &str,
    reason: &str,
) -> Result<(), SupportError> {
    if reason.trim().is_empty() {
        return Err(usage("give the reason for revoking the device"));
    }
    match crate::device::devices::revoke(core, &row.id, device_id, actor, Some(reason.trim())).await
    {
        Ok(()) => Ok(()),
        Err(crate::device::DeviceError::UnknownDevice) => Err(usage(format!(
            "no device {device_id} on this account, or it is already revoked"
        ))),
        Err(crate::device::DeviceError::Store(e)) => Err(e.into()),
        Err(e) => Err(usage(e.to_string())),
    }
}

/// Sends a new activation code (verified, active, device-locked or blocked
/// accounts: a first app, another phone, after a lock, or to unblock the
/// identity, which the code moves back to verified); returns when it expires.
pub async fn reissue_activation(
    core: &Core,
    row: &Account,
    actor: &str,
) -> Result<Option<i64>, SupportError> {
    let state = row.state;
    if !matches!(
        state,
        AccountState::Verified
            | AccountState::Active
            | AccountState::DeviceLocked
            | AccountState::Blocked
    ) {
        return Err(usage(format!(
            "activation codes are only for accounts in state verified, active or device_locked (or blocked, which the code unblocks); this one is {state}"
        )));
    }
    let sent = crate::verification::issue_activation_code(core, &row.id, actor)
        .await
        .map_err(|e| usage(e.to_string()))?;
    if !sent {
        return Err(usage("the account has no phone number to send the code to"));
    }
    let (db, id) = (core.db.clone(), row.id.clone());
    Ok(db
        .read(move |conn| agents::activation(conn, &id))
        .await?
        .map(|a| a.expires_at))
}

/// Blocks the identity (lost or stolen phone, fraud):
/// [`crate::citizen::block::block_identity`]. An account already blocked is
/// left as it is (`Blocked::Already`).
pub async fn block(
    core: &Core,
    row: &Account,
    actor: &str,
) -> Result<crate::citizen::block::Blocked, SupportError> {
    use crate::citizen::block::{BlockError, block_identity};
    use crate::outcome::Split;
    match block_identity(core, &row.id, actor).await.split() {
        Ok(Ok(blocked)) => Ok(blocked),
        Ok(Err(refusal)) => Err(usage(refusal.to_string())),
        Err(BlockError::Store(e)) => Err(e.into()),
        Err(BlockError::Device(e)) => Err(usage(e.to_string())),
    }
}

/// A "Ce n'est pas moi" report, as support lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FraudReport {
    pub at: i64,
    pub partner: String,
    /// The approximate address (`203.0.113.x`), empty if unknown.
    pub place: String,
}

/// The account's most recent fraud reports (at most [`AUDIT_SHOWN`]),
/// newest first, from the audit log.
pub async fn fraud_reports(db: &Db, account_id: &str) -> Result<Vec<FraudReport>, SupportError> {
    let (db, id) = (db.clone(), account_id.to_owned());
    let rows = db
        .read(move |conn| {
            audit::for_subject_action(
                conn,
                &id,
                crate::device::challenge::FRAUD_REPORTED,
                AUDIT_SHOWN,
            )
        })
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let details: Value = serde_json::from_str(&row.details).unwrap_or(Value::Null);
            let text = |k: &str| details[k].as_str().unwrap_or_default().to_owned();
            FraudReport {
                at: row.at,
                partner: match text("partner") {
                    p if p.is_empty() => text("client"),
                    p => p,
                },
                place: text("place"),
            }
        })
        .collect())
}

/// The account with this id, or a one-line refusal.
pub async fn by_id(db: &Db, account_id: &str) -> Result<Account, SupportError> {
    let (db, id) = (db.clone(), account_id.to_owned());
    db.read(move |conn| accounts::by_id(conn, &id))
        .await?
        .map(Account::from)
        .ok_or_else(|| usage("no such account"))
}
