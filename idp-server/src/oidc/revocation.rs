//! Token revocation (RFC 7009). Unknown tokens and tokens of other clients are
//! answered like successes, so the endpoint reveals nothing about them.

use std::collections::HashMap;

use super::Provider;
use super::client_auth::{self, BasicCredentials, ClientAuthError, Presented};
use super::error::{OAuthError, OidcError};
use super::token::{refresh_token_row, revoke_family};
use super::userinfo::access_token;
use crate::ephemeral::EphemeralStore;
use crate::ephemeral::keys;
use crate::outcome::ServiceError;

pub enum Revocation {
    Done,
    Client(ClientAuthError),
    Invalid(OAuthError),
}

pub async fn revoke(
    provider: &Provider,
    basic: Option<BasicCredentials>,
    form: &HashMap<String, String>,
) -> Result<Revocation, OidcError> {
    let client = match client_auth::authenticate(provider, Presented::new(basic, form)).await {
        Ok(client) => client,
        Err(ServiceError::Refused(e)) => return Ok(Revocation::Client(e)),
        Err(ServiceError::Failed(e)) => return Err(e),
    };
    let Some(token) = form.get("token").filter(|t| !t.is_empty()) else {
        return Ok(Revocation::Invalid(OAuthError::invalid_request(
            "token is required",
        )));
    };
    if let Some(data) = access_token(provider, token).await?
        && data.grant.client_id == client.id
    {
        provider
            .core
            .ephemeral
            .delete(&keys::access_token(&provider.lookup_hash(token)))
            .await?;
        return Ok(Revocation::Done);
    }
    let row = refresh_token_row(provider, token).await?;
    if let Some(row) = row
        && row.client_id == client.id
    {
        revoke_family(provider, &row.family_id).await?;
    }
    Ok(Revocation::Done)
}
