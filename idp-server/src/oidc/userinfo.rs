//! The userinfo endpoint (OIDC Core §5.3): claims for a valid access token,
//! as JSON or, when the client registered an alg, as a signed (and possibly
//! encrypted) JWT.

use serde_json::{Map, Value, json};

use super::Provider;
use super::claims::{self, Person};
use super::error::{OAuthError, OidcError};
use super::types::AccessTokenData;
use crate::crypto::SigningAlg;
use crate::ephemeral::EphemeralStore;
use crate::ephemeral::keys;
use crate::outcome::{ServiceError, refuse};
use crate::store::{now_unix, token_revocations};

pub enum Userinfo {
    Json(Map<String, Value>),
    Jwt(String),
}

/// The access token's data if it is present and not expired in the
/// ephemeral store (not yet checked against the database).
async fn live(provider: &Provider, token: &str) -> Result<Option<AccessTokenData>, OidcError> {
    let raw = provider
        .core
        .ephemeral
        .get(&keys::access_token(&provider.lookup_hash(token)))
        .await?;
    Ok(raw
        .and_then(|r| serde_json::from_slice::<AccessTokenData>(&r).ok())
        .filter(|d| d.expires_at >= now_unix()))
}

/// Looks up a live access token: present, not expired, and still standing
/// in the database (account not suspended, its tokens not revoked since
/// issue, refresh-token family not revoked). The database check costs one
/// read on the blocking pool with two primary-key lookups (three with a
/// family), only for a token the ephemeral store knows.
pub async fn access_token(
    provider: &Provider,
    token: &str,
) -> Result<Option<AccessTokenData>, OidcError> {
    let Some(data) = live(provider, token).await? else {
        return Ok(None);
    };
    let (account, issued, family) = standing_key(&data);
    let stands = provider
        .core
        .db
        .read(move |conn| {
            token_revocations::access_token_stands(conn, &account, issued, family.as_deref())
        })
        .await?;
    Ok(stands.then_some(data))
}

/// What the standing check of a live token reads by: its account, when it
/// was issued (ms) and its refresh-token family.
fn standing_key(data: &AccessTokenData) -> (String, i64, Option<String>) {
    (
        data.grant.account_id.clone(),
        data.issued_at_ms,
        data.family.clone(),
    )
}

/// As [`access_token`], with the account and identity the claims come
/// from, read in the same statement as the standing check
/// (`token_revocations::access_token_standing`).
async fn access_token_with_person(
    provider: &Provider,
    token: &str,
) -> Result<Option<(AccessTokenData, Person)>, OidcError> {
    let Some(data) = live(provider, token).await? else {
        return Ok(None);
    };
    let (account, issued, family) = standing_key(&data);
    let person = provider
        .core
        .db
        .read_short(move |conn| {
            let found = token_revocations::access_token_standing(
                conn,
                &account,
                issued,
                family.as_deref(),
            )?;
            Ok(found.map(Person::from))
        })
        .await?;
    Ok(person.map(|person| (data, person)))
}

pub async fn userinfo(
    provider: &Provider,
    token: &str,
) -> Result<Userinfo, ServiceError<OAuthError, OidcError>> {
    // An account erased or suspended since, or tokens revoked since, make
    // the token invalid like an expired one.
    let Some((data, person)) = access_token_with_person(provider, token).await? else {
        return refuse(OAuthError::invalid_token(
            "the access token is invalid or has expired",
        ));
    };
    if !data.grant.scopes.iter().any(|s| s == "openid") {
        return refuse(OAuthError::invalid_token(
            "the access token was not issued for openid",
        ));
    }
    let Some(client) = provider.clients.get(&data.grant.client_id).await? else {
        return refuse(OAuthError::invalid_token(
            "the client of this token no longer exists",
        ));
    };
    let names = claims::requested_claims(&data.grant.scopes, &data.grant.claims.userinfo);
    let mut body = Map::new();
    body.insert(
        "sub".into(),
        json!(claims::subject(provider, &client, &data.grant.account_id)),
    );
    body.extend(claims::values(&person, &names));
    match client
        .metadata
        .userinfo_signed_response_alg
        .as_deref()
        .and_then(SigningAlg::parse)
    {
        None => Ok(Userinfo::Json(body)),
        Some(alg) => {
            body.insert("iss".into(), json!(provider.issuer()));
            body.insert("aud".into(), json!(client.id));
            body.insert("iat".into(), json!(now_unix()));
            let jwt = super::tokens::sign_for_client(
                provider,
                &client,
                body,
                alg,
                client.metadata.userinfo_encryption.as_ref(),
            )
            .await?;
            Ok(Userinfo::Jwt(jwt))
        }
    }
}
