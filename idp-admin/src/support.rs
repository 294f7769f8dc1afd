//! Account support shared by the CLI (`idp-admin accounts …`) and the
//! console's admin pages: find an account, show it, suspend it, lift the
//! suspension, send a new activation code. State changes go through the
//! domain state machine and a conditional transition, with their audit entry
//! in the same transaction. Refusals are `AdminError::Usage`: one line an
//! operator can read, on the CLI or on a page.

use idp_server::app::Core;
use idp_server::domain::account::{AccountEvent, AccountState};
use idp_server::domain::email::Email;
use idp_server::domain::phone::FrenchMobile;
use idp_server::notify::mask_phone;
use idp_server::store::accounts::{self, AccountRow, Change, Entry, IdentityRow, Refused};
use idp_server::store::agents::ActivationRow;
use idp_server::store::audit::{self, AuditRow};
use idp_server::store::devices::DeviceRow;
use idp_server::store::enrolment::{self as rows, RequestRow};
use idp_server::store::{Db, StoreError, agents, now_millis, now_unix, token_revocations};
use serde_json::{Value, json};

use std::io::Write;

use crate::{AdminError, blocking, format_time};

/// How many audit entries an overview lists.
pub const AUDIT_SHOWN: i64 = 20;
const SUSPEND: &str = "accounts.suspend";
const UNSUSPEND: &str = "accounts.unsuspend";

