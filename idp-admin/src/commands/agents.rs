//! `idp-admin agents …`: console accounts.

use std::io::Write;

use clap::Subcommand;
use idp_server::app::Core;
use idp_server::config::Config;
use idp_server::crypto::random_token;
use idp_server::domain::agent::{Role, parse_office};
use idp_server::oidc::login;
use idp_server::store::agents::{self, NewAgent};
use idp_server::store::audit::{self, AuditEvent};

use crate::{AdminError, actor, blocking};

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
            let (password, role, office) =
                add(&db, &username, &name, &role, office.as_deref(), &actor()).await?;
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
            let list = blocking(move || db.read_blocking(agents::all)).await?;
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
                    } else if a.totp_sealed.is_some() {
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
            change(&db, &username, "agents.disable", &actor(), |conn, id| {
                agents::set_disabled(conn, id, true)
            })
            .await?;
            report(out, json, &username, "disabled")?;
        }
        AgentsCommand::Enable { username } => {
            change(&db, &username, "agents.enable", &actor(), |conn, id| {
                agents::set_disabled(conn, id, false)
            })
            .await?;
            report(out, json, &username, "enabled")?;
        }
        AgentsCommand::ResetTotp { username } => {
            change(&db, &username, "agents.reset_totp", &actor(), |conn, id| {
                agents::set_totp(conn, id, None)
            })
            .await?;
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

/// Applies `apply` to the agent named `username`, with its audit entry, in one transaction.
pub async fn change<F>(
    db: &idp_server::store::Db,
    username: &str,
    action: &'static str,
    actor: &str,
    apply: F,
) -> Result<(), AdminError>
where
    F: FnOnce(
            &mut idp_server::store::DbConnection,
            &str,
        ) -> Result<bool, idp_server::store::StoreError>
        + Send
        + 'static,
{
    let (db, name, who) = (db.clone(), username.to_owned(), actor.to_owned());
    let found = blocking(move || {
        db.write_blocking(|conn| {
            let Some(agent) = agents::by_username(conn, &name)? else {
                return Ok(false);
            };
            apply(conn, &agent.id)?;
            audit::append(
                conn,
                &AuditEvent {
                    actor: &who,
                    action,
                    subject: &name,
                    details: serde_json::json!({}),
                },
            )?;
            Ok(true)
        })
    })
    .await?;
    if found {
        Ok(())
    } else {
        Err(usage(format!("no agent {username}")))
    }
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

/// Creates an agent; returns the initial password (shown once), the role and
/// the office. Shared by the CLI and the console.
pub async fn add(
    db: &idp_server::store::Db,
    username: &str,
    name: &str,
    role: &str,
    office: Option<&str>,
    actor: &str,
) -> Result<(String, Role, Option<String>), AdminError> {
    let role = Role::parse(role)
        .ok_or_else(|| usage(format!("unknown role {role} (clerk, reviewer or admin)")))?;
    let office = match office {
        Some(raw) => Some(
            parse_office(raw)
                .ok_or_else(|| usage(format!("office {raw:?}: 5 to 10 letters or digits")))?,
        ),
        None if role == Role::Clerk => return Err(usage("a clerk needs an office")),
        None => None,
    };
    let valid_username = (3..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !valid_username || name.trim().is_empty() {
        return Err(usage(
            "username: 3-64 letters, digits, '.', '-', '_'; the name must not be empty",
        ));
    }
    let password = random_token().map_err(|e| usage(e.to_string()))?;
    let secret = password.clone();
    let hash =
        blocking(move || login::hash_password(&secret).map_err(|e| usage(e.to_string()))).await?;
    let (id, who) = (uuid::Uuid::new_v4().to_string(), actor.to_owned());
    let (u, n, o) = (username.to_owned(), name.to_owned(), office.clone());
    let db = db.clone();
    let created = blocking(move || {
        db.write_blocking(|conn| {
            agents::insert(
                conn,
                &NewAgent {
                    id: &id,
                    username: &u,
                    display_name: n.trim(),
                    role,
                    office: o.as_deref(),
                    password_hash: &hash,
                },
            )?;
            audit::append(
                conn,
                &AuditEvent {
                    actor: &who,
                    action: "agents.add",
                    subject: &u,
                    details: serde_json::json!({ "role": role.as_str(), "office": o }),
                },
            )?;
            Ok(())
        })
    })
    .await;
    match created {
        Ok(()) => {}
        Err(AdminError::Store(e)) if e.is_unique_violation() => {
            return Err(usage(format!("agent {username} already exists")));
        }
        Err(e) => return Err(e),
    }
    Ok((password, role, office))
}
