//! `idp-admin accounts …`: account support for operators (look an account
//! up, suspend it, lift the suspension, send a new activation code, revoke
//! a device, block the identity).
//!
//! State changes go through the domain state machine and a conditional
//! transition, with their audit entry in the same transaction.

use std::io::Write;

use clap::Subcommand;
use idp_server::app::Core;
use idp_server::citizen::block::Blocked;
use idp_server::citizen::expiry;
use idp_server::config::Config;
use idp_server::domain::account::AccountState;
use idp_server::notify::mask_phone;
use serde_json::json;

use idp_server::support;
use idp_server::views::{Account, Activation, AuditEntry, Device, Identity, Request};
use serde_json::Value;

use crate::{AdminError, actor, format_time};

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
    /// Block the digital identity (lost or stolen phone): every device
    /// revoked, pending approvals cancelled, sessions and tokens ended, the
    /// citizen told by email and SMS; eidas2 is refused until a new
    /// activation code (`reissue-activation`) unblocks it.
    Block {
        /// The account's email address or French mobile number.
        account: String,
    },
    /// List the verified identities whose document expires within N days
    /// (soonest first); with --notify, email each citizen the reminder,
    /// once per document (safe to run daily from cron).
    Expiring {
        /// How many days ahead (today included).
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Email the reminder to those not reminded yet for this document.
        #[arg(long)]
        notify: bool,
    },
    /// Revoke one of the account's app installations (lost or stolen phone).
    RevokeDevice {
        /// The account's email address or French mobile number.
        account: String,
        /// The device id (see `accounts show`).
        #[arg(long)]
        device: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
    },
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
            let core = Core::init(config, master_key_env).await?;
            let row = support::find(&core.db, &support::Lookup::parse(&account)?).await?;
            let support::Overview {
                identity,
                request,
                activation,
                devices,
                audit: entries,
            } = support::overview(&core.db, &row.id).await?;
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
                "devices": devices.iter().map(device_view).collect::<Vec<_>>(),
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
                    &devices,
                    &entries,
                )?;
            }
        }
        AccountsCommand::Suspend { account, reason } => {
            if reason.trim().is_empty() {
                return Err(AdminError::Usage("--reason must not be empty".into()));
            }
            let core = Core::init(config, master_key_env).await?;
            let row = support::find(&core.db, &support::Lookup::parse(&account)?).await?;
            let previous = support::suspend(&core.db, &row, &actor(), &reason).await?;
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
            let core = Core::init(config, master_key_env).await?;
            let row = support::find(&core.db, &support::Lookup::parse(&account)?).await?;
            let restored = support::unsuspend(&core.db, &row, &actor(), reason).await?;
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
            let core = Core::init(config, master_key_env).await?;
            let row = support::find(&core.db, &support::Lookup::parse(&account)?).await?;
            let expires_at = support::reissue_activation(&core, &row, &actor()).await?;
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
        AccountsCommand::Block { account } => {
            let core = Core::init(config, master_key_env).await?;
            let row = support::find(&core.db, &support::Lookup::parse(&account)?).await?;
            let blocked = support::block(&core, &row, &actor()).await?;
            let revoked = match blocked {
                Blocked::Now { devices, .. } => Some(devices),
                Blocked::Already => None,
            };
            if json {
                writeln!(
                    out,
                    "{}",
                    json!({ "account": row.id, "state": AccountState::Blocked.as_str(), "already_blocked": revoked.is_none(), "devices_revoked": revoked.unwrap_or(0) })
                )?;
            } else if let Some(devices) = revoked {
                writeln!(
                    out,
                    "{}: identity blocked ({devices} device(s) revoked, sessions and tokens ended, citizen told by email and SMS); reissue-activation unblocks it",
                    row.email
                )?;
            } else {
                writeln!(out, "{}: already blocked; nothing changed", row.email)?;
            }
        }
        AccountsCommand::Expiring { days, notify } => {
            let core = Core::init(config, master_key_env).await?;
            expiring(&core, days, notify, json, out).await?;
        }
        AccountsCommand::RevokeDevice {
            account,
            device,
            reason,
        } => {
            let core = Core::init(config, master_key_env).await?;
            let row = support::find(&core.db, &support::Lookup::parse(&account)?).await?;
            support::revoke_device(&core, &row, &device, &actor(), &reason).await?;
            if json {
                writeln!(
                    out,
                    "{}",
                    json!({ "account": row.id, "device": device, "state": "revoked" })
                )?;
            } else {
                writeln!(out, "{}: device {device} revoked", row.email)?;
            }
        }
    }
    Ok(())
}

/// `accounts expiring`: the list, or with `notify` the reminders sent now.
async fn expiring(
    core: &Core,
    days: u32,
    notify: bool,
    json: bool,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let today = chrono::Utc::now().date_naive();
    let rows = if notify {
        expiry::remind(core, today, days, &actor()).await?
    } else {
        expiry::expiring(&core.db, today, days).await?
    };
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(());
    }
    for e in &rows {
        let reminded = e
            .reminded_at
            .map(|t| format!("reminded {}", format_time(t)))
            .unwrap_or_else(|| "not reminded".to_owned());
        writeln!(
            out,
            "{}  {}  {}  {}  {reminded}",
            e.expires_on, e.email, e.state, e.account_id
        )?;
    }
    if notify {
        writeln!(out, "{} reminder(s) sent", rows.len())?;
    }
    Ok(())
}

/// The declared identity, never the document (kind and number are not read).
pub fn identity_view(i: &Identity) -> Value {
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

pub fn request_view(r: &Request) -> Value {
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

pub fn device_view(d: &Device) -> Value {
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

pub fn audit_view(e: &AuditEntry) -> Value {
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
    row: &Account,
    identity: Option<&Identity>,
    request: Option<&Request>,
    activation: Option<&Activation>,
    devices: &[Device],
    entries: &[AuditEntry],
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
                    or_dash(i.verification_method.map(|m| m.as_str()))
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
