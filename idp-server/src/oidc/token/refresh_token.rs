//! `grant_type=refresh_token` with rotation: each refresh token works once;
//! presenting a used one revokes its whole family (RFC 9700 §4.14.2). An
//! account-wide revocation marks every family revoked
//! (`token_revocations::revoke_all`) and refuses the grants authenticated
//! before it.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Exchanged, mint, person_standing, revoke_family};
use crate::ephemeral::EphemeralStore;
use crate::oidc::Provider;
use crate::oidc::clients::Client;
use crate::oidc::error::OAuthError;
use crate::oidc::types::Grant;
use crate::outcome::refuse;
use crate::store::{now_unix, refresh_tokens};

pub async fn refresh(
    provider: &Provider,
    client: &Arc<Client>,
    form: &HashMap<String, String>,
) -> Exchanged {
    let Some(token) = form.get("refresh_token").filter(|t| !t.is_empty()) else {
        return refuse(OAuthError::invalid_request("refresh_token is required").into());
    };
    let hash = provider.lookup_hash(token);
    let lookup = hash.clone();
    let Some(row) = provider
        .core
        .db
        .read(move |conn| refresh_tokens::get(conn, &lookup))
        .await?
    else {
        return refuse(OAuthError::invalid_grant("unknown refresh token").into());
    };
    if row.client_id != client.id {
        return refuse(
            OAuthError::invalid_grant("the refresh token was issued to another client").into(),
        );
    }
    if row.revoked_at.is_some() {
        return refuse(OAuthError::invalid_grant("the refresh token has been revoked").into());
    }
    if row.expires_at < now_unix() {
        return refuse(OAuthError::invalid_grant("the refresh token has expired").into());
    }
    let claimed = provider
        .core
        .db
        .write(move |conn| refresh_tokens::mark_used(conn, &hash))
        .await?;
    if !claimed || row.used_at.is_some() {
        revoke_family(provider, &row.family_id).await?;
        tracing::warn!(client_id = %client.id, "refresh token reused; its family is revoked");
        return refuse(
            OAuthError::invalid_grant(
                "the refresh token was already used; all tokens of this grant are revoked",
            )
            .into(),
        );
    }
    let mut grant: Grant = serde_json::from_str(&row.grant_data)?;
    // The account must still be there, not suspended, and its tokens not
    // revoked (suspension, device revocation, password reset) since the
    // authentication behind this grant; read with what the ID token needs.
    let Some(person) = person_standing(provider, &grant).await? else {
        revoke_family(provider, &row.family_id).await?;
        return refuse(OAuthError::invalid_grant("the account is no longer active").into());
    };
    if let Some(requested) = form.get("scope").filter(|s| !s.is_empty()) {
        let narrowed = crate::domain::scope::parse(requested);
        if narrowed.iter().any(|s| !grant.scopes.contains(s)) {
            return refuse(OAuthError::invalid_scope("scope exceeds the original grant").into());
        }
        grant.scopes = narrowed;
    }
    let minted = mint(
        provider,
        client,
        &grant,
        None,
        Some(row.family_id),
        None,
        &person,
    )
    .await?;
    provider
        .core
        .ephemeral
        .apply(&[minted.access_write()])
        .await?;
    Ok(minted.response)
}
