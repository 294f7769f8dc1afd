//! `grant_type=authorization_code`: single-use, 60 s codes bound to the client,
//! the redirect URI and the PKCE challenge. A replayed code revokes what the
//! first redemption issued (RFC 6749 §4.1.2, RFC 9700 §4.5).
//!
//! The code is read, checked and only then consumed: a request that fails a
//! check (another client's credentials, a wrong redirect URI or verifier) or
//! that fails for an outage while issuing leaves the code as it was, so the
//! rightful client can still redeem it. Consuming is one compare-and-set that
//! replaces the code with the [`RedeemedCode`] marker, after the access token
//! is live: of concurrent redemptions exactly one wins, and a replay that sees
//! the marker always finds the token to revoke.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::{Exchanged, mint, person_standing, revoke_family};
use crate::crypto::{constant_time_eq, random_token};
use crate::ephemeral::keys;
use crate::ephemeral::{EphemeralStore, Expect, Replace};
use crate::oidc::Provider;
use crate::oidc::clients::Client;
use crate::oidc::error::OAuthError;
use crate::oidc::types::{CodeData, RedeemedCode};
use crate::outcome::refuse;

/// How long a redeemed code that started a refresh family is remembered to
/// detect its replay. Without a family, the marker lives as long as the
/// access token it could revoke: after that a replay has nothing to revoke
/// and is refused as an unknown code (#19: what a login leaves behind).
const REPLAY_MEMORY: Duration = Duration::from_secs(3600);

type Outcome = Exchanged;

fn expired() -> Outcome {
    refuse(OAuthError::invalid_grant("the code is invalid or has expired").into())
}

/// A redeemed code presented again: what its redemption issued is revoked.
/// The marker stays until it expires, so every replay revokes (idempotent).
async fn replayed(provider: &Provider, client: &Client, redeemed: RedeemedCode) -> Outcome {
    provider
        .core
        .ephemeral
        .delete(&keys::access_token(&redeemed.access_token_hash))
        .await?;
    if let Some(family) = &redeemed.family {
        revoke_family(provider, family).await?;
    }
    tracing::warn!(client_id = %client.id, "authorization code replayed; tokens issued from it revoked");
    refuse(
        OAuthError::invalid_grant(
            "the code has already been used; tokens issued from it are revoked",
        )
        .into(),
    )
}

pub async fn redeem(
    provider: &Provider,
    client: &Arc<Client>,
    form: &HashMap<String, String>,
) -> Outcome {
    let Some(code) = form.get("code").filter(|c| !c.is_empty()) else {
        return refuse(OAuthError::invalid_request("code is required").into());
    };
    let key = keys::authorization_code(&provider.lookup_hash(code));
    let eph = &provider.core.ephemeral;
    let Some(raw) = eph.get(&key).await? else {
        return expired();
    };
    let data: CodeData = match serde_json::from_slice(&raw) {
        Ok(data) => data,
        Err(e) => match serde_json::from_slice::<RedeemedCode>(&raw) {
            Ok(redeemed) => return replayed(provider, client, redeemed).await,
            Err(_) => return Err(e.into()),
        },
    };
    // Checked before anything is consumed: another client's request must
    // not use up the rightful client's code.
    if data.grant.client_id != client.id {
        tracing::warn!(client_id = %client.id, "authorization code presented by another client");
        return refuse(OAuthError::invalid_grant("the code was issued to another client").into());
    }
    if form.get("redirect_uri").map(String::as_str) != Some(data.redirect_uri.as_str()) {
        return refuse(
            OAuthError::invalid_grant("redirect_uri does not match the authorization request")
                .into(),
        );
    }
    let verifier = form.get("code_verifier").filter(|v| !v.is_empty());
    match (&data.code_challenge, verifier) {
        (Some(challenge), Some(verifier)) => {
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if !constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
                return refuse(
                    OAuthError::invalid_grant("code_verifier does not match the code_challenge")
                        .into(),
                );
            }
        }
        (Some(_), None) => {
            return refuse(OAuthError::invalid_grant("code_verifier is required").into());
        }
        (None, Some(_)) => {
            return refuse(
                OAuthError::invalid_grant(
                    "code_verifier sent but the authorization request had no code_challenge",
                )
                .into(),
            );
        }
        (None, None) => {}
    }

    // Everything durable first (refresh token, account read, ID token): an
    // outage there leaves the code untouched, so the client can retry.
    let access_token = random_token()?;
    let family = data
        .grant
        .scopes
        .iter()
        .any(|s| s == "offline_access")
        .then(random_token)
        .transpose()?;
    let marker = serde_json::to_vec(&RedeemedCode {
        access_token_hash: provider.lookup_hash(&access_token),
        family: family.clone(),
    })?;
    // The account was deleted (`citizen::rgpd`) or suspended since the
    // login, or its tokens revoked after it: the code stands for nothing.
    // Checked in the read the ID token's claims need.
    let Some(person) = person_standing(provider, &data.grant).await? else {
        return refuse(
            OAuthError::invalid_grant("the account no longer exists or is no longer active").into(),
        );
    };
    let minted = mint(
        provider,
        client,
        &data.grant,
        data.nonce.as_deref(),
        family.clone(),
        Some(access_token),
        &person,
    )
    .await?;
    let memory = match family {
        Some(_) => REPLAY_MEMORY,
        None => minted.access_ttl,
    };
    // The access token is live before the code is marked redeemed, so a
    // replay that finds the marker finds the token too.
    eph.apply(&[minted.access_write()]).await?;
    let claimed = eph
        .compare_and_set(&key, Expect::Value(&raw), Replace::Value(&marker, memory))
        .await?;
    if claimed {
        return Ok(minted.response);
    }
    // Another redemption won (or the code expired meanwhile): what this one
    // minted never leaves the server.
    eph.delete(&minted.access_key).await?;
    if let Some(family) = &family {
        revoke_family(provider, family).await?;
    }
    match eph.get(&key).await? {
        Some(now) => match serde_json::from_slice::<RedeemedCode>(&now) {
            Ok(redeemed) => replayed(provider, client, redeemed).await,
            Err(_) => expired(),
        },
        None => expired(),
    }
}
