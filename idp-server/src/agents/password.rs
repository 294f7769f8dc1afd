//! An agent's own password: the change forced at first login (an agent
//! created by `idp-admin agents add` or by an administrator has
//! `must_change_password`) and the later change from "Mon compte". The
//! current password is checked under the login lockout counter (counted
//! before Argon2), the new one against `domain::password`; the hash, the
//! flag, the session epoch (which ends every other console session of the
//! agent) and one `agents.password_changed` entry are one transaction.

use super::AgentError;
use crate::app::Core;
use crate::domain::password::{self, PasswordProblem};
use crate::ephemeral::EphemeralStore;
use crate::oidc::login;
use crate::outcome::{ServiceError, refuse};
use crate::store::agents::{self, AgentRow};
use crate::store::audit::{self, AuditEvent};

/// Why a password change was refused (the agent's input or the lockout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeRefusal {
    /// The current password is wrong.
    WrongCurrent,
    /// Too many wrong passwords: locked out like a login.
    Locked,
    /// The two new passwords differ.
    Mismatch,
    /// The new password is the current one.
    Unchanged,
    /// The new password breaks the policy.
    Weak(PasswordProblem),
}

/// What the agent typed.
pub struct ChangeInput<'a> {
    pub current: &'a str,
    pub new: &'a str,
    pub confirm: &'a str,
}

/// Changes `agent`'s password; returns the agent's new session epoch (the
/// caller renews its own session under it).
pub async fn change(
    core: &Core,
    agent: &AgentRow,
    input: &ChangeInput<'_>,
) -> Result<i32, ServiceError<ChangeRefusal, AgentError>> {
    if input.new != input.confirm {
        return refuse(ChangeRefusal::Mismatch);
    }
    // The policy's "contains the email" rule reads the username as one.
    if let Err(problem) = password::check(input.new, &format!("{}@", agent.username)) {
        return refuse(ChangeRefusal::Weak(problem));
    }
    if input.new == input.current {
        return refuse(ChangeRefusal::Unchanged);
    }
    if super::totp::count_attempt(core, &agent.username).await? {
        return refuse(ChangeRefusal::Locked);
    }
    let (stored, presented) = (agent.password_hash.clone(), input.current.to_owned());
    let new = input.new.to_owned();
    let hashed = tokio::task::spawn_blocking(move || {
        login::verify_password(&stored, &presented).then(|| login::hash_password(&new))
    })
    .await
    .map_err(AgentError::internal)?;
    let Some(hash) = hashed else {
        return refuse(ChangeRefusal::WrongCurrent);
    };
    let hash = hash.map_err(AgentError::internal)?;
    core.ephemeral
        .delete(&super::totp::failures_key(&agent.username))
        .await
        .map_err(AgentError::from)?;
    let (id, username, first) = (
        agent.id.clone(),
        agent.username.clone(),
        agent.must_change_password,
    );
    let epoch = core
        .db
        .write(move |conn| {
            let epoch = agents::set_password(conn, &id, &hash)?;
            audit::append(
                conn,
                &AuditEvent {
                    actor: &format!("agent:{username}"),
                    action: "agents.password_changed",
                    subject: &username,
                    details: serde_json::json!({ "first_login": first }),
                },
            )?;
            Ok(epoch)
        })
        .await
        .map_err(AgentError::from)?;
    epoch.ok_or_else(|| ServiceError::Failed(AgentError::Refused("agent gone".into())))
}
