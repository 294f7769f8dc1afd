//! Agents of the console (clerks, reviewers, administrators): their
//! authentication (password then TOTP in [`totp`], security keys in
//! [`webauthn`]), their sessions ([`sessions`]) and the roster an
//! administrator keeps (add, disable, enable, reset the TOTP). No HTTP types:
//! the console and the CLI are thin shells over these functions, so both
//! write the same audit entries.

pub mod desk;
pub mod password;
pub mod review;
pub mod sessions;
pub mod totp;
pub mod webauthn;

use crate::app::Core;
use crate::crypto::random_token;
use crate::domain::agent::{Role, parse_office};
use crate::oidc::login;
use crate::store::agents::{self, AgentRow, NewAgent};
use crate::store::audit::{self, AuditEvent};
use crate::store::{Db, DbConnection, StoreError};

pub use sessions::AgentSession;
pub use totp::{LOCKOUT, LoginFailure, MAX_FAILURES};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ephemeral(#[from] crate::ephemeral::EphemeralError),
    /// A refusal an operator can read (CLI line or console message).
    #[error("{0}")]
    Refused(String),
    /// A login attempt that failed (wrong password or code, or locked out).
    #[error("login refused: {0:?}")]
    Login(LoginFailure),
    #[error("{0}")]
    Internal(String),
}

impl AgentError {
    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        AgentError::Internal(e.to_string())
    }
}

fn refused(message: impl Into<String>) -> AgentError {
    AgentError::Refused(message.into())
}

/// The agent with this id, unless disabled.
pub async fn agent(core: &Core, id: &str) -> Result<Option<AgentRow>, AgentError> {
    let id = id.to_owned();
    Ok(core
        .db
        .read(move |conn| agents::by_id(conn, &id))
        .await?
        .filter(|a| !a.disabled))
}

/// The agent named `username`, unless disabled.
pub async fn active(db: &Db, username: &str) -> Result<Option<AgentRow>, AgentError> {
    let name = username.to_owned();
    Ok(db
        .read(move |conn| agents::by_username(conn, &name))
        .await?
        .filter(|a| !a.disabled))
}

/// Every agent, for the roster.
pub async fn all(db: &Db) -> Result<Vec<crate::views::RosterAgent>, AgentError> {
    let rows = db.read(agents::all).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// How many security keys the agent registered.
pub async fn key_count(core: &Core, agent_id: &str) -> Result<usize, AgentError> {
    let id = agent_id.to_owned();
    Ok(core
        .db
        .read(move |conn| agents::keys_of(conn, &id))
        .await?
        .len())
}

/// A change an administrator makes to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Disable,
    Enable,
    ResetTotp,
}

impl Change {
    fn action(self) -> &'static str {
        match self {
            Change::Disable => "agents.disable",
            Change::Enable => "agents.enable",
            Change::ResetTotp => "agents.reset_totp",
        }
    }

    fn apply(self, conn: &mut DbConnection, id: &str) -> Result<bool, StoreError> {
        match self {
            Change::Disable => agents::set_disabled(conn, id, true),
            Change::Enable => agents::set_disabled(conn, id, false),
            Change::ResetTotp => agents::set_totp(conn, id, None),
        }
    }
}

/// Applies `change` to the agent `username`, with its audit entry.
pub async fn change(
    db: &Db,
    username: &str,
    change: Change,
    actor: &str,
) -> Result<(), AgentError> {
    let (name, who) = (username.to_owned(), actor.to_owned());
    let found = db
        .write(move |conn| {
            let Some(agent) = agents::by_username(conn, &name)? else {
                return Ok(false);
            };
            change.apply(conn, &agent.id)?;
            audit::append(
                conn,
                &AuditEvent {
                    actor: &who,
                    action: change.action(),
                    subject: &name,
                    details: serde_json::json!({}),
                },
            )?;
            Ok(true)
        })
        .await?;
    if found {
        Ok(())
    } else {
        Err(refused(format!("no agent {username}")))
    }
}

/// A new agent as the administrator typed it.
pub struct NewAgentInput<'a> {
    pub username: &'a str,
    pub name: &'a str,
    pub role: &'a str,
    pub office: Option<&'a str>,
}

/// An agent just created: the initial password is shown once.
pub struct Created {
    pub password: String,
    pub role: Role,
    pub office: Option<String>,
}

/// Creates an agent with a random initial password (TOTP enrols at first login).
pub async fn add(db: &Db, input: &NewAgentInput<'_>, actor: &str) -> Result<Created, AgentError> {
    let role = Role::parse(input.role).ok_or_else(|| {
        refused(format!(
            "unknown role {} (clerk, reviewer or admin)",
            input.role
        ))
    })?;
    let office = match input.office {
        Some(raw) => Some(
            parse_office(raw)
                .ok_or_else(|| refused(format!("office {raw:?}: 5 to 10 letters or digits")))?,
        ),
        None if role == Role::Clerk => return Err(refused("a clerk needs an office")),
        None => None,
    };
    let username = input.username;
    let valid_username = (3..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !valid_username || input.name.trim().is_empty() {
        return Err(refused(
            "username: 3-64 letters, digits, '.', '-', '_'; the name must not be empty",
        ));
    }
    let password = random_token().map_err(AgentError::internal)?;
    let secret = password.clone();
    let hash = tokio::task::spawn_blocking(move || login::hash_password(&secret))
        .await
        .map_err(AgentError::internal)?
        .map_err(AgentError::internal)?;
    let (id, who) = (uuid::Uuid::new_v4().to_string(), actor.to_owned());
    let (u, n, o) = (
        username.to_owned(),
        input.name.trim().to_owned(),
        office.clone(),
    );
    let created = db
        .write(move |conn| {
            agents::insert(
                conn,
                &NewAgent {
                    id: &id,
                    username: &u,
                    display_name: &n,
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
        .await;
    match created {
        Ok(()) => Ok(Created {
            password,
            role,
            office,
        }),
        Err(e) if e.is_unique_violation() => {
            Err(refused(format!("agent {username} already exists")))
        }
        Err(e) => Err(e.into()),
    }
}
