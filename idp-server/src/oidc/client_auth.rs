//! Client authentication at the token, revocation and introspection endpoints
//! (RFC 6749 §2.3, OIDC Core §9): client_secret_basic, client_secret_post,
//! private_key_jwt (RFC 7523), and `none` for public clients.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use josekit::jws::{ES256, JwsVerifier, PS256, RS256};
use josekit::jwt;

use super::Provider;
use super::clients::Client;
use super::error::{OAuthError, OidcError};
use crate::domain::client::ClientAuthMethod;
use crate::ephemeral::EphemeralStore;
use crate::ephemeral::keys;
use crate::outcome::{ServiceError, refuse};
use crate::store::now_unix;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest lifetime accepted for a client assertion.
const MAX_ASSERTION_LIFETIME: i64 = 300;
const CLOCK_SKEW: i64 = 30;

/// Credentials as presented, before any check.
#[derive(Debug, Default)]
pub struct Presented {
    pub basic: Option<(String, String)>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub assertion_type: Option<String>,
    pub assertion: Option<String>,
}

/// A failed client authentication; `basic` tells the web layer to answer 401
/// with `WWW-Authenticate: Basic`.
#[derive(Debug)]
pub struct ClientAuthError {
    pub error: OAuthError,
    pub basic: bool,
}

/// `client_secret_basic` credentials (RFC 6749 §2.3.1), already decoded
/// from the `Authorization: Basic` header by the web layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    pub client_id: String,
    pub secret: String,
}

impl Presented {
    /// The Basic credentials (if any) and the form body.
    pub fn new(basic: Option<BasicCredentials>, form: &HashMap<String, String>) -> Self {
        let get = |k: &str| form.get(k).filter(|v| !v.is_empty()).cloned();
        Presented {
            basic: basic.map(|b| (b.client_id, b.secret)),
            client_id: get("client_id"),
            client_secret: get("client_secret"),
            assertion_type: get("client_assertion_type"),
            assertion: get("client_assertion"),
        }
    }
}

/// The client, or why it is not authenticated (`Refused`), or the store failed.
pub type Authenticated = Result<Arc<Client>, ServiceError<ClientAuthError, OidcError>>;

fn deny(description: &str, basic: bool) -> Authenticated {
    refuse(ClientAuthError {
        error: OAuthError::invalid_client(description),
        basic,
    })
}

/// Authenticates the calling client with the method it registered.
pub async fn authenticate(provider: &Provider, presented: Presented) -> Authenticated {
    let basic = presented.basic.is_some();
    let assertion_id = match (&presented.assertion, &presented.assertion_type) {
        (Some(assertion), Some(kind)) if kind == ASSERTION_TYPE => unverified_issuer(assertion),
        (Some(_), _) => return deny("unsupported client_assertion_type", basic),
        _ => None,
    };
    let client_id = presented
        .basic
        .as_ref()
        .map(|(id, _)| id.clone())
        .or(presented.client_id.clone())
        .or(assertion_id);
    let Some(client_id) = client_id else {
        return deny("client authentication is required", basic);
    };
    if let Some(form_id) = &presented.client_id
        && form_id != &client_id
    {
        return deny("client_id does not match the authenticated client", basic);
    }
    let Some(client) = provider.clients.get(&client_id).await? else {
        return deny("unknown client or bad credentials", basic);
    };
    match client.metadata.auth_method {
        ClientAuthMethod::ClientSecretBasic => match &presented.basic {
            Some((_, secret)) if provider.clients.verify_secret(&client, secret) => Ok(client),
            Some(_) => deny("unknown client or bad credentials", true),
            None => deny("this client must authenticate with HTTP Basic", true),
        },
        ClientAuthMethod::ClientSecretPost => match (&presented.basic, &presented.client_secret) {
            (None, Some(secret)) if provider.clients.verify_secret(&client, secret) => Ok(client),
            (None, Some(_)) => deny("unknown client or bad credentials", false),
            _ => deny(
                "this client must send client_secret in the form body",
                basic,
            ),
        },
        ClientAuthMethod::PrivateKeyJwt => match &presented.assertion {
            Some(assertion) if !basic && presented.client_secret.is_none() => {
                match verify_assertion(provider, &client, assertion).await {
                    Ok(()) => Ok(client),
                    Err(ServiceError::Refused(reason)) => deny(&reason, false),
                    Err(ServiceError::Failed(e)) => Err(e.into()),
                }
            }
            _ => deny("this client must authenticate with private_key_jwt", basic),
        },
        ClientAuthMethod::None => {
            if basic || presented.client_secret.is_some() || presented.assertion.is_some() {
                deny("this public client has no credentials", basic)
            } else {
                Ok(client)
            }
        }
    }
}

