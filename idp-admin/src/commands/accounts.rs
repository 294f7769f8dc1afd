//! `idp-admin accounts …`: account support for operators (look an account
//! up, suspend it, lift the suspension, send a new activation code).
//!
//! State changes go through the domain state machine and a conditional
//! transition, with their audit entry in the same transaction.

use std::io::Write;

use clap::Subcommand;
use idp_server::app::Core;
use idp_server::config::Config;
use idp_server::domain::account::{AccountEvent, AccountState};
use idp_server::domain::email::Email;
use idp_server::domain::phone::FrenchMobile;
use idp_server::notify::mask_phone;
use idp_server::store::accounts::{self, AccountRow, IdentityRow};
use idp_server::store::audit::{self, AuditEvent, AuditRow};
use idp_server::store::enrolment::{self as rows, RequestRow};
use idp_server::store::{Db, StoreError, agents, now_unix};
use serde_json::{Value, json};

use crate::{AdminError, actor, blocking, format_time};

/// How many audit entries `accounts show` lists.
const AUDIT_SHOWN: i64 = 20;
const SUSPEND: &str = "accounts.suspend";
const UNSUSPEND: &str = "accounts.unsuspend";

#[derive(Subcommand, Debug)]
pub enum AccountsCommand {
    /// Show an account: state, identity, latest verification request,
    /// pending activation code and its last audit entries.
    Show {
        /// The account's email address or French mobile number.
        account: String,
    },
    /// Suspend an account: it can no longer log in or refresh tokens.
    Suspend {
        /// The account's email address or French mobile number.
        account: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Lift a suspension: the account gets back the state it had before.
    Unsuspend {
        /// The account's email address or French mobile number.
        account: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Send a new app activation code by SMS and email (the previous one stops working).
    ReissueActivation {
        /// The account's email address or French mobile number.
        account: String,
    },
}

fn usage(message: impl Into<String>) -> AdminError {
    AdminError::Usage(message.into())
}

pub async fn run(
    command: AccountsCommand,
    config: Config,
    master_key_env: Option<String>,
    json: bool,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    match command {
        AccountsCommand::Show { account } => {
            let lookup = Lookup::parse(&account)?;
            let core = Core::init(config, master_key_env).await?;
            let row = find(&core.db, &lookup).await?;
            let db = core.db.clone();
            let id = row.id.clone();
            let (identity, request, activation, entries) = blocking(move || {
                db.read_blocking(|conn| {
                    Ok((
                        accounts::identity(conn, &id)?,
                        rows::latest_request(conn, &id)?,
                        agents::activation(conn, &id)?,
                        audit::for_subject(conn, &id, AUDIT_SHOWN)?,
                    ))
                })
            })
            .await?;
            let activation = activation.filter(|a| a.expires_at > now_unix());
            let view = json!({
                "id": row.id,
                "email": row.email,
                "phone": row.phone.as_deref().map(mask_phone),
                "state": row.state,
                "created_at": row.created_at,
                "updated_at": row.updated_at,
                "identity": identity.as_ref().map(identity_view),
                "latest_request": request.as_ref().map(request_view),
                "activation_code": match &activation {
                    Some(a) => json!({ "pending": true, "expires_at": a.expires_at, "failed_attempts": a.attempts }),
                    None => json!({ "pending": false }),
                },
                "audit": entries.iter().map(audit_view).collect::<Vec<_>>(),
            });
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&view)?)?;
            } else {
                show_text(
                    out,
                    &row,
                    identity.as_ref(),
                    request.as_ref(),
                    activation.as_ref(),
                    &entries,
                )?;
            }
        }
        AccountsCommand::Suspend { account, reason } => {
            let reason = reason.trim().to_owned();
            if reason.is_empty() {
                return Err(usage("--reason must not be empty"));
            }
            let lookup = Lookup::parse(&account)?;
            let core = Core::init(config, master_key_env).await?;
            let row = find(&core.db, &lookup).await?;
            let (db, id, who) = (core.db.clone(), row.id.clone(), actor());
            let why = reason.clone();
            let previous = blocking(move || {
                db.write_blocking(|conn| {
                    let current = current_state(conn, &id)?;
                    let Ok(next) = current.apply(AccountEvent::Suspend) else {
                        return Ok(Err(format!("the account is already {current}")));
                    };
                    if !rows::transition(conn, &id, current.as_str(), next.as_str())? {
                        return Ok(Err(CHANGED.to_owned()));
                    }
                    audit::append(
                        conn,
                        &AuditEvent {
                            actor: &who,
                            action: SUSPEND,
                            subject: &id,
                            details: json!({ "reason": why, "previous_state": current.as_str() }),
                        },
                    )?;
                    Ok(Ok(current))
                })
            })
            .await?
            .map_err(usage)?;
            if json {
                writeln!(
                    out,
                    "{}",
                    json!({ "account": row.id, "state": AccountState::Suspended.as_str(), "previous_state": previous.as_str() })
                )?;
            } else {
                writeln!(out, "{}: suspended (was {previous})", row.email)?;
            }
        }
        AccountsCommand::Unsuspend { account, reason } => {
            let lookup = Lookup::parse(&account)?;
            let core = Core::init(config, master_key_env).await?;
            let row = find(&core.db, &lookup).await?;
            let (db, id, who) = (core.db.clone(), row.id.clone(), actor());
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
                    let next = match current.restore_from_suspension(previous) {
                        Ok(next) => next,
                        Err(e) => return Ok(Err(e.to_string())),
                    };
                    if !rows::transition(conn, &id, current.as_str(), next.as_str())? {
                        return Ok(Err(CHANGED.to_owned()));
                    }
                    audit::append(
                        conn,
                        &AuditEvent {
                            actor: &who,
                            action: UNSUSPEND,
                            subject: &id,
                            details: json!({
                                "restored_state": next.as_str(),
                                "suspension": entry.seq,
                                "reason": why,
                            }),
                        },
                    )?;
                    Ok(Ok(next))
                })
            })
            .await?
            .map_err(usage)?;
            if json {
                writeln!(
                    out,
                    "{}",
                    json!({ "account": row.id, "state": restored.as_str() })
                )?;
            } else {
                writeln!(out, "{}: suspension lifted, back to {restored}", row.email)?;
            }
        }
        AccountsCommand::ReissueActivation { account } => {
            let lookup = Lookup::parse(&account)?;
            let core = Core::init(config, master_key_env).await?;
            let row = find(&core.db, &lookup).await?;
            let state = AccountState::parse(&row.state).ok_or_else(|| {
                usage(format!("the account has an unknown state {:?}", row.state))
            })?;
            if !matches!(state, AccountState::Verified | AccountState::DeviceLocked) {
                return Err(usage(format!(
                    "activation codes are only for accounts in state verified or device_locked; this one is {state}"
                )));
            }
            let sent = idp_server::verification::issue_activation_code(&core, &row.id, &actor())
                .await
                .map_err(|e| usage(e.to_string()))?;
            if !sent {
                return Err(usage("the account has no phone number to send the code to"));
            }
            let (db, id) = (core.db.clone(), row.id.clone());
            let expires_at =
                blocking(move || db.read_blocking(|conn| agents::activation(conn, &id)))
                    .await?
                    .map(|a| a.expires_at);
            let phone = row.phone.as_deref().map(mask_phone).unwrap_or_default();
            if json {
                writeln!(
                    out,
                    "{}",
                    json!({ "account": row.id, "sent_to": { "phone": phone, "email": row.email }, "expires_at": expires_at })
                )?;
            } else {
                writeln!(
                    out,
                    "{}: new activation code sent by SMS to {phone} and by email{}; the previous code no longer works",
                    row.email,
                    expires_at
                        .map(|t| format!(", valid until {}", format_time(t)))
                        .unwrap_or_default()
                )?;
            }
        }
    }
    Ok(())
}

const CHANGED: &str = "the account changed meanwhile; run the command again";

/// How the operator named the account.
enum Lookup {
    /// Lower-cased address.
    Email(String),
    /// E.164 number.
    Phone(String),
}

impl Lookup {
    fn parse(raw: &str) -> Result<Lookup, AdminError> {
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
async fn find(db: &Db, lookup: &Lookup) -> Result<AccountRow, AdminError> {
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

/// The declared identity, never the document (kind and number are not read).
fn identity_view(i: &IdentityRow) -> Value {
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

fn request_view(r: &RequestRow) -> Value {
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

fn audit_view(e: &AuditRow) -> Value {
    json!({
        "seq": e.seq,
        "at": e.at,
        "actor": e.actor,
        "action": e.action,
        "details": serde_json::from_str::<Value>(&e.details).unwrap_or_else(|_| Value::String(e.details.clone())),
    })
}

fn show_text(
    out: &mut impl Write,
    row: &AccountRow,
    identity: Option<&IdentityRow>,
    request: Option<&RequestRow>,
    activation: Option<&agents::ActivationRow>,
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
