//! Token introspection (RFC 7662), for the client the token was issued to.
//! Anything else is `{"active": false}`.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Provider;
use super::client_auth::{self, BasicCredentials, ClientAuthError, Presented};
use super::error::OidcError;
use super::token::{describe, refresh_token_row};
use super::types::Grant;
use super::userinfo::access_token;
use crate::outcome::ServiceError;
use crate::store::now_unix;

pub async fn introspect(
    provider: &Provider,
    basic: Option<BasicCredentials>,
    form: &HashMap<String, String>,
) -> Result<Value, ServiceError<ClientAuthError, OidcError>> {
    let client = client_auth::authenticate(provider, Presented::new(basic, form)).await?;
    let inactive = json!({ "active": false });
    let Some(token) = form.get("token").filter(|t| !t.is_empty()) else {
        return Ok(inactive);
    };
    if let Some(data) = access_token(provider, token).await?
        && data.grant.client_id == client.id
    {
        let mut body = describe(provider, &client, &data.grant);
        body["active"] = json!(true);
        body["token_type"] = json!("Bearer");
        body["exp"] = json!(data.expires_at);
        return Ok(body);
    }
    let row = refresh_token_row(provider, token).await?;
    if let Some(row) = row
        && row.client_id == client.id
        && row.revoked_at.is_none()
        && row.used_at.is_none()
        && row.expires_at >= now_unix()
        && let Ok(grant) = serde_json::from_str::<Grant>(&row.grant_data)
    {
        let mut body = describe(provider, &client, &grant);
        body["active"] = json!(true);
        body["token_type"] = json!("refresh_token");
        body["exp"] = json!(row.expires_at);
        return Ok(body);
    }
    Ok(inactive)
}
