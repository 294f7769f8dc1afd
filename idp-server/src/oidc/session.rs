//! Browser SSO sessions. The cookie holds a random secret; the ephemeral store
//! keeps the session under the secret's keyed hash, so a store dump yields no
//! usable cookie. A session also ends when the account's tokens are revoked
//! (suspension, device revocation, password reset or change): `load` checks
//! the revocation instant in the same primary-key read as the account state.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Provider;
use super::error::OidcError;
use super::types::Authenticated;
use crate::crypto::random_token;
use crate::domain::acr::{Acr, Authentication};
use crate::ephemeral::keys;
use crate::ephemeral::{EphemeralStore, PreparedSet};
use crate::store::{now_millis, token_revocations};

/// HttpOnly cookie of the SSO session.
pub const SESSION_COOKIE: &str = "sesame_session";
/// HttpOnly cookie binding an authorization request to the browser that made it.
pub const BROWSER_COOKIE: &str = "sesame_browser";
/// How long an SSO session lives without a new authentication.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

/// What the store holds: the authentication and when the session started
/// (unix ms, compared with the account's last revocation). Every login
/// leaves one for [`SESSION_TTL`], so the names are one letter (#19); the
/// aliases read the sessions stored before with their long names.
#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(rename = "a", alias = "account_id")]
    account_id: String,
    #[serde(rename = "s", alias = "sid")]
    sid: String,
    #[serde(rename = "t", alias = "auth_time")]
    auth_time: i64,
    #[serde(rename = "m", alias = "authentication")]
    authentication: Authentication,
    #[serde(rename = "l", alias = "acr")]
    acr: Acr,
    /// Absent in sessions stored before it existed: their `auth_time`
    /// (seconds, so never later than the real instant) stands in.
    #[serde(rename = "c", alias = "created_at_ms", default)]
    created_at_ms: Option<i64>,
}

impl Stored {
    fn new(auth: &Authenticated, created_at_ms: i64) -> Self {
        Stored {
            account_id: auth.account_id.clone(),
            sid: auth.sid.clone(),
            auth_time: auth.auth_time,
            authentication: auth.authentication,
            acr: auth.acr,
            created_at_ms: Some(created_at_ms),
        }
    }

    fn into_auth(self) -> Authenticated {
        Authenticated {
            account_id: self.account_id,
            sid: self.sid,
            auth_time: self.auth_time,
            authentication: self.authentication,
            acr: self.acr,
        }
    }
}

fn key(provider: &Provider, cookie: &str) -> String {
    keys::session(&provider.lookup_hash(cookie))
}

/// The session the cookie names, if it is stored and still stands: the
/// account exists, is not suspended, and its tokens were not revoked since
/// the session started.
pub async fn load(provider: &Provider, cookie: &str) -> Result<Option<Authenticated>, OidcError> {
    let Some(raw) = provider.core.ephemeral.get(&key(provider, cookie)).await? else {
        return Ok(None);
    };
    let Ok(stored) = serde_json::from_slice::<Stored>(&raw) else {
        return Ok(None);
    };
    let created_at_ms = stored
        .created_at_ms
        .unwrap_or(stored.auth_time.saturating_mul(1000));
    let account = stored.account_id.clone();
    let stands = provider
        .core
        .db
        .read_short(move |conn| token_revocations::session_stands(conn, &account, created_at_ms))
        .await?;
    Ok(stands.then(|| stored.into_auth()))
}

/// A session not stored yet: the cookie value to set and the write that
/// stores the session.
pub struct NewSession {
    pub cookie: String,
    pub store: PreparedSet,
}

pub fn prepare(provider: &Provider, auth: &Authenticated) -> Result<NewSession, OidcError> {
    prepare_after(provider, auth, 0)
}

/// A session that starts after `revoked_at_ms`: for the browser that just
/// revoked its account's sessions (a password change), whose new session
/// must not fall in the same millisecond as the revocation.
pub fn prepare_after(
    provider: &Provider,
    auth: &Authenticated,
    revoked_at_ms: i64,
) -> Result<NewSession, OidcError> {
    let cookie = random_token()?;
    let stored = Stored::new(auth, now_millis().max(revoked_at_ms.saturating_add(1)));
    let store = PreparedSet {
        key: key(provider, &cookie),
        value: serde_json::to_vec(&stored)?,
        ttl: SESSION_TTL,
    };
    Ok(NewSession { cookie, store })
}

/// Starts a session; returns the cookie value to set.
pub async fn create(provider: &Provider, auth: &Authenticated) -> Result<String, OidcError> {
    create_after(provider, auth, 0).await
}

/// Starts a session later than `revoked_at_ms` ([`prepare_after`]); returns
/// the cookie value to set.
pub async fn create_after(
    provider: &Provider,
    auth: &Authenticated,
    revoked_at_ms: i64,
) -> Result<String, OidcError> {
    let session = prepare_after(provider, auth, revoked_at_ms)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_stored_with_long_names_still_load() {
        let old = br#"{"account_id":"a1","sid":"s1","auth_time":1700000000,"authentication":"device_pin","acr":"eidas2","created_at_ms":1700000000123}"#;
        let stored: Stored = serde_json::from_slice(old).unwrap();
        assert_eq!(stored.created_at_ms, Some(1_700_000_000_123));
        let auth = stored.into_auth();
        assert_eq!((auth.account_id.as_str(), auth.sid.as_str()), ("a1", "s1"));
        assert_eq!(auth.acr, Acr::Eidas2);
        // Written again, the same session in its short form.
        let short = serde_json::to_vec(&Stored::new(&auth, 1_700_000_000_123)).unwrap();
        assert!(
            short.len() + 40 < old.len(),
            "{}",
            String::from_utf8_lossy(&short)
        );
        let again: Stored = serde_json::from_slice(&short).unwrap();
        assert_eq!(again.into_auth(), auth);
    }
}
