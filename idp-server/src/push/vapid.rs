//! VAPID (RFC 8292): the server's P-256 key pairs and the `vapid` header.
//!
//! The private keys live in `vapid_keys`, sealed under the KEK with
//! `vapid-key:{kid}` as associated data (the signing keys' rule). One key
//! is active (given to the app as `applicationServerKey`); a rotated-out key
//! keeps signing for the subscriptions made with it until the app renews them.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::Private;
use sha2::{Digest, Sha256};

use super::PushError;
use crate::crypto::Aead;
use crate::store::push::VapidKeyRow;

/// Lifetime of a VAPID token (RFC 8292 caps it at 24 hours).
pub const TOKEN_LIFETIME_SECS: i64 = 12 * 3600;

fn aad(kid: &str) -> Vec<u8> {
    format!("vapid-key:{kid}").into_bytes()
}

pub struct VapidKey {
    pub kid: String,
    /// base64url of the uncompressed public point.
    pub public_key: String,
    key: EcKey<Private>,
}

/// A new key pair: (kid, public key, sealed private key).
pub fn generate_sealed(kek: &Aead) -> Result<(String, String, Vec<u8>), PushError> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = EcKey::generate(&group)?;
    let public = super::ece::public_bytes(&key)?;
    let kid = B64.encode(&Sha256::digest(&public)[..12]);
    let der = zeroize_vec(key.private_key_to_der()?);
    let sealed = kek.seal(&der.0, &aad(&kid))?;
    Ok((kid, B64.encode(public), sealed))
}

/// Wipes the DER copy of a private key when dropped.
struct Wiped(Vec<u8>);
impl Drop for Wiped {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(|b| *b = 0);
    }
}
fn zeroize_vec(v: Vec<u8>) -> Wiped {
    Wiped(v)
}

impl VapidKey {
    pub fn open(kek: &Aead, row: &VapidKeyRow) -> Result<Self, PushError> {
        let der = zeroize_vec(
            kek.open(&row.private_key, &aad(&row.kid))
                .map_err(|_| PushError::Undecryptable(row.kid.clone()))?,
        );
        let key = EcKey::private_key_from_der(&der.0)?;
        if B64.encode(super::ece::public_bytes(&key)?) != row.public_key {
            return Err(PushError::Undecryptable(row.kid.clone()));
        }
        Ok(VapidKey {
            kid: row.kid.clone(),
            public_key: row.public_key.clone(),
            key,
        })
    }

    /// `Authorization: vapid t=JWT, k=KEY` for a push service's origin.
    pub fn authorization(
        &self,
        audience: &str,
        subject: &str,
        now: i64,
    ) -> Result<String, PushError> {
        let header = B64.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": audience,
            "exp": now + TOKEN_LIFETIME_SECS,
            "sub": subject,
        });
        let input = format!("{header}.{}", B64.encode(claims.to_string()));
        let sig = EcdsaSig::sign(&Sha256::digest(input.as_bytes()), &self.key)?;
        let mut raw = pad32(sig.r())?;
        raw.extend(pad32(sig.s())?);
        Ok(format!(
            "vapid t={input}.{}, k={}",
            B64.encode(raw),
            self.public_key
        ))
    }
}

fn pad32(n: &openssl::bn::BigNumRef) -> Result<Vec<u8>, PushError> {
    Ok(n.to_vec_padded(32)?)
}

/// The keys in force: the active one and the retired ones, by kid.
#[derive(Default)]
pub struct VapidKeys {
    pub active: Option<String>,
    pub by_kid: HashMap<String, VapidKey>,
}

impl VapidKeys {
    pub fn active(&self) -> Option<&VapidKey> {
        self.active.as_ref().and_then(|kid| self.by_kid.get(kid))
    }

    /// The key whose public part the app subscribed with.
    pub fn by_public(&self, public_key: &str) -> Option<&VapidKey> {
        self.by_kid.values().find(|k| k.public_key == public_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::bn::BigNum;
    use openssl::bn::BigNumContext;
    use openssl::ec::EcPoint;

    #[test]
    fn the_token_verifies_with_the_served_public_key() {
        let kek = Aead::new([7; 32]);
        let (kid, public, sealed) = generate_sealed(&kek).unwrap();
        let row = VapidKeyRow {
            kid: kid.clone(),
            state: crate::domain::key_state::KeyState::Active,
            public_key: public.clone(),
            private_key: sealed.clone(),
            created_at: 0,
            retired_at: None,
        };
        let key = VapidKey::open(&kek, &row).unwrap();
        let header = key
            .authorization("https://push.example", "mailto:a@b.example", 1000)
            .unwrap();
        let rest = header.strip_prefix("vapid t=").unwrap();
        let (jwt, k) = rest.split_once(", k=").unwrap();
        assert_eq!(k, public);
        let (input, sig) = jwt.rsplit_once('.').unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(input.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://push.example");
        assert_eq!(claims["exp"], 1000 + TOKEN_LIFETIME_SECS);
        let sig = B64.decode(sig).unwrap();
        let sig = EcdsaSig::from_private_components(
            BigNum::from_slice(&sig[..32]).unwrap(),
            BigNum::from_slice(&sig[32..]).unwrap(),
        )
        .unwrap();
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let mut ctx = BigNumContext::new().unwrap();
        let point = EcPoint::from_bytes(&group, &B64.decode(k).unwrap(), &mut ctx).unwrap();
        let public_key = EcKey::from_public_key(&group, &point).unwrap();
        assert!(
            sig.verify(&Sha256::digest(input.as_bytes()), &public_key)
                .unwrap()
        );

        // The sealed key opens only under its own kid.
        let moved = VapidKeyRow {
            kid: "other".into(),
            ..row
        };
        assert!(VapidKey::open(&kek, &moved).is_err());
    }
}
