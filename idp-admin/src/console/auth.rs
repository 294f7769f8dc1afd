//! Agent authentication for the console: password (Argon2id), then a TOTP
//! code (RFC 6238, ±1 step, each step usable once), with a lockout after
//! repeated failures and sessions that expire after inactivity.

use std::time::Duration;

use idp_server::app::Core;
use idp_server::crypto::{hmac_hex, random_bytes, random_token};
use idp_server::ephemeral::EphemeralStore;
use idp_server::store::agents::{self, AgentRow};
use idp_server::store::audit::{self, AuditEvent};
use idp_server::store::now_unix;
use idp_server::verification::Agent;
use serde::{Deserialize, Serialize};

/// Failed logins (password or TOTP) before an agent is locked out.
pub const MAX_FAILURES: i64 = 5;
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Store(#[from] idp_server::store::StoreError),
    #[error(transparent)]
    Ephemeral(#[from] idp_server::ephemeral::EphemeralError),
    #[error("{0}")]
    Internal(String),
}

/// A console session. `totp_ok` is false between the password and the code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentSession {
    pub agent_id: String,
    pub totp_ok: bool,
    pub csrf: String,
    /// A secret being enrolled (base32), before the first code confirms it.
    pub enrolling: Option<String>,
}

fn session_key(core: &Core, cookie: &str) -> String {
    idp_server::ephemeral::keys::agent_session(&hmac_hex(
        &core.subkeys.token_hash_key,
        cookie.as_bytes(),
    ))
}

fn idle(core: &Core) -> Duration {
    Duration::from_secs(core.config.console.idle_secs)
}

/// Loads a session and slides its expiry (inactivity timeout).
pub async fn load(core: &Core, cookie: &str) -> Result<Option<AgentSession>, AuthError> {
    let key = session_key(core, cookie);
    let Some(raw) = core.ephemeral.get(&key).await? else {
        return Ok(None);
    };
    core.ephemeral.set(&key, &raw, idle(core)).await?;
    Ok(serde_json::from_slice(&raw).ok())
}

pub async fn save(core: &Core, cookie: &str, session: &AgentSession) -> Result<(), AuthError> {
    let raw = serde_json::to_vec(session).map_err(|e| AuthError::Internal(e.to_string()))?;
    core.ephemeral
        .set(&session_key(core, cookie), &raw, idle(core))
        .await?;
    Ok(())
}

pub async fn end(core: &Core, cookie: &str) -> Result<(), AuthError> {
    core.ephemeral.delete(&session_key(core, cookie)).await?;
    Ok(())
}

pub async fn agent(core: &Core, id: &str) -> Result<Option<AgentRow>, AuthError> {
    let id = id.to_owned();
    Ok(core
        .db
        .read(move |conn| agents::by_id(conn, &id))
        .await?
        .filter(|a| !a.disabled))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFailure {
    Invalid,
    Locked,
}

fn failures_key(username: &str) -> String {
    idp_server::ephemeral::keys::agent_failures(&username.to_lowercase())
}

/// Counts an attempt before checking it (atomic across replicas). The
/// attempt that crosses the limit records the lockout in the audit log, once.
async fn count_attempt(core: &Core, username: &str) -> Result<bool, AuthError> {
    let count = core
        .ephemeral
        .incr(&failures_key(username), LOCKOUT)
        .await?;
    if count == MAX_FAILURES + 1 {
        record(
            core,
            username,
            "agents.locked_out",
            serde_json::json!({ "minutes": LOCKOUT.as_secs() / 60 }),
        )
        .await?;
    }
    Ok(count > MAX_FAILURES)
}

/// One audit entry about an agent, by that agent.
async fn record(
    core: &Core,
    username: &str,
    action: &'static str,
    details: serde_json::Value,
) -> Result<(), AuthError> {
    let username = username.to_owned();
    core.db
        .write(move |conn| {
            audit::append(
                conn,
                &AuditEvent {
                    actor: &format!("agent:{username}"),
                    action,
                    subject: &username,
                    details,
                },
            )?;
            Ok(())
        })
        .await?;
    Ok(())
}

/// Checks username + password; on success returns a new session cookie value.
pub async fn password(
    core: &Core,
    dummy_hash: &str,
    username: &str,
    password: &str,
) -> Result<Result<(String, AgentSession), LoginFailure>, AuthError> {
    if count_attempt(core, username).await? {
        return Ok(Err(LoginFailure::Locked));
    }
    let name = username.to_owned();
    let row = core
        .db
        .read(move |conn| agents::by_username(conn, &name))
        .await?;
    let stored = row
        .as_ref()
        .map(|a| a.password_hash.clone())
        .unwrap_or_else(|| dummy_hash.to_owned());
    let presented = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || {
        idp_server::oidc::login::verify_password(&stored, &presented)
    })
    .await
    .map_err(|e| AuthError::Internal(e.to_string()))?;
    let Some(row) = row.filter(|a| ok && !a.disabled) else {
        return Ok(Err(LoginFailure::Invalid));
    };
    let cookie = random_token().map_err(|e| AuthError::Internal(e.to_string()))?;
    let session = AgentSession {
        agent_id: row.id,
        totp_ok: false,
        csrf: random_token().map_err(|e| AuthError::Internal(e.to_string()))?,
        enrolling: None,
    };
    save(core, &cookie, &session).await?;
    Ok(Ok((cookie, session)))
}

