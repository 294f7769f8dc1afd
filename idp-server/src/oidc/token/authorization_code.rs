//! `grant_type=authorization_code`: single-use, 60 s codes bound to the client,
//! the redirect URI and the PKCE challenge. A replayed code revokes what the
//! first redemption issued (RFC 6749 §4.1.2, RFC 9700 §4.5).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::{TokenError, TokenResponse, issue, revoke_family};
use crate::crypto::{constant_time_eq, random_token};
use crate::ephemeral::{EphemeralStore, Write};
use crate::oidc::Provider;
use crate::oidc::clients::Client;
use crate::oidc::error::{OAuthError, OidcError};
use crate::oidc::types::{CodeData, RedeemedCode};

/// How long a redeemed code is remembered to detect its replay.
const REPLAY_MEMORY: Duration = Duration::from_secs(3600);

pub async fn redeem(
    provider: &Provider,
    client: &Arc<Client>,
    form: &HashMap<String, String>,
) -> Result<Result<TokenResponse, TokenError>, OidcError> {
    let Some(code) = form.get("code").filter(|c| !c.is_empty()) else {
        return Ok(Err(OAuthError::invalid_request("code is required").into()));
    };
    let hash = provider.lookup_hash(code);
    let eph = &provider.core.ephemeral;
    let Some(raw) = eph.take(&format!("code:{hash}")).await? else {
        // Unknown, expired, or already used: if used, revoke what it produced.
        if let Some(raw) = eph.take(&format!("code-used:{hash}")).await?
            && let Ok(redeemed) = serde_json::from_slice::<RedeemedCode>(&raw)
        {
            eph.delete(&format!("at:{}", redeemed.access_token_hash))
                .await?;
            if let Some(family) = &redeemed.family {
                revoke_family(provider, family).await?;
            }
            tracing::warn!(client_id = %client.id, "authorization code replayed; tokens issued from it revoked");
            return Ok(Err(OAuthError::invalid_grant(
                "the code has already been used; tokens issued from it are revoked",
            )
            .into()));
        }
        return Ok(Err(OAuthError::invalid_grant(
            "the code is invalid or has expired",
        )
        .into()));
    };
    let data: CodeData = serde_json::from_slice(&raw)?;
    if data.grant.client_id != client.id {
        return Ok(Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        )
        .into()));
    }
    if form.get("redirect_uri").map(String::as_str) != Some(data.redirect_uri.as_str()) {
        return Ok(Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        )
        .into()));
    }
    let verifier = form.get("code_verifier").filter(|v| !v.is_empty());
    match (&data.code_challenge, verifier) {
        (Some(challenge), Some(verifier)) => {
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if !constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
                return Ok(Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                )
                .into()));
            }
        }
        (Some(_), None) => {
            return Ok(Err(
                OAuthError::invalid_grant("code_verifier is required").into()
            ));
        }
        (None, Some(_)) => {
            return Ok(Err(OAuthError::invalid_grant(
                "code_verifier sent but the authorization request had no code_challenge",
            )
            .into()));
        }
        (None, None) => {}
    }

    // Remember the redemption before minting, so that a replay racing this
    // request finds what to revoke.
    let access_token = random_token()?;
    let family = data
        .grant
        .scopes
        .iter()
        .any(|s| s == "offline_access")
        .then(random_token)
        .transpose()?;
    let redeemed = RedeemedCode {
        access_token_hash: provider.lookup_hash(&access_token),
        family: family.clone(),
    };
    // Remembered with the access token, in the same step: a replay either
    // finds both or neither.
    let used_key = format!("code-used:{hash}");
    let used = serde_json::to_vec(&redeemed)?;
    let issued = issue(
        provider,
        client,
        &data.grant,
        data.nonce.as_deref(),
        family,
        Some(access_token),
        &[Write::Set(&used_key, &used, REPLAY_MEMORY)],
    )
    .await?;
    Ok(Ok(issued.response))
}
