//! Agent authentication: password (Argon2id), then a TOTP code (RFC 6238,
//! ±1 step, each step usable once), with a lockout after repeated failures.

use std::time::Duration;

use super::AgentError as AuthError;
use super::sessions::{self, AgentSession};
use crate::app::Core;
use crate::crypto::random_bytes;
use crate::ephemeral::EphemeralStore;
use crate::store::agents::{self, AgentRow};
use crate::store::audit::{self, AuditEvent};
use crate::store::now_unix;
use crate::verification::Agent;

/// Failed logins (password or TOTP) before an agent is locked out.
pub const MAX_FAILURES: i64 = 5;
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFailure {
    Invalid,
    Locked,
}

pub(super) fn failures_key(username: &str) -> String {
    crate::ephemeral::keys::agent_failures(&username.to_lowercase())
}

/// Counts an attempt before checking it (atomic across replicas). The
/// attempt that crosses the limit records the lockout in the audit log, once.
pub(super) async fn count_attempt(core: &Core, username: &str) -> Result<bool, AuthError> {
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

/// Checks username + password; on success opens a session (second factor
/// still to do) and returns its cookie value. A wrong or locked login is
/// `AgentError::Login`.
pub async fn password(
    core: &Core,
    dummy_hash: &str,
    username: &str,
    password: &str,
) -> Result<(String, AgentSession), AuthError> {
    if count_attempt(core, username).await? {
        return Err(AuthError::Login(LoginFailure::Locked));
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
        crate::oidc::login::verify_password(&stored, &presented)
    })
    .await
    .map_err(AuthError::internal)?;
    let Some(row) = row.filter(|a| ok && !a.disabled) else {
        return Err(AuthError::Login(LoginFailure::Invalid));
    };
    sessions::open(core, row.id, row.session_epoch, false).await
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
    Ok(base32(&random_bytes::<20>().map_err(AuthError::internal)?))
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
pub async fn check_code(core: &Core, agent: &AgentRow, code: &str) -> Result<(), AuthError> {
    if count_attempt(core, &agent.username).await? {
        return Err(AuthError::Login(LoginFailure::Locked));
    }
    let Some(sealed) = &agent.totp_sealed else {
        return Err(AuthError::Login(LoginFailure::Invalid));
    };
    let secret = core
        .subkeys
        .kek
        .open(sealed, &aad(&agent.id))
        .map_err(|e| AuthError::Internal(format!("totp secret: {e}")))?;
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuthError::Login(LoginFailure::Invalid));
    }
    let Some(step) = totp(secret)?.check(&code, now_unix().max(0) as u64) else {
        return Err(AuthError::Login(LoginFailure::Invalid));
    };
    let (id, step) = (agent.id.clone(), step as i64);
    let fresh = core
        .db
        .write(move |conn| agents::use_totp_step(conn, &id, step))
        .await?;
    if !fresh {
        return Err(AuthError::Login(LoginFailure::Invalid));
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
    Ok(())
}

/// Confirms an enrolment with a first code, then stores the sealed secret.
pub async fn confirm_enrolment(
    core: &Core,
    agent: &AgentRow,
    secret_b32: &str,
    code: &str,
) -> Result<(), AuthError> {
    if count_attempt(core, &agent.username).await? {
        return Err(AuthError::Login(LoginFailure::Locked));
    }
    let Some(secret) = unbase32(secret_b32) else {
        return Err(AuthError::Login(LoginFailure::Invalid));
    };
    let Some(step) = totp(secret.clone())?.check(code.trim(), now_unix().max(0) as u64) else {
        return Err(AuthError::Login(LoginFailure::Invalid));
    };
    let sealed = core
        .subkeys
        .kek
        .seal(&secret, &aad(&agent.id))
        .map_err(AuthError::internal)?;
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
    Ok(())
}

/// The secret this session is enrolling (a new one the first time), kept in the session.
pub async fn enrolment_secret(
    core: &Core,
    cookie: &str,
    session: &mut AgentSession,
) -> Result<String, AuthError> {
    let secret = match session.enrolling.clone() {
        Some(s) => s,
        None => new_secret()?,
    };
    session.enrolling = Some(secret.clone());
    sessions::save(core, cookie, session).await?;
    Ok(secret)
}

/// What the second factor gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondFactor {
    /// Logged in: the session now lives under this new cookie value.
    Passed {
        cookie: String,
    },
    /// No TOTP enrolled and none being enrolled (the code page starts one).
    NotEnrolling,
    Failed(LoginFailure),
}

/// Checks the code of a session past its password: the enrolled secret's, or
/// the first code of the secret being enrolled. On success the session is
/// fully open under a new cookie value (the old one ends).
pub async fn second_factor(
    core: &Core,
    agent: &AgentRow,
    session: &AgentSession,
    cookie: &str,
    code: &str,
) -> Result<SecondFactor, AuthError> {
    let checked = match (&agent.totp_sealed, &session.enrolling) {
        (None, Some(secret)) => confirm_enrolment(core, agent, secret, code).await,
        (None, None) => return Ok(SecondFactor::NotEnrolling),
        (Some(_), _) => check_code(core, agent, code).await,
    };
    match checked {
        Ok(()) => {}
        Err(AuthError::Login(failure)) => return Ok(SecondFactor::Failed(failure)),
        Err(e) => return Err(e),
    }
    let open = AgentSession {
        totp_ok: true,
        enrolling: None,
        ..session.clone()
    };
    let cookie = sessions::renew(core, cookie, &open).await?;
    Ok(SecondFactor::Passed { cookie })
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