fn totp(secret: Vec<u8>) -> Result<totp_rs::Totp, AuthError> {
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .build()
        .map_err(|e| AuthError::Internal(format!("totp: {e:?}")))
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding (what authenticator apps expect).
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            out.push(char::from(BASE32[((buffer >> (bits - 5)) & 31) as usize]));
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

fn unbase32(text: &str) -> Option<Vec<u8>> {
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes() {
        let v = BASE32.iter().position(|b| *b == c)? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push(((buffer >> (bits - 8)) & 0xFF) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

/// A new secret for enrolment (20 random bytes, base32).
pub fn new_secret() -> Result<String, AuthError> {
    Ok(base32(
        &random_bytes::<20>().map_err(|e| AuthError::Internal(e.to_string()))?,
    ))
}

/// `otpauth://` URL for the authenticator app's QR code.
pub fn otpauth_url(secret: &str, username: &str) -> String {
    let label: String =
        url::form_urlencoded::byte_serialize(format!("Sesame:{username}").as_bytes()).collect();
    format!(
        "otpauth://totp/{label}?secret={secret}&issuer=Sesame&algorithm=SHA1&digits=6&period=30"
    )
}

fn aad(agent_id: &str) -> Vec<u8> {
    format!("agent-totp:{agent_id}").into_bytes()
}

/// Checks a code against the agent's enrolled secret; each time step works once.
pub async fn check_code(
    core: &Core,
    agent: &AgentRow,
    code: &str,
) -> Result<Result<(), LoginFailure>, AuthError> {
    if count_attempt(core, &agent.username).await? {
        return Ok(Err(LoginFailure::Locked));
    }
    let Some(sealed) = &agent.totp_sealed else {
        return Ok(Err(LoginFailure::Invalid));
    };
    let secret = core
        .subkeys
        .kek
        .open(sealed, &aad(&agent.id))
        .map_err(|e| AuthError::Internal(format!("totp secret: {e}")))?;
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Err(LoginFailure::Invalid));
    }
    let Some(step) = totp(secret)?.check(&code, now_unix().max(0) as u64) else {
        return Ok(Err(LoginFailure::Invalid));
    };
    let (id, step) = (agent.id.clone(), step as i64);
    let fresh = core
        .db
        .write(move |conn| agents::use_totp_step(conn, &id, step))
        .await?;
    if !fresh {
        return Ok(Err(LoginFailure::Invalid));
    }
    core.ephemeral
        .delete(&failures_key(&agent.username))
        .await?;
    record(
        core,
        &agent.username,
        "agents.login_totp",
        serde_json::json!({}),
    )
    .await?;
    Ok(Ok(()))
}

/// Confirms an enrolment with a first code, then stores the sealed secret.
pub async fn confirm_enrolment(
    core: &Core,
    agent: &AgentRow,
    secret_b32: &str,
    code: &str,
) -> Result<Result<(), LoginFailure>, AuthError> {
    if count_attempt(core, &agent.username).await? {
        return Ok(Err(LoginFailure::Locked));
    }
    let Some(secret) = unbase32(secret_b32) else {
        return Ok(Err(LoginFailure::Invalid));
    };
    let Some(step) = totp(secret.clone())?.check(code.trim(), now_unix().max(0) as u64) else {
        return Ok(Err(LoginFailure::Invalid));
    };
    let sealed = core
        .subkeys
        .kek
        .seal(&secret, &aad(&agent.id))
        .map_err(|e| AuthError::Internal(e.to_string()))?;
    let (id, username, step) = (agent.id.clone(), agent.username.clone(), step as i64);
    core.db
        .write(move |conn| {
            agents::set_totp(conn, &id, Some(&sealed))?;
            agents::use_totp_step(conn, &id, step)?;
            audit::append(
                conn,
                &AuditEvent {
                    actor: &format!("agent:{username}"),
                    action: "agents.totp_enrolled",
                    subject: &username,
                    details: serde_json::json!({}),
                },
            )?;
            Ok(())
        })
        .await?;
    core.ephemeral
        .delete(&failures_key(&agent.username))
        .await?;
    Ok(Ok(()))
}

/// The acting agent, as the verification service expects it.
pub fn as_agent(row: &AgentRow) -> Option<Agent> {
    Agent::from_row(row)
}

/// Current TOTP code for a secret (tests and the CLI use it).
pub fn code_for(secret_b32: &str, at: u64) -> Option<String> {
    Some(totp(unbase32(secret_b32)?).ok()?.generate(at).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_round_trips_rfc4648_vectors() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(unbase32("MZXW6YTBOI").unwrap(), b"foobar");
        let secret = [7u8; 20];
        assert_eq!(unbase32(&base32(&secret)).unwrap(), secret);
    }

    #[test]
    fn otpauth_urls_name_the_agent() {
        let url = otpauth_url("ABC", "m.durand");
        assert!(url.starts_with("otpauth://totp/Sesame%3Am.durand?secret=ABC&issuer=Sesame"));
    }
}
