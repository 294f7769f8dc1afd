//! OpenID Connect protocol logic (no HTTP types here): one file per endpoint
//! or step, sharing the [`Provider`] bundle of services.

pub mod authorize;
pub mod claims;
pub mod client_auth;
pub mod clients;
pub mod discovery;
pub mod end_session;
pub mod error;
pub mod introspection;
pub mod login;
pub mod phone;
pub mod revocation;
pub mod session;
pub mod token;
pub mod tokens;
pub mod types;
pub mod userinfo;

use std::sync::Arc;

use crate::app::Core;
use clients::ClientRegistry;

/// Everything the OIDC endpoints need. Cheap to clone.
#[derive(Clone)]
pub struct Provider {
    pub core: Core,
    pub clients: Arc<ClientRegistry>,
    /// Argon2id hash of a random password, verified against when an email is
    /// unknown so that both cases take the same time.
    pub dummy_password_hash: Arc<String>,
    /// The device-request replay guard's view of its durable lease.
    pub device_requests: Arc<crate::device::request::ReplayLease>,
}

impl Provider {
    /// Builds the provider on a started core (computes the dummy password hash).
    pub async fn new(core: Core) -> Result<Self, error::OidcError> {
        let dummy = tokio::task::spawn_blocking(login::dummy_hash)
            .await
            .map_err(|e| error::OidcError::Internal(e.to_string()))??;
        Ok(Provider {
            clients: Arc::new(ClientRegistry::new(
                core.db.clone(),
                core.subkeys.client_secret_key,
                // Cache only where other processes' changes can reach us.
                matches!(core.ephemeral, crate::ephemeral::Ephemeral::Redis(_)),
            )),
            core,
            dummy_password_hash: Arc::new(dummy),
            device_requests: Arc::default(),
        })
    }

    /// Drops cached clients when another process announces a change.
    pub fn spawn_client_invalidation(&self) -> tokio::task::JoinHandle<()> {
        use crate::ephemeral::EphemeralStore;
        let mut changes = self.core.ephemeral.subscribe(clients::CLIENTS_TOPIC);
        let registry = Arc::clone(&self.clients);
        tokio::spawn(async move {
            while let Some(message) = changes.recv().await {
                if let Ok(client_id) = std::str::from_utf8(&message) {
                    registry.invalidate(client_id);
                }
            }
        })
    }

    pub fn issuer(&self) -> &str {
        self.core.config.issuer()
    }

    /// Keyed lookup hash of a bearer secret (code, token, session cookie):
    /// what the stores keep instead of the secret itself.
    pub fn lookup_hash(&self, secret: &str) -> String {
        crate::crypto::hmac_hex(&self.core.subkeys.token_hash_key, secret.as_bytes())
    }

    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer())
    }
}

/// Paths of the protocol endpoints, relative to the issuer.
pub mod paths {
    pub const AUTHORIZE: &str = "/authorize";
    pub const TOKEN: &str = "/token";
    pub const USERINFO: &str = "/userinfo";
    pub const END_SESSION: &str = "/logout";
    pub const REVOCATION: &str = "/revoke";
    pub const INTROSPECTION: &str = "/introspect";
    pub const JWKS: &str = "/jwks";
}
