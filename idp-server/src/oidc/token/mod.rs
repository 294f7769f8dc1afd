//! The token endpoint (OIDC Core §3.1.3): one module per grant type.

mod authorization_code;
mod refresh_token;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::Provider;
use super::claims::{self, Person};
use super::client_auth::{self, BasicCredentials, ClientAuthError, Presented};
use super::clients::Client;
use super::error::{ErrorCode, OAuthError, OidcError};
use super::tokens;
use super::types::{AccessTokenData, Grant};
use crate::crypto::random_token;
use crate::ephemeral::Write;
use crate::ephemeral::keys;
use crate::outcome::{ServiceError, refuse};
use crate::store::refresh_tokens::{self, NewRefreshToken};
use crate::store::{now_millis, now_unix, token_revocations};

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub id_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// Why the endpoint refused.
#[derive(Debug)]
pub enum TokenError {
    Client(ClientAuthError),
    Grant(OAuthError),
}

/// The tokens, or why the endpoint refused, or the infrastructure failed.
pub type Exchanged = Result<TokenResponse, ServiceError<TokenError, OidcError>>;

impl From<OAuthError> for TokenError {
    fn from(e: OAuthError) -> Self {
        TokenError::Grant(e)
    }
}

pub async fn exchange(
    provider: &Provider,
    basic: Option<BasicCredentials>,
    form: &HashMap<String, String>,
) -> Exchanged {
    let client = client_auth::authenticate(provider, Presented::new(basic, form))
        .await
        .map_err(|e| e.map_refused(TokenError::Client))?;
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => authorization_code::redeem(provider, &client, form).await,
        Some("refresh_token") => refresh_token::refresh(provider, &client, form).await,
        None => refuse(OAuthError::invalid_request("grant_type is required").into()),
        Some(other) => refuse(
            OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("unsupported grant_type {other}"),
            )
            .into(),
        ),
    }
}

/// Tokens minted for one grant: the refresh token is stored and the ID token
/// signed, but the access token is not live until the caller writes
/// [`Minted::access_write`], so a step that fails before that leaves nothing usable.
struct Minted {
    response: TokenResponse,
    access_key: String,
    access_value: Vec<u8>,
    access_ttl: Duration,
}

impl Minted {
    /// The write that makes the access token live.
    fn access_write(&self) -> Write<'_> {
        Write::Set(&self.access_key, &self.access_value, self.access_ttl)
    }
}

/// Refresh token (durable, if offline_access), ID token and the access
/// token's data (written by the caller): every durable read and write of an
/// issue happens here, before anything in the ephemeral store changes.
async fn mint(
    provider: &Provider,
    client: &Arc<Client>,
    grant: &Grant,
    nonce: Option<&str>,
    family: Option<String>,
    planned_access_token: Option<String>,
    person: &Person,
) -> Result<Minted, OidcError> {
    let access_token = match planned_access_token {
        Some(token) => token,
        None => random_token()?,
    };
    let ttl = client.metadata.access_token_ttl_secs;
    let now = now_unix();
    let data = AccessTokenData {
        grant: grant.clone(),
        expires_at: now + ttl as i64,
        family: family.clone(),
        issued_at_ms: now_millis(),
    };
    let access_key = keys::access_token(&provider.lookup_hash(&access_token));
    let access_value = serde_json::to_vec(&data)?;

    let refresh_token = match family {
        Some(family) => Some(store_refresh_token(provider, client, grant, &family).await?),
        None => None,
    };

    let sub = claims::subject(provider, client, &grant.account_id);
    let mut id_claims = Map::new();
    id_claims.insert("iss".into(), json!(provider.issuer()));
    id_claims.insert("sub".into(), json!(sub));
    id_claims.insert("aud".into(), json!(client.id));
    id_claims.insert(
        "exp".into(),
        json!(now + client.metadata.id_token_ttl_secs as i64),
    );
    id_claims.insert("iat".into(), json!(now));
    id_claims.insert("auth_time".into(), json!(grant.auth_time));
    if let Some(nonce) = nonce {
        id_claims.insert("nonce".into(), json!(nonce));
    }
    id_claims.insert("acr".into(), json!(grant.acr));
    id_claims.insert("amr".into(), json!(grant.authentication.amr()));
    id_claims.insert("at_hash".into(), json!(tokens::at_hash(&access_token)));
    id_claims.insert("sid".into(), json!(grant.sid));
    for (name, value) in claims::values(person, &grant.claims.id_token) {
        id_claims.entry(name).or_insert(value);
    }
    let id_token = tokens::sign_for_client(
        provider,
        client,
        id_claims,
        client.metadata.id_token_alg(),
        client.metadata.id_token_encryption.as_ref(),
    )
    .await?;
    Ok(Minted {
        response: TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
            id_token,
            refresh_token,
            scope: grant.scopes.join(" "),
        },
        access_key,
        access_value,
        access_ttl: Duration::from_secs(ttl),
    })
}

/// The account behind `grant` with its identity, if the grant still stands:
/// the account exists, is not suspended, and its tokens were not revoked
/// after the authentication (`token_revocations::grant_standing`). The
/// check and the claims' read are one statement.
async fn person_standing(provider: &Provider, grant: &Grant) -> Result<Option<Person>, OidcError> {
    let (account_id, auth_time) = (grant.account_id.clone(), grant.auth_time);
    Ok(provider
        .core
        .db
        .read_short(move |conn| {
            Ok(token_revocations::grant_standing(conn, &account_id, auth_time)?.map(Person::from))
        })
        .await?)
}

async fn store_refresh_token(
    provider: &Provider,
    client: &Client,
    grant: &Grant,
    family: &str,
) -> Result<String, OidcError> {
    let token = random_token()?;
    let hash = provider.lookup_hash(&token);
    let data = serde_json::to_string(grant)?;
    let expires_at = now_unix() + client.metadata.refresh_token_ttl_secs as i64;
    let (family, account, client_id) = (
        family.to_owned(),
        grant.account_id.clone(),
        client.id.clone(),
    );
    provider
        .core
        .db
        .write(move |conn| {
            refresh_tokens::insert(
                conn,
                &NewRefreshToken {
                    token_hash: &hash,
                    family_id: &family,
                    account_id: &account,
                    client_id: &client_id,
                    grant_data: &data,
                    expires_at,
                },
            )
        })
        .await?;
    Ok(token)
}

/// Revokes a refresh-token family (after a replay or a revocation request).
/// The stored refresh token `token` names, whatever its state.
pub async fn refresh_token_row(
    provider: &Provider,
    token: &str,
) -> Result<Option<refresh_tokens::RefreshTokenRow>, OidcError> {
    let hash = provider.lookup_hash(token);
    Ok(provider
        .core
        .db
        .read(move |conn| refresh_tokens::get(conn, &hash))
        .await?)
}

pub async fn revoke_family(provider: &Provider, family: &str) -> Result<usize, OidcError> {
    let family = family.to_owned();
    Ok(provider
        .core
        .db
        .write(move |conn| refresh_tokens::revoke_family(conn, &family))
        .await?)
}

/// JSON view of a grant for introspection.
pub fn describe(provider: &Provider, client: &Client, grant: &Grant) -> Value {
    json!({
        "scope": grant.scopes.join(" "),
        "client_id": grant.client_id,
        "sub": claims::subject(provider, client, &grant.account_id),
        "acr": grant.acr,
        "auth_time": grant.auth_time,
        "iss": provider.issuer(),
    })
}
