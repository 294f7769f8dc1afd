//! Device public keys (P-256) and the ES256 check of what devices sign.
//!
//! The verification goes straight to OpenSSL's ECDSA on a key built from the
//! point's coordinates. Building a verifier through a JWK library costs more
//! than the signature check itself (OpenSSL 3 imports the key through its
//! provider decoders): measured at ≈ 110 µs per key against ≈ 3 µs here,
//! ≈ 10–14 % of the server's CPU per login (docs/performance.md). Each
//! request still reads the device row (its state may change); the key built
//! from its JWK text is kept in a small cache keyed by that text
//! ([`DeviceKey::from_jwk_str_cached`]): content-addressed, so nothing to
//! invalidate.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey, EcPoint};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::Public;
use serde_json::{Map, Value};

/// Coordinates and scalars of P-256 are 32 bytes.
const P256_BYTES: usize = 32;

fn p256() -> Option<&'static EcGroup> {
    static GROUP: OnceLock<Option<EcGroup>> = OnceLock::new();
    GROUP
        .get_or_init(|| EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).ok())
        .as_ref()
}

/// Why a key or a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Not an EC P-256 public JWK with 32-byte `x` and `y` on the curve.
    InvalidKey,
    /// Not a compact JWS, or its signature does not verify with this key.
    BadSignature,
}

/// Keys kept by [`DeviceKey::from_jwk_str_cached`]; when full, the cache is
/// emptied and refilled (each key costs a few µs to rebuild).
const CACHE_ENTRIES: usize = 4096;

/// A device's P-256 public key, ready to verify. Cloning shares the OpenSSL
/// key (reference-counted); verifying does not change it.
#[derive(Clone)]
pub struct DeviceKey {
    key: EcKey<Public>,
}

impl DeviceKey {
    /// Parses a public JWK (`kty` EC, `crv` P-256, `x`, `y`). The point must be
    /// on the curve; P-256 has cofactor 1, so that makes it a valid public key.
    pub fn from_jwk(jwk: &Map<String, Value>) -> Result<DeviceKey, KeyError> {
        if jwk.get("kty").and_then(Value::as_str) != Some("EC")
            || jwk.get("crv").and_then(Value::as_str) != Some("P-256")
        {
            return Err(KeyError::InvalidKey);
        }
        let coordinate = |name: &str| {
            jwk.get(name)
                .and_then(Value::as_str)
                .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
                .filter(|b| b.len() == P256_BYTES)
                .ok_or(KeyError::InvalidKey)
        };
        let mut octets = Vec::with_capacity(1 + 2 * P256_BYTES);
        octets.push(0x04); // uncompressed point
        octets.extend_from_slice(&coordinate("x")?);
        octets.extend_from_slice(&coordinate("y")?);
        let group = p256().ok_or(KeyError::InvalidKey)?;
        let mut ctx = BigNumContext::new().map_err(|_| KeyError::InvalidKey)?;
        let point =
            EcPoint::from_bytes(group, &octets, &mut ctx).map_err(|_| KeyError::InvalidKey)?;
        let key = EcKey::from_public_key(group, &point).map_err(|_| KeyError::InvalidKey)?;
        Ok(DeviceKey { key })
    }

    /// Parses a JWK stored as JSON text.
    pub fn from_jwk_str(jwk: &str) -> Result<DeviceKey, KeyError> {
        let object: Map<String, Value> =
            serde_json::from_str(jwk).map_err(|_| KeyError::InvalidKey)?;
        DeviceKey::from_jwk(&object)
    }

    /// [`DeviceKey::from_jwk_str`] through a bounded cache keyed by the JWK
    /// text itself: the same text always gives the same key, so an entry never
    /// goes stale. Refused keys are not cached.
    pub fn from_jwk_str_cached(jwk: &str) -> Result<DeviceKey, KeyError> {
        static CACHE: OnceLock<KeyCache> = OnceLock::new();
        CACHE
            .get_or_init(|| KeyCache::new(CACHE_ENTRIES))
            .get_or_parse(jwk)
    }

    /// Verifies the ES256 signature of a compact JWS (RFC 7515 §7.1, RFC 7518
    /// §3.4: the signature is R ‖ S, 32 bytes each) and returns its decoded
    /// payload. The header is the caller's to check (`alg`, `typ`, `kid`).
    pub fn verify_compact(&self, jws: &str) -> Result<Vec<u8>, KeyError> {
        let (signing_input, signature) = jws.rsplit_once('.').ok_or(KeyError::BadSignature)?;
        let (_, payload) = signing_input
            .split_once('.')
            .ok_or(KeyError::BadSignature)?;
        if payload.contains('.') {
            return Err(KeyError::BadSignature);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .ok()
            .filter(|s| s.len() == 2 * P256_BYTES)
            .ok_or(KeyError::BadSignature)?;
        let (r, s) = signature.split_at(P256_BYTES);
        let (Ok(r), Ok(s)) = (BigNum::from_slice(r), BigNum::from_slice(s)) else {
            return Err(KeyError::BadSignature);
        };
        let signature =
            EcdsaSig::from_private_components(r, s).map_err(|_| KeyError::BadSignature)?;
        let digest = openssl::sha::sha256(signing_input.as_bytes());
        // ECDSA_do_verify: 1 valid, 0 invalid (including r or s out of range).
        if !signature.verify(&digest, &self.key).unwrap_or(false) {
            return Err(KeyError::BadSignature);
        }
        URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| KeyError::BadSignature)
    }
}

/// JWK text → parsed key, at most `capacity` entries.
struct KeyCache {
    capacity: usize,
    keys: Mutex<HashMap<String, DeviceKey>>,
}

