//! `idp-admin accounts …`: account support for operators (look an account
//! up, suspend it, lift the suspension, send a new activation code, revoke
//! a device).
//!
//! State changes go through the domain state machine and a conditional
//! transition, with their audit entry in the same transaction.

use std::io::Write;

use clap::Subcommand;
use idp_server::app::Core;
use idp_server::config::Config;
use idp_server::domain::account::AccountState;
use idp_server::notify::mask_phone;
use serde_json::json;

use crate::support::{self, audit_view, device_view, identity_view, request_view, show_text};
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
