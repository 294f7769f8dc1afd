//! Console sessions in the ephemeral store, keyed by a hash of the cookie and
//! sliding with activity (`console.idle_secs`). Each carries its own random
//! CSRF token; a session is only fully open once the second factor is done.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::AgentError;
use crate::app::Core;
use crate::crypto::{hmac_hex, random_token};
use crate::ephemeral::EphemeralStore;

/// A console session. `totp_ok` is false between the password and the code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentSession {
    pub agent_id: String,
    pub totp_ok: bool,
    pub csrf: String,
    /// A secret being enrolled (base32), before the first code confirms it.
    pub enrolling: Option<String>,
    /// The agent's `session_epoch` when the session opened: a password
    /// change moves the agent's on, which ends this session.
    #[serde(default)]
    pub epoch: i32,
}

fn session_key(core: &Core, cookie: &str) -> String {
    crate::ephemeral::keys::agent_session(&hmac_hex(
        &core.subkeys.token_hash_key,
        cookie.as_bytes(),
    ))
}

fn idle(core: &Core) -> Duration {
    Duration::from_secs(core.config.console.idle_secs)
}

/// A fresh random value for a cookie or a token; an error rather than an
/// empty string when the system's randomness fails.
pub fn fresh_token() -> Result<String, AgentError> {
    random_token().map_err(AgentError::internal)
}

/// Opens a session for `agent_id` (whose session epoch is `epoch`); returns
/// the cookie value that names it.
pub async fn open(
    core: &Core,
    agent_id: String,
    epoch: i32,
    totp_ok: bool,
) -> Result<(String, AgentSession), AgentError> {
    let cookie = fresh_token()?;
    let session = AgentSession {
        agent_id,
        totp_ok,
        csrf: fresh_token()?,
        enrolling: None,
        epoch,
    };
    save(core, &cookie, &session).await?;
    Ok((cookie, session))
}

/// Moves `session` under a new cookie value (after the second factor), ending the old one.
pub async fn renew(
    core: &Core,
    old_cookie: &str,
    session: &AgentSession,
) -> Result<String, AgentError> {
    let fresh = fresh_token()?;
    end(core, old_cookie).await?;
    save(core, &fresh, session).await?;
    Ok(fresh)
}

/// Loads a session and slides its expiry (inactivity timeout).
pub async fn load(core: &Core, cookie: &str) -> Result<Option<AgentSession>, AgentError> {
    let key = session_key(core, cookie);
    let Some(raw) = core.ephemeral.get(&key).await? else {
        return Ok(None);
    };
    core.ephemeral.set(&key, &raw, idle(core)).await?;
    Ok(serde_json::from_slice(&raw).ok())
}

pub async fn save(core: &Core, cookie: &str, session: &AgentSession) -> Result<(), AgentError> {
    let raw = serde_json::to_vec(session).map_err(AgentError::internal)?;
    core.ephemeral
        .set(&session_key(core, cookie), &raw, idle(core))
        .await?;
    Ok(())
}

pub async fn end(core: &Core, cookie: &str) -> Result<(), AgentError> {
    core.ephemeral.delete(&session_key(core, cookie)).await?;
    Ok(())
}

/// The CSRF token of the login forms, bound to the pre-login cookie.
pub fn login_csrf(core: &Core, pre_cookie: &str) -> String {
    hmac_hex(
        &core.subkeys.token_hash_key,
        format!("console-login:{pre_cookie}").as_bytes(),
    )
}
