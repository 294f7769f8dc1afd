//! WebAuthn security keys for agents (webauthn-rs): registration once logged
//! in, then login with the key alone — a passkey with user verification is
//! both factors. Ceremony state waits in the ephemeral store (5 minutes), so
//! any replica can finish what another started.

use std::time::Duration;

use crate::app::Core;
use crate::ephemeral::EphemeralStore;
use crate::store::agents::{self, AgentRow};
use crate::store::audit::{self, AuditEvent};
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Url, Uuid,
    Webauthn, WebauthnBuilder,
};

use super::AgentError as AuthError;

const CEREMONY_TTL: Duration = Duration::from_secs(300);

/// The relying party: the console's public URL (its host is the RP id).
pub fn relying_party(core: &Core) -> Result<Webauthn, AuthError> {
    let origin = Url::parse(&core.config.console.public_url).map_err(AuthError::internal)?;
    let rp_id = origin.host_str().unwrap_or("localhost").to_owned();
    WebauthnBuilder::new(&rp_id, &origin)
        .and_then(|b| b.rp_name("Sésame — console des agents").build())
        .map_err(|e| AuthError::Internal(format!("webauthn: {e:?}")))
}

fn passkeys(rows: Vec<(String, String)>) -> Vec<Passkey> {
    rows.into_iter()
        .filter_map(|(_, json)| serde_json::from_str(&json).ok())
        .collect()
}

fn user_id(agent: &AgentRow) -> Uuid {
    Uuid::parse_str(&agent.id).unwrap_or_else(|_| Uuid::new_v4())
}

/// Starts registering a new key for a logged-in agent.
pub async fn start_registration(
    core: &Core,
    agent: &AgentRow,
) -> Result<CreationChallengeResponse, AuthError> {
    let id = agent.id.clone();
    let existing = passkeys(core.db.read(move |conn| agents::keys_of(conn, &id)).await?);
    let exclude = existing
        .iter()
        .map(|k| k.cred_id().clone())
        .collect::<Vec<_>>();
    let (challenge, state) = relying_party(core)?
        .start_passkey_registration(
            user_id(agent),
            &agent.username,
            &agent.display_name,
            Some(exclude),
        )
        .map_err(|e| AuthError::Internal(format!("webauthn: {e:?}")))?;
    let raw = serde_json::to_vec(&state).map_err(AuthError::internal)?;
    core.ephemeral
        .set(
            &crate::ephemeral::keys::agent_webauthn_registration(&agent.id),
            &raw,
            CEREMONY_TTL,
        )
        .await?;
    Ok(challenge)
}

/// Finishes the registration; false if the answer does not verify.
pub async fn finish_registration(
    core: &Core,
    agent: &AgentRow,
    answer: &RegisterPublicKeyCredential,
) -> Result<bool, AuthError> {
    let Some(raw) = core
        .ephemeral
        .take(&crate::ephemeral::keys::agent_webauthn_registration(
            &agent.id,
        ))
        .await?
    else {
        return Ok(false);
    };
    let state: PasskeyRegistration = serde_json::from_slice(&raw).map_err(AuthError::internal)?;
    let Ok(passkey) = relying_party(core)?.finish_passkey_registration(answer, &state) else {
        return Ok(false);
    };
    let credential_id = base64_id(passkey.cred_id().as_ref());
    let json = serde_json::to_string(&passkey).map_err(AuthError::internal)?;
    let (agent_id, username) = (agent.id.clone(), agent.username.clone());
    core.db
        .write(move |conn| {
            agents::insert_key(conn, &credential_id, &agent_id, &json)?;
            audit::append(
                conn,
                &AuditEvent {
                    actor: &format!("agent:{username}"),
                    action: "agents.security_key_registered",
                    subject: &username,
                    details: serde_json::json!({ "credential": credential_id }),
                },
            )?;
            Ok(())
        })
        .await?;
    Ok(true)
}

fn base64_id(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What a pending key login remembers.
#[derive(serde::Serialize, serde::Deserialize)]
struct PendingLogin {
    agent_id: String,
    state: PasskeyAuthentication,
}

fn login_key(core: &Core, pre_cookie: &str) -> String {
    crate::ephemeral::keys::agent_webauthn_login(&crate::crypto::hmac_hex(
        &core.subkeys.token_hash_key,
        pre_cookie.as_bytes(),
    ))
}

/// Starts a key login for `username`; `None` if the agent has no key (or is unknown or disabled).
pub async fn start_login(
    core: &Core,
    pre_cookie: &str,
    username: &str,
) -> Result<Option<RequestChallengeResponse>, AuthError> {
    let name = username.to_owned();
    let found = core
        .db
        .read(move |conn| {
            let Some(agent) = agents::by_username(conn, &name)?.filter(|a| !a.disabled) else {
                return Ok(None);
            };
            let keys = agents::keys_of(conn, &agent.id)?;
            Ok(Some((agent, keys)))
        })
        .await?;
    let Some((agent, keys)) = found else {
        return Ok(None);
    };
    let keys = passkeys(keys);
    if keys.is_empty() {
        return Ok(None);
    }
    let (challenge, state) = relying_party(core)?
        .start_passkey_authentication(&keys)
        .map_err(|e| AuthError::Internal(format!("webauthn: {e:?}")))?;
    let pending = PendingLogin {
        agent_id: agent.id,
        state,
    };
    let raw = serde_json::to_vec(&pending).map_err(AuthError::internal)?;
    core.ephemeral
        .set(&login_key(core, pre_cookie), &raw, CEREMONY_TTL)
        .await?;
    Ok(Some(challenge))
}

/// Finishes a key login; the agent on success. The assertion must come from
/// one of *this* agent's keys and answer *this* challenge.
pub async fn finish_login(
    core: &Core,
    pre_cookie: &str,
    answer: &PublicKeyCredential,
) -> Result<Option<AgentRow>, AuthError> {
    let Some(raw) = core.ephemeral.take(&login_key(core, pre_cookie)).await? else {
        return Ok(None);
    };
    let pending: PendingLogin = serde_json::from_slice(&raw).map_err(AuthError::internal)?;
    let Some(agent) = super::agent(core, &pending.agent_id).await? else {
        return Ok(None);
    };
    let Ok(result) = relying_party(core)?.finish_passkey_authentication(answer, &pending.state)
    else {
        return Ok(None);
    };
    // Keep the signature counter current (a cloned key would lag behind).
    let id = agent.id.clone();
    let rows = core.db.read(move |conn| agents::keys_of(conn, &id)).await?;
    for (credential_id, json) in rows {
        if let Ok(mut key) = serde_json::from_str::<Passkey>(&json)
            && key.update_credential(&result) == Some(true)
            && let Ok(updated) = serde_json::to_string(&key)
        {
            core.db
                .write(move |conn| agents::update_key(conn, &credential_id, &updated))
                .await?;
        }
    }
    let username = agent.username.clone();
    core.db
        .write(move |conn| {
            audit::append(
                conn,
                &AuditEvent {
                    actor: &format!("agent:{username}"),
                    action: "agents.login_security_key",
                    subject: &username,
                    details: serde_json::json!({}),
                },
            )?;
            Ok(())
        })
        .await?;
    Ok(Some(agent))
}
