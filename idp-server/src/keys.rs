//! Signing-key life cycle: one active key per configured algorithm, created at
//! first start; `rotate` makes a new key active and keeps the old one published
//! (retiring) for `keys.retiring_publish_secs`; every replica reloads its
//! [`KeySet`] on a pub/sub signal and on a timer.

use std::sync::{Arc, PoisonError, RwLock};

use crate::config::KeysConfig;
use crate::crypto::keyset::{GeneratedKey, PublicKey};
use crate::crypto::{Aead, CryptoError, KeySet, SigningAlg, SigningKey};
use crate::domain::key_state::KeyState;
use crate::ephemeral::{Ephemeral, EphemeralStore};
use crate::store::audit::{self, AuditEvent};
use crate::store::signing_keys::{self, NewSigningKey, SigningKeyRow};
use crate::store::{Db, StoreError, now_unix};

/// Pub/sub topic announcing that the key set changed.
pub const KEYS_TOPIC: &str = crate::ephemeral::keys::KEYS_CHANGED;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(
        "signing key {kid} cannot be decrypted: the master key is not the one it was stored under"
    )]
    Undecryptable { kid: String },
    #[error("stored signing key {kid} has unknown algorithm {alg}")]
    UnknownAlg { kid: String, alg: String },
}

/// A key as the operator sees it (never the private part).
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    pub state: KeyState,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub publish_until: Option<i64>,
}

impl From<SigningKeyRow> for KeyInfo {
    fn from(row: SigningKeyRow) -> Self {
        KeyInfo {
            kid: row.kid,
            alg: row.alg,
            state: row.state,
            created_at: row.created_at,
            retired_at: row.retired_at,
            publish_until: row.publish_until,
        }
    }
}

/// Result of a rotation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rotation {
    pub alg: String,
    pub new_kid: String,
    pub previous_kid: Option<String>,
    pub previous_published_until: Option<i64>,
}

fn aad(kid: &str, alg: SigningAlg) -> Vec<u8> {
    format!("signing-key:{kid}:{alg}").into_bytes()
}

/// Generates (off any lock) and seals a new key.
fn generate_sealed(kek: &Aead, alg: SigningAlg) -> Result<(GeneratedKey, Vec<u8>), KeyError> {
    let key = GeneratedKey::generate(alg)?;
    let sealed = kek.seal(&key.private_der, &aad(&key.kid, alg))?;
    Ok((key, sealed))
}

pub struct KeyService {
    db: Db,
    kek: Arc<Aead>,
    algorithms: Vec<SigningAlg>,
    current: RwLock<Arc<KeySet>>,
    fingerprint: RwLock<String>,
}

impl KeyService {
    pub fn new(db: Db, kek: Arc<Aead>, config: &KeysConfig) -> Self {
        let algorithms = config
            .algorithms
            .iter()
            .filter_map(|a| SigningAlg::parse(a))
            .collect();
        KeyService {
            db,
            kek,
            algorithms,
            current: RwLock::new(Arc::new(KeySet::empty())),
            fingerprint: RwLock::new(String::new()),
        }
    }