/// The `iss` of an assertion, read without verification, to find the client.
fn unverified_issuer(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("iss")?.as_str().map(str::to_owned)
}

/// RFC 7523 §3 checks; the error string says which one failed.
async fn verify_assertion(
    provider: &Provider,
    client: &Client,
    assertion: &str,
) -> Result<(), ServiceError<String, OidcError>> {
    let Ok(header) = jwt::decode_header(assertion) else {
        return refuse("client_assertion is not a JWT".into());
    };
    let alg = header.claim("alg").and_then(|v| v.as_str()).unwrap_or("");
    let kid = header.claim("kid").and_then(|v| v.as_str());
    let keys = provider.clients.client_keys(client).await?;
    let candidates = keys.iter().filter(|k| {
        k.key_use() != Some("enc")
            && kid.is_none_or(|kid| k.key_id() == Some(kid))
            && k.algorithm().is_none_or(|a| a == alg)
    });
    let mut verified = None;
    for jwk in candidates {
        let verifier: Box<dyn JwsVerifier> = match (alg, jwk.key_type()) {
            ("ES256", "EC") => match ES256.verifier_from_jwk(jwk) {
                Ok(v) => Box::new(v),
                Err(_) => continue,
            },
            ("RS256", "RSA") => match RS256.verifier_from_jwk(jwk) {
                Ok(v) => Box::new(v),
                Err(_) => continue,
            },
            ("PS256", "RSA") => match PS256.verifier_from_jwk(jwk) {
                Ok(v) => Box::new(v),
                Err(_) => continue,
            },
            _ => continue,
        };
        if let Ok((payload, _)) = jwt::decode_with_verifier(assertion, verifier.as_ref()) {
            verified = Some(payload);
            break;
        }
    }
    let Some(claims) = verified else {
        return refuse("client_assertion signature does not verify with the client's keys".into());
    };
    if claims.issuer() != Some(client.id.as_str()) || claims.subject() != Some(client.id.as_str()) {
        return refuse("client_assertion iss and sub must be the client_id".into());
    }
    let token_endpoint = provider.endpoint(super::paths::TOKEN);
    let audience_ok = claims.audience().is_some_and(|aud| {
        aud.iter()
            .any(|a| *a == token_endpoint || *a == provider.issuer())
    });
    if !audience_ok {
        return refuse("client_assertion aud must be the token endpoint or the issuer".into());
    }
    let now = now_unix();
    let exp = claims
        .expires_at()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64);
    let Some(exp) = exp else {
        return refuse("client_assertion exp is required".into());
    };
    if exp + CLOCK_SKEW < now {
        return refuse("client_assertion has expired".into());
    }
    if exp - now > MAX_ASSERTION_LIFETIME {
        return refuse("client_assertion lives too long (at most 5 minutes)".into());
    }
    let Some(jti) = claims.jwt_id().filter(|j| !j.is_empty()) else {
        return refuse("client_assertion jti is required".into());
    };
    let remaining = Duration::from_secs((exp - now + CLOCK_SKEW).max(1) as u64);
    let fresh = provider
        .core
        .ephemeral
        .set_if_absent(
            &keys::client_assertion_jti(&client.id, &provider.lookup_hash(jti)),
            b"1",
            remaining,
        )
        .await?;
    if !fresh {
        return refuse("client_assertion jti has already been used".into());
    }
    Ok(())
}
