//! The relying-party registry: cached reads for the request path, blocking
//! writes for the CLI (each one transaction with its audit entry).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use josekit::jwk::{Jwk, JwkSet};

use super::error::OidcError;
use crate::crypto::{constant_time_eq, hmac_hex, random_token};
use crate::domain::client::ClientMetadata;
use crate::store::audit::{self, AuditEvent};
use crate::store::clients::{self as rows, ClientRow};
use crate::store::{Db, StoreError};

/// Pub/sub topic carrying the id of a client that changed.
pub const CLIENTS_TOPIC: &str = crate::ephemeral::keys::CLIENTS_CHANGED;
const CACHE_TTL: Duration = Duration::from_secs(30);
const JWKS_TTL: Duration = Duration::from_secs(300);

/// A registered relying party.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub name: String,
    secret_hash: Option<String>,
    pub metadata: ClientMetadata,
}

impl Client {
    fn from_row(row: ClientRow) -> Result<Self, StoreError> {
        let metadata: ClientMetadata = serde_json::from_str(&row.metadata)
            .map_err(|e| StoreError::Corrupt(format!("client {} metadata: {e}", row.client_id)))?;
        Ok(Client {
            id: row.client_id,
            name: row.name,
            secret_hash: row.secret_hash,
            metadata,
        })
    }
}

type Cached<T> = RwLock<HashMap<String, (T, Instant)>>;

pub struct ClientRegistry {
    db: Db,
    secret_key: [u8; 32],
    /// Only when changes made by other processes can reach us (Redis pub/sub):
    /// otherwise a rotated secret would stay valid until the entry expired.
    cache: bool,
    http: reqwest::Client,
    clients: Cached<Option<Arc<Client>>>,
    jwks: Cached<Arc<Vec<Jwk>>>,
}

impl ClientRegistry {
    pub fn new(db: Db, secret_key: [u8; 32], cache: bool) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        ClientRegistry {
            db,
            secret_key,
            cache,
            http,
            clients: RwLock::new(HashMap::new()),
            jwks: RwLock::new(HashMap::new()),
        }
    }

    /// The client with this id (cached for a few seconds, unknown ids too,
    /// when caching is on).
    pub async fn get(&self, client_id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        if self.cache
            && let Some((client, at)) = self
                .clients
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(client_id)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(client.clone());
        }
        let id = client_id.to_owned();
        let row = self.db.read(move |conn| rows::get(conn, &id)).await?;
        let client = row.map(Client::from_row).transpose()?.map(Arc::new);
        if !self.cache {
            return Ok(client);
        }
        let mut cache = self.clients.write().unwrap_or_else(PoisonError::into_inner);
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(client_id.to_owned(), (client.clone(), Instant::now()));
        Ok(client)
    }

    /// Forgets a cached client (after a change announced on [`CLIENTS_TOPIC`]).
    pub fn invalidate(&self, client_id: &str) {
        self.clients
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(client_id);
        self.jwks
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(client_id);
    }

    /// Checks a presented secret against the stored hash, in constant time.
    pub fn verify_secret(&self, client: &Client, presented: &str) -> bool {
        match &client.secret_hash {
            Some(stored) => constant_time_eq(
                hmac_hex(&self.secret_key, presented.as_bytes()).as_bytes(),
                stored.as_bytes(),
            ),
            None => false,
        }
    }

    /// The client's public keys: inline `jwks`, else `jwks_uri` (cached).
    pub async fn client_keys(&self, client: &Client) -> Result<Arc<Vec<Jwk>>, OidcError> {
        if let Some(inline) = &client.metadata.jwks {
            return Ok(Arc::new(parse_jwks(inline)?));
        }
        let Some(uri) = &client.metadata.jwks_uri else {
            return Ok(Arc::new(Vec::new()));
        };
        if let Some((keys, at)) = self
            .jwks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&client.id)
            && at.elapsed() < JWKS_TTL
        {
            return Ok(Arc::clone(keys));
        }
        let body = self
            .http
            .get(uri)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| OidcError::Internal(format!("fetching jwks_uri of {}: {e}", client.id)))?
            .bytes()
            .await
            .map_err(|e| OidcError::Internal(format!("reading jwks_uri of {}: {e}", client.id)))?;
        let value: serde_json::Value = serde_json::from_slice(&body)?;
        let keys = Arc::new(parse_jwks(&value)?);
        self.jwks
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(client.id.clone(), (Arc::clone(&keys), Instant::now()));
        Ok(keys)
    }
}