    /// The key set in force; cheap (an `Arc` clone).
    pub fn current(&self) -> Arc<KeySet> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Creates an active key for every configured algorithm that lacks one.
    /// Safe to run from several replicas at once: the database allows one
    /// active key per algorithm, and the loser of a race keeps the winner's.
    pub async fn ensure_active_keys(&self) -> Result<Vec<String>, KeyError> {
        let mut created = Vec::new();
        for alg in self.algorithms.clone() {
            let has_active = self
                .db
                .read(move |conn| {
                    Ok(signing_keys::published(conn, now_unix())?
                        .iter()
                        .any(|k| k.alg == alg.as_str() && k.state == KeyState::Active))
                })
                .await?;
            if has_active {
                continue;
            }
            let kek = Arc::clone(&self.kek);
            let (key, sealed) = tokio::task::spawn_blocking(move || generate_sealed(&kek, alg))
                .await
                .map_err(|e| CryptoError::Backend(e.to_string()))??;
            let kid = key.kid.clone();
            let inserted = self
                .db
                .write(move |conn| {
                    signing_keys::insert_active(
                        conn,
                        &NewSigningKey {
                            kid: &key.kid,
                            alg: alg.as_str(),
                            public_jwk: &key.public_jwk,
                            private_key: &sealed,
                        },
                    )?;
                    audit::append(
                        conn,
                        &AuditEvent {
                            actor: "system",
                            action: "keys.generate",
                            subject: &key.kid,
                            details: serde_json::json!({ "alg": alg.as_str() }),
                        },
                    )?;
                    Ok(())
                })
                .await;
            match inserted {
                Ok(()) => created.push(kid),
                Err(e) if e.is_unique_violation() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(created)
    }

    /// Re-reads the published keys; rebuilds the set only if something changed.
    /// Returns true when the set was replaced.
    pub async fn reload(&self) -> Result<bool, KeyError> {
        let rows = self
            .db
            .write(|conn| {
                let now = now_unix();
                signing_keys::expire_retiring(conn, now)?;
                signing_keys::published(conn, now)
            })
            .await?;
        let fingerprint: String = rows
            .iter()
            .map(|r| format!("{}:{};", r.kid, r.state))
            .collect();
        if *self
            .fingerprint
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            == fingerprint
        {
            return Ok(false);
        }
        let kek = Arc::clone(&self.kek);
        let set = tokio::task::spawn_blocking(move || build_key_set(&kek, rows))
            .await
            .map_err(|e| CryptoError::Backend(e.to_string()))??;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
        *self
            .fingerprint
            .write()
            .unwrap_or_else(PoisonError::into_inner) = fingerprint;
        Ok(true)
    }
}

fn build_key_set(kek: &Aead, rows: Vec<SigningKeyRow>) -> Result<KeySet, KeyError> {
    let mut signing = Vec::new();
    let mut published = Vec::new();
    for row in rows {
        let alg = SigningAlg::parse(&row.alg).ok_or_else(|| KeyError::UnknownAlg {
            kid: row.kid.clone(),
            alg: row.alg.clone(),
        })?;
        published.push(PublicKey::from_json(alg, &row.public_jwk)?);
        if row.state == KeyState::Active {
            let der = kek
                .open(&row.private_key, &aad(&row.kid, alg))
                .map_err(|_| KeyError::Undecryptable {
                    kid: row.kid.clone(),
                })?;
            signing.push(SigningKey::from_der(alg, row.kid, &der)?);
        }
    }
    Ok(KeySet::new(signing, published)?)
}

/// Makes a new key active for `alg`; the previous one stays published for
/// `publish_secs`. One transaction, one audit entry. Blocking (CLI).
pub fn rotate_blocking(
    db: &Db,
    kek: &Aead,
    alg: SigningAlg,
    publish_secs: u64,
    actor: &str,
) -> Result<Rotation, KeyError> {
    let (key, sealed) = generate_sealed(kek, alg)?;
    let publish_until = now_unix().saturating_add(i64::try_from(publish_secs).unwrap_or(i64::MAX));
    let rotation = db.write_blocking(|conn| {
        let previous = signing_keys::retire_active(conn, alg.as_str(), publish_until)?;
        signing_keys::insert_active(
            conn,
            &NewSigningKey {
                kid: &key.kid,
                alg: alg.as_str(),
                public_jwk: &key.public_jwk,
                private_key: &sealed,
            },
        )?;
        let rotation = Rotation {
            alg: alg.as_str().to_owned(),
            new_kid: key.kid.clone(),
            previous_published_until: previous.as_ref().map(|_| publish_until),
            previous_kid: previous,
        };
        audit::append(
            conn,
            &AuditEvent {
                actor,
                action: "keys.rotate",
                subject: &key.kid,
                details: serde_json::json!({
                    "alg": alg.as_str(),
                    "previous_kid": rotation.previous_kid,
                    "previous_published_until": rotation.previous_published_until,
                }),
            },
        )?;
        Ok(rotation)
    })?;
    Ok(rotation)
}

/// Every key ever created, newest first per algorithm. Blocking (CLI).
pub fn list_blocking(db: &Db) -> Result<Vec<KeyInfo>, KeyError> {
    Ok(db
        .read_blocking(signing_keys::all)?
        .into_iter()
        .map(KeyInfo::from)
        .collect())
}

/// Tells every replica to reload its key set.
pub async fn announce_change(
    ephemeral: &Ephemeral,
) -> Result<(), crate::ephemeral::EphemeralError> {
    ephemeral.publish(KEYS_TOPIC, b"").await
}
