//! `idp-admin agents …`: console accounts.

use std::io::Write;

use clap::Subcommand;
use idp_server::agents::{self, Change, Created, NewAgentInput};
use idp_server::app::Core;
use idp_server::config::Config;

use crate::{AdminError, actor};

#[derive(Subcommand, Debug)]
pub enum AgentsCommand {
    /// Create an agent; an initial password is printed once.
    Add {
        username: String,
        #[arg(long)]
        name: String,
        /// clerk, reviewer or admin.
        #[arg(long)]
        role: String,
        /// Post-office code (required for clerks).
        #[arg(long)]
        office: Option<String>,
    },
    /// List agents.
    List,
    /// Disable an agent (they can no longer log in).
    Disable { username: String },
    /// Enable a disabled agent.
    Enable { username: String },
    /// Forget an agent's TOTP secret; they enrol again at their next login.
    ResetTotp { username: String },
}

fn usage(message: impl Into<String>) -> AdminError {
    AdminError::Usage(message.into())
}

pub async fn run(
    command: AgentsCommand,
    config: Config,
    master_key_env: Option<String>,
    json: bool,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let core = Core::init(config, master_key_env).await?;
    let db = core.db.clone();
    match command {
        AgentsCommand::Add {
            username,
            name,
            role,
            office,
        } => {
            if role == "clerk" && office.is_none() {
                return Err(usage("a clerk needs --office"));
            }
            let input = NewAgentInput {
                username: &username,
                name: &name,
                role: &role,
                office: office.as_deref(),
            };
            let Created {
                password,
                role,
                office,
            } = agents::add(&db, &input, &actor()).await?;
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({ "username": username, "role": role.as_str(), "office": office, "initial_password": password })
                )?;
            } else {
                writeln!(out, "agent {username} ({}) created", role.as_str())?;
                writeln!(
                    out,
                    "initial password (shown once; TOTP is set up at first login): {password}"
                )?;
            }
        }
        AgentsCommand::List => {
            let list = agents::all(&db).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
            } else {
                writeln!(
                    out,
                    "{:<20} {:<9} {:<10} {:<8} NAME",
                    "USERNAME", "ROLE", "OFFICE", "STATUS"
                )?;
                for a in list {
                    let status = if a.disabled {
                        "disabled"
                    } else if a.has_totp {
                        "active"
                    } else {
                        "no-totp"
                    };
                    writeln!(
                        out,
                        "{:<20} {:<9} {:<10} {:<8} {}",
                        a.username,
                        a.role,
                        a.office.as_deref().unwrap_or("-"),
                        status,
                        a.display_name
                    )?;
                }
            }
        }
        AgentsCommand::Disable { username } => {
            agents::change(&db, &username, Change::Disable, &actor()).await?;
            report(out, json, &username, "disabled")?;
        }
        AgentsCommand::Enable { username } => {
            agents::change(&db, &username, Change::Enable, &actor()).await?;
            report(out, json, &username, "enabled")?;
        }
        AgentsCommand::ResetTotp { username } => {
            agents::change(&db, &username, Change::ResetTotp, &actor()).await?;
            report(
                out,
                json,
                &username,
                "TOTP reset: enrols again at next login",
            )?;
        }
    }
    Ok(())
}

fn report(out: &mut impl Write, json: bool, username: &str, what: &str) -> Result<(), AdminError> {
    if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({ "username": username, "result": what })
        )?;
    } else {
        writeln!(out, "{username}: {what}")?;
    }
    Ok(())
}
