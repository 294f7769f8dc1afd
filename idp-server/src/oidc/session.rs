//! Browser SSO sessions. The cookie holds a random secret; the ephemeral store
//! keeps the session under the secret's keyed hash, so a store dump yields no
//! usable cookie.

use std::time::Duration;

use super::Provider;
use super::error::OidcError;
use super::types::Authenticated;
use crate::crypto::random_token;
use crate::ephemeral::keys;
use crate::ephemeral::{EphemeralStore, PreparedSet};

/// HttpOnly cookie of the SSO session.
pub const SESSION_COOKIE: &str = "sesame_session";
/// HttpOnly cookie binding an authorization request to the browser that made it.
pub const BROWSER_COOKIE: &str = "sesame_browser";
/// How long an SSO session lives without a new authentication.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

fn key(provider: &Provider, cookie: &str) -> String {
    keys::session(&provider.lookup_hash(cookie))
}

pub async fn load(provider: &Provider, cookie: &str) -> Result<Option<Authenticated>, OidcError> {
    let Some(raw) = provider.core.ephemeral.get(&key(provider, cookie)).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice(&raw).ok())
}

/// A session not stored yet: the cookie value to set and the write that
/// stores the session.
pub struct NewSession {
    pub cookie: String,
    pub store: PreparedSet,
}

pub fn prepare(provider: &Provider, auth: &Authenticated) -> Result<NewSession, OidcError> {
    let cookie = random_token()?;
    let store = PreparedSet {
        key: key(provider, &cookie),
        value: serde_json::to_vec(auth)?,
        ttl: SESSION_TTL,
    };
    Ok(NewSession { cookie, store })
}

/// Starts a session; returns the cookie value to set.
pub async fn create(provider: &Provider, auth: &Authenticated) -> Result<String, OidcError> {
    let session = prepare(provider, auth)?;
    provider
        .core
        .ephemeral
        .apply(&[session.store.write()])
        .await?;
    Ok(session.cookie)
}

pub async fn destroy(provider: &Provider, cookie: &str) -> Result<(), OidcError> {
    provider
        .core
        .ephemeral
        .delete(&key(provider, cookie))
        .await?;
    Ok(())
}