fn parse_jwks(value: &serde_json::Value) -> Result<Vec<Jwk>, OidcError> {
    let map = value
        .as_object()
        .cloned()
        .ok_or_else(|| OidcError::Internal("client JWKS is not an object".into()))?;
    Ok(JwkSet::from_map(map)?.keys().into_iter().cloned().collect())
}

/// A new client secret: 32 random bytes, base64url (43 characters).
pub fn generate_secret() -> Result<String, crate::crypto::CryptoError> {
    random_token()
}

/// The stored form of a secret.
pub fn hash_secret(secret_key: &[u8; 32], secret: &str) -> String {
    hmac_hex(secret_key, secret.as_bytes())
}

#[derive(Debug, thiserror::Error)]
pub enum ClientAdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("invalid client: {0}")]
    Invalid(String),
    #[error("client {0} already exists")]
    Exists(String),
    #[error("no client {0}")]
    NotFound(String),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

/// A client as the operator sees it (never the secret).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub has_secret: bool,
    pub metadata: ClientMetadata,
    pub created_at: i64,
    pub updated_at: i64,
}

fn view(row: ClientRow) -> Result<ClientView, StoreError> {
    let metadata = serde_json::from_str(&row.metadata)
        .map_err(|e| StoreError::Corrupt(format!("client {} metadata: {e}", row.client_id)))?;
    Ok(ClientView {
        client_id: row.client_id,
        name: row.name,
        has_secret: row.secret_hash.is_some(),
        metadata,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn check_id(client_id: &str) -> Result<(), ClientAdminError> {
    let ok = !client_id.is_empty()
        && client_id.len() <= 128
        && client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ClientAdminError::Invalid(
            "client_id: 1-128 characters among letters, digits, '-', '_', '.'".into(),
        ))
    }
}

/// Registers a client; returns the secret (shown once) when it uses one.
pub fn register_blocking(
    db: &Db,
    secret_key: &[u8; 32],
    client_id: &str,
    name: &str,
    metadata: &ClientMetadata,
    actor: &str,
) -> Result<Option<String>, ClientAdminError> {
    check_id(client_id)?;
    metadata.validate().map_err(ClientAdminError::Invalid)?;
    if name.trim().is_empty() {
        return Err(ClientAdminError::Invalid("name: must not be empty".into()));
    }
    let secret = if metadata.auth_method.uses_secret() {
        Some(generate_secret()?)
    } else {
        None
    };
    let hash = secret.as_deref().map(|s| hash_secret(secret_key, s));
    let json =
        serde_json::to_string(metadata).map_err(|e| ClientAdminError::Invalid(e.to_string()))?;
    let result = db.write_blocking(|conn| {
        rows::insert(conn, client_id, name.trim(), hash.as_deref(), &json)?;
        audit::append(
            conn,
            &AuditEvent {
                actor,
                action: "clients.add",
                subject: client_id,
                details: serde_json::json!({ "name": name.trim(), "metadata": metadata }),
            },
        )?;
        Ok(())
    });
    match result {
        Ok(()) => Ok(secret),
        Err(e) if e.is_unique_violation() => Err(ClientAdminError::Exists(client_id.to_owned())),
        Err(e) => Err(e.into()),
    }
}

/// Replaces a client's name and metadata (the secret stays unless the method
/// no longer uses one; a method that starts using one gets a new secret, returned).
pub fn update_blocking(
    db: &Db,
    secret_key: &[u8; 32],
    client_id: &str,
    name: &str,
    metadata: &ClientMetadata,
    actor: &str,
) -> Result<Option<String>, ClientAdminError> {
    metadata.validate().map_err(ClientAdminError::Invalid)?;
    let json =
        serde_json::to_string(metadata).map_err(|e| ClientAdminError::Invalid(e.to_string()))?;
    let fresh = generate_secret()?;
    // Outer None: no such client; inner: the new secret, if one was issued.
    let outcome = db.write_blocking(|conn| {
        let Some(current) = rows::get(conn, client_id)? else {
            return Ok(None);
        };
        let (hash, new_secret) = match (metadata.auth_method.uses_secret(), current.secret_hash) {
            (true, Some(existing)) => (Some(existing), None),
            (true, None) => (Some(hash_secret(secret_key, &fresh)), Some(fresh.clone())),
            (false, _) => (None, None),
        };
        rows::update(conn, client_id, name.trim(), hash.as_deref(), &json)?;
        audit::append(
            conn,
            &AuditEvent {
                actor,
                action: "clients.update",
                subject: client_id,
                details: serde_json::json!({ "name": name.trim(), "metadata": metadata }),
            },
        )?;
        Ok(Some(new_secret))
    })?;
    outcome.ok_or_else(|| ClientAdminError::NotFound(client_id.to_owned()))
}

/// Issues a new secret, invalidating the old one at once.
pub fn rotate_secret_blocking(
    db: &Db,
    secret_key: &[u8; 32],
    client_id: &str,
    actor: &str,
) -> Result<String, ClientAdminError> {
    let current = db
        .read_blocking(|conn| rows::get(conn, client_id))?
        .ok_or_else(|| ClientAdminError::NotFound(client_id.to_owned()))?;
    let client = Client::from_row(current)?;
    if !client.metadata.auth_method.uses_secret() {
        return Err(ClientAdminError::Invalid(format!(
            "{client_id} authenticates with {}, not a secret",
            client.metadata.auth_method.as_str()
        )));
    }
    let secret = generate_secret()?;
    let hash = hash_secret(secret_key, &secret);
    let json = serde_json::to_string(&client.metadata)
        .map_err(|e| ClientAdminError::Invalid(e.to_string()))?;
    db.write_blocking(|conn| {
        rows::update(conn, client_id, &client.name, Some(&hash), &json)?;
        audit::append(
            conn,
            &AuditEvent {
                actor,
                action: "clients.rotate_secret",
                subject: client_id,
                details: serde_json::json!({}),
            },
        )?;
        Ok(())
    })?;
    Ok(secret)
}

pub fn remove_blocking(db: &Db, client_id: &str, actor: &str) -> Result<(), ClientAdminError> {
    let removed = db.write_blocking(|conn| {
        let removed = rows::delete(conn, client_id)?;
        if removed {
            audit::append(
                conn,
                &AuditEvent {
                    actor,
                    action: "clients.remove",
                    subject: client_id,
                    details: serde_json::json!({}),
                },
            )?;
        }
        Ok(removed)
    })?;
    if removed {
        Ok(())
    } else {
        Err(ClientAdminError::NotFound(client_id.to_owned()))
    }
}

pub fn list_blocking(db: &Db) -> Result<Vec<ClientView>, ClientAdminError> {
    Ok(db
        .read_blocking(rows::all)?
        .into_iter()
        .map(view)
        .collect::<Result<_, _>>()?)
}

pub fn show_blocking(db: &Db, client_id: &str) -> Result<ClientView, ClientAdminError> {
    let row = db
        .read_blocking(|conn| rows::get(conn, client_id))?
        .ok_or_else(|| ClientAdminError::NotFound(client_id.to_owned()))?;
    Ok(view(row)?)
}

/// Creates or replaces a client with a given secret (seeding, automation).
pub fn ensure_blocking(
    db: &Db,
    secret_key: &[u8; 32],
    client_id: &str,
    name: &str,
    metadata: &ClientMetadata,
    secret: Option<&str>,
    actor: &str,
) -> Result<(), ClientAdminError> {
    check_id(client_id)?;
    metadata.validate().map_err(ClientAdminError::Invalid)?;
    let hash = secret.map(|s| hash_secret(secret_key, s));
    let json =
        serde_json::to_string(metadata).map_err(|e| ClientAdminError::Invalid(e.to_string()))?;
    db.write_blocking(|conn| {
        let existed = rows::update(conn, client_id, name, hash.as_deref(), &json)?;
        if !existed {
            rows::insert(conn, client_id, name, hash.as_deref(), &json)?;
        }
        audit::append(
            conn,
            &AuditEvent {
                actor,
                action: if existed {
                    "clients.update"
                } else {
                    "clients.add"
                },
                subject: client_id,
                details: serde_json::json!({ "name": name, "metadata": metadata }),
            },
        )?;
        Ok(())
    })?;
    Ok(())
}