impl KeyCache {
    fn new(capacity: usize) -> KeyCache {
        KeyCache {
            capacity,
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn get_or_parse(&self, jwk: &str) -> Result<DeviceKey, KeyError> {
        // A poisoned lock only means another thread panicked between two
        // map operations; the map itself is still consistent.
        if let Some(key) = self.lock().get(jwk) {
            return Ok(key.clone());
        }
        // Parsed outside the lock; two threads may both parse the same key.
        let key = DeviceKey::from_jwk_str(jwk)?;
        let mut keys = self.lock();
        if keys.len() >= self.capacity {
            keys.clear();
        }
        keys.insert(jwk.to_owned(), key.clone());
        Ok(key)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, DeviceKey>> {
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (String, josekit::jws::alg::ecdsa::EcdsaJwsSigner) {
        let pair = josekit::jws::ES256.generate_key_pair().unwrap();
        let public = pair.to_jwk_public_key().to_string();
        let signer = josekit::jws::ES256
            .signer_from_jwk(&pair.to_jwk_private_key())
            .unwrap();
        (public, signer)
    }

    fn sign(signer: &josekit::jws::alg::ecdsa::EcdsaJwsSigner, payload: &[u8]) -> String {
        let mut header = josekit::jws::JwsHeader::new();
        header.set_token_type("device-request+jwt");
        josekit::jws::serialize_compact(payload, &header, signer).unwrap()
    }

    #[test]
    fn verifies_what_a_jose_library_signs() {
        let (public, signer) = pair();
        let key = DeviceKey::from_jwk_str(&public).unwrap();
        let jws = sign(&signer, br#"{"htm":"GET"}"#);
        assert_eq!(key.verify_compact(&jws).unwrap(), br#"{"htm":"GET"}"#);
    }

    #[test]
    fn refuses_another_key_a_changed_payload_and_malformed_signatures() {
        let (public, signer) = pair();
        let (other_public, _) = pair();
        let key = DeviceKey::from_jwk_str(&public).unwrap();
        let other = DeviceKey::from_jwk_str(&other_public).unwrap();
        let jws = sign(&signer, br#"{"htm":"GET"}"#);
        assert_eq!(other.verify_compact(&jws), Err(KeyError::BadSignature));

        let parts: Vec<&str> = jws.split('.').collect();
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"htm":"POST"}"#);
        let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert_eq!(key.verify_compact(&forged), Err(KeyError::BadSignature));

        for broken in [
            format!("{}.{}", parts[0], parts[1]),
            format!("{}.{}.", parts[0], parts[1]),
            format!("{}.{}.{}", parts[0], parts[1], &parts[2][..40]),
            format!("{}.{}.{}.{}", parts[0], parts[1], parts[1], parts[2]),
            // r = s = 0 is never a valid signature.
            format!(
                "{}.{}.{}",
                parts[0],
                parts[1],
                URL_SAFE_NO_PAD.encode([0u8; 64])
            ),
        ] {
            assert_eq!(
                key.verify_compact(&broken),
                Err(KeyError::BadSignature),
                "{broken}"
            );
        }
    }

    #[test]
    fn refuses_keys_that_are_not_p256_points() {
        let (public, _) = pair();
        let mut jwk: Map<String, Value> = serde_json::from_str(&public).unwrap();
        assert!(DeviceKey::from_jwk(&jwk).is_ok());
        // Off the curve: flip a bit of y.
        let mut y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap();
        y[31] ^= 1;
        let mut off_curve = jwk.clone();
        off_curve.insert("y".into(), URL_SAFE_NO_PAD.encode(&y).into());
        assert_eq!(
            DeviceKey::from_jwk(&off_curve).err(),
            Some(KeyError::InvalidKey)
        );
        jwk.insert("crv".into(), "P-384".into());
        assert_eq!(DeviceKey::from_jwk(&jwk).err(), Some(KeyError::InvalidKey));
        assert_eq!(
            DeviceKey::from_jwk_str("not json").err(),
            Some(KeyError::InvalidKey)
        );
    }

    #[test]
    fn the_cache_gives_each_text_its_own_key_and_stays_bounded() {
        let cache = KeyCache::new(2);
        let (a, sign_a) = pair();
        let (b, sign_b) = pair();
        let (c, _) = pair();
        let jws_a = sign(&sign_a, b"a");
        let jws_b = sign(&sign_b, b"b");
        for _ in 0..2 {
            let key_a = cache.get_or_parse(&a).unwrap();
            let key_b = cache.get_or_parse(&b).unwrap();
            assert_eq!(key_a.verify_compact(&jws_a).unwrap(), b"a");
            assert_eq!(key_b.verify_compact(&jws_b).unwrap(), b"b");
            assert_eq!(key_a.verify_compact(&jws_b), Err(KeyError::BadSignature));
        }
        assert_eq!(cache.len(), 2);
        // Full: the next new key empties the cache first.
        cache.get_or_parse(&c).unwrap();
        assert_eq!(cache.len(), 1);
        assert_eq!(
            cache
                .get_or_parse(&a)
                .unwrap()
                .verify_compact(&jws_a)
                .unwrap(),
            b"a"
        );
        // Refused keys are refused every time and take no entry.
        let mut off_curve: Map<String, Value> = serde_json::from_str(&a).unwrap();
        off_curve.insert("y".into(), off_curve["x"].clone());
        let off_curve = Value::Object(off_curve).to_string();
        for _ in 0..2 {
            assert_eq!(
                cache.get_or_parse(&off_curve).err(),
                Some(KeyError::InvalidKey)
            );
        }
        assert_eq!(cache.len(), 2);
        assert_eq!(
            DeviceKey::from_jwk_str_cached(&b)
                .unwrap()
                .verify_compact(&jws_b)
                .unwrap(),
            b"b"
        );
    }
}