fn usage(message: impl Into<String>) -> AdminError {
    AdminError::Usage(message.into())
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
    pub fn parse(raw: &str) -> Result<Lookup, AdminError> {
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
pub async fn find(db: &Db, lookup: &Lookup) -> Result<AccountRow, AdminError> {
    let db = db.clone();
    match lookup {
        Lookup::Email(email) => {
            let address = email.clone();
            blocking(move || db.read_blocking(|conn| accounts::by_email(conn, &address)))
                .await?
                .ok_or_else(|| usage(format!("no account has the email address {email}")))
        }
        Lookup::Phone(phone) => {
            let number = phone.clone();
            let found =
                blocking(move || db.read_blocking(|conn| accounts::by_phone(conn, &number)))
                    .await?;
            // A number is only someone's once verified; an account still at
            // email_verified may hold it as unconfirmed input.
            let confirmed: Vec<&AccountRow> = found
                .iter()
                .filter(|a| a.state != AccountState::EmailVerified.as_str())
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
    conn: &mut idp_server::store::DbConnection,
    id: &str,
) -> Result<AccountState, StoreError> {
    accounts::by_id(conn, id)?
        .and_then(|a| AccountState::parse(&a.state))
        .ok_or_else(|| StoreError::Corrupt(format!("account {id} vanished or has no known state")))
}

/// What support sees of an account (never the document number).
pub struct Overview {
    pub identity: Option<IdentityRow>,
    pub request: Option<RequestRow>,
    /// A pending, unexpired activation code.
    pub activation: Option<ActivationRow>,
    /// The app installations, revoked ones included.
    pub devices: Vec<DeviceRow>,
    pub audit: Vec<AuditRow>,
}

pub async fn overview(db: &Db, account_id: &str) -> Result<Overview, AdminError> {
    let (db, id) = (db.clone(), account_id.to_owned());
    let (identity, request, activation, devices, audit) = blocking(move || {
        db.read_blocking(|conn| {
            Ok((
                accounts::identity(conn, &id)?,
                rows::latest_request(conn, &id)?,
                agents::activation(conn, &id)?,
                idp_server::store::devices::of_account(conn, &id)?,
                audit::for_subject(conn, &id, AUDIT_SHOWN)?,
            ))
        })
    })
    .await?;
    Ok(Overview {
        identity,
        request,
        activation: activation.filter(|a| a.expires_at > now_unix()),
        devices,
        audit,
    })
}

/// Suspends the account; returns the state it had.
pub async fn suspend(
    db: &Db,
    row: &AccountRow,
    actor: &str,
    reason: &str,
) -> Result<AccountState, AdminError> {
    let reason = reason.trim().to_owned();
    if reason.is_empty() {
        return Err(usage("a suspension needs a reason"));
    }
    let (db, id, who, why) = (db.clone(), row.id.clone(), actor.to_owned(), reason);
    let previous = blocking(move || {
        db.write_blocking(|conn| {
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
    })
    .await?
    .map_err(usage)?;
    Ok(previous)
}

/// Lifts a suspension: the account gets back the state it had before.
pub async fn unsuspend(
    db: &Db,
    row: &AccountRow,
    actor: &str,
    reason: Option<String>,
) -> Result<AccountState, AdminError> {
    let (db, id, who) = (db.clone(), row.id.clone(), actor.to_owned());
    let why = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    let restored = blocking(move || {
        db.write_blocking(|conn| {
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
    })
    .await?
    .map_err(usage)?;
    Ok(restored)
}

/// Revokes one of the account's devices (a lost or stolen phone): it can no
/// longer approve logins nor call the device API.
pub async fn revoke_device(
    core: &Core,
    row: &AccountRow,
    device_id: &str,
    actor: &str,
    reason: &str,
) -> Result<(), AdminError> {
    if reason.trim().is_empty() {
        return Err(usage("give the reason for revoking the device"));
    }
    match idp_server::device::devices::revoke(core, &row.id, device_id, actor, Some(reason.trim()))
        .await
    {
        Ok(()) => Ok(()),
        Err(idp_server::device::DeviceError::UnknownDevice) => Err(usage(format!(
            "no device {device_id} on this account, or it is already revoked"
        ))),
        Err(idp_server::device::DeviceError::Store(e)) => Err(e.into()),
        Err(e) => Err(usage(e.to_string())),
    }
}

/// Sends a new activation code (verified, active or device-locked accounts:
/// a first app, another phone, or after a lock); returns when it expires.
pub async fn reissue_activation(
    core: &Core,
    row: &AccountRow,
    actor: &str,
) -> Result<Option<i64>, AdminError> {
    let state = AccountState::parse(&row.state)
        .ok_or_else(|| usage(format!("the account has an unknown state {:?}", row.state)))?;
    if !matches!(
        state,
        AccountState::Verified | AccountState::Active | AccountState::DeviceLocked
    ) {
        return Err(usage(format!(
            "activation codes are only for accounts in state verified, active or device_locked; this one is {state}"
        )));
    }
    let sent = idp_server::verification::issue_activation_code(core, &row.id, actor)
        .await
        .map_err(|e| usage(e.to_string()))?;
    if !sent {
        return Err(usage("the account has no phone number to send the code to"));
    }
    let (db, id) = (core.db.clone(), row.id.clone());
    Ok(
        blocking(move || db.read_blocking(|conn| agents::activation(conn, &id)))
            .await?
            .map(|a| a.expires_at),
    )
}

/// The declared identity, never the document (kind and number are not read).
pub fn identity_view(i: &IdentityRow) -> Value {
    json!({
        "given_name": i.given_name,
        "family_name": i.family_name,
        "preferred_username": i.preferred_username,
        "birthdate": i.birthdate,
        "gender": i.gender,
        "birthplace": i.birthplace,
        "birthcountry": i.birthcountry,
        "verified_at": i.verified_at,
        "verification_method": i.verification_method,
    })
}

pub fn request_view(r: &RequestRow) -> Value {
    json!({
        "id": r.id,
        "method": r.method,
        "status": r.status,
        "reference": r.reference,
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "submitted_at": r.submitted_at,
        "decided_at": r.decided_at,
        "decided_by": r.decided_by,
        "office": r.office,
        "reason": r.reason,
    })
}

pub fn device_view(d: &DeviceRow) -> Value {
    json!({
        "id": d.id,
        "name": d.name,
        "state": d.state,
        "created_at": d.created_at,
        "last_used_at": d.last_used_at,
        "revoked_at": d.revoked_at,
        "pin_failures": d.pin_failures,
    })
}

pub fn audit_view(e: &AuditRow) -> Value {
    json!({
        "seq": e.seq,
        "at": e.at,
        "actor": e.actor,
        "action": e.action,
        "details": serde_json::from_str::<Value>(&e.details).unwrap_or_else(|_| Value::String(e.details.clone())),
    })
}

pub fn show_text(
    out: &mut impl Write,
    row: &AccountRow,
    identity: Option<&IdentityRow>,
    request: Option<&RequestRow>,
    activation: Option<&agents::ActivationRow>,
    devices: &[DeviceRow],
    entries: &[AuditRow],
) -> Result<(), AdminError> {
    let or_dash = |v: Option<&str>| v.unwrap_or("-").to_owned();
    let time = |t: Option<i64>| t.map(format_time).unwrap_or_else(|| "-".to_owned());
    writeln!(out, "account     {}", row.id)?;
    writeln!(out, "email       {}", row.email)?;
    writeln!(
        out,
        "phone       {}",
        row.phone.as_deref().map(mask_phone).unwrap_or("-".into())
    )?;
    writeln!(out, "state       {}", row.state)?;
    writeln!(
        out,
        "created     {} (updated {})",
        format_time(row.created_at),
        format_time(row.updated_at)
    )?;
    match identity {
        Some(i) => {
            writeln!(out, "identity    {} {}", i.given_name, i.family_name)?;
            if let Some(usage_name) = &i.preferred_username {
                writeln!(out, "            usage name {usage_name}")?;
            }
            writeln!(
                out,
                "            born {} ({}), birthplace {}, country {}",
                i.birthdate, i.gender, i.birthplace, i.birthcountry
            )?;
            match i.verified_at {
                Some(at) => writeln!(
                    out,
                    "            verified {} ({})",
                    format_time(at),
                    or_dash(i.verification_method.as_deref())
                )?,
                None => writeln!(out, "            not verified")?,
            }
        }
        None => writeln!(out, "identity    -")?,
    }
    match request {
        Some(r) => {
            writeln!(
                out,
                "request     {} {}, reference {}, created {}",
                r.method,
                r.status,
                or_dash(r.reference.as_deref()),
                format_time(r.created_at)
            )?;
            if r.decided_at.is_some() {
                writeln!(
                    out,
                    "            decided {} by {} at {}",
                    time(r.decided_at),
                    or_dash(r.decided_by.as_deref()),
                    or_dash(r.office.as_deref())
                )?;
            }
            if let Some(reason) = &r.reason {
                writeln!(out, "            reason: {reason}")?;
            }
        }
        None => writeln!(out, "request     -")?,
    }
    match activation {
        Some(a) => writeln!(
            out,
            "activation  code pending until {} ({} failed attempt(s))",
            format_time(a.expires_at),
            a.attempts
        )?,
        None => writeln!(out, "activation  no pending code")?,
    }
    if devices.is_empty() {
        writeln!(out, "devices     -")?;
    }
    for (i, d) in devices.iter().enumerate() {
        writeln!(
            out,
            "{} {} {:?} {}, activated {}, last used {}",
            if i == 0 { "devices    " } else { "           " },
            d.id,
            d.name,
            d.state,
            format_time(d.created_at),
            time(d.last_used_at)
        )?;
    }
    writeln!(
        out,
        "audit (latest {} entries, newest first)",
        entries.len()
    )?;
    for e in entries {
        writeln!(
            out,
            "  {:>6} {} {:<32} {} {}",
            e.seq,
            format_time(e.at),
            e.action,
            e.actor,
            e.details
        )?;
    }
    Ok(())
}

/// The account with this id, or a one-line refusal.
pub async fn by_id(db: &Db, account_id: &str) -> Result<AccountRow, AdminError> {
    let (db, id) = (db.clone(), account_id.to_owned());
    blocking(move || db.read_blocking(|conn| accounts::by_id(conn, &id)))
        .await?
        .ok_or_else(|| usage("no such account"))
}
