//! Signing keys in memory: one active key per algorithm for signing, and the
//! public keys of active and retiring keys for the JWKS (pre-rendered once per
//! reload, since every relying party fetches it).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::{Jwk, KeyPair};
use josekit::jws::{ES256, JwsHeader, JwsSigner, JwsVerifier, PS256, RS256};
use josekit::jwt::{self, JwtPayload};
use sha2::{Digest, Sha256};

use super::{CryptoError, SigningAlg};

/// RSA modulus size for RS256/PS256 keys (ANSSI RGS minimum until 2030).
pub const RSA_BITS: u32 = 2048;

/// A freshly generated key, ready to be encrypted and stored.
pub struct GeneratedKey {
    pub kid: String,
    pub alg: SigningAlg,
    /// Public JWK (with kid, alg, use) as JSON text.
    pub public_jwk: String,
    /// PKCS#8 DER of the private key; encrypt before storing.
    pub private_der: Vec<u8>,
}

impl GeneratedKey {
    pub fn generate(alg: SigningAlg) -> Result<Self, CryptoError> {
        let (der, mut jwk) = match alg {
            SigningAlg::Es256 => {
                let pair = ES256.generate_key_pair()?;
                (pair.to_der_private_key(), pair.to_jwk_public_key())
            }
            SigningAlg::Rs256 => {
                let pair = RS256.generate_key_pair(RSA_BITS)?;
                (pair.to_der_private_key(), pair.to_jwk_public_key())
            }
            SigningAlg::Ps256 => {
                let pair = PS256.generate_key_pair(RSA_BITS)?;
                (pair.to_der_private_key(), pair.to_jwk_public_key())
            }
        };
        let kid = thumbprint(&jwk)?;
        jwk.set_key_id(kid.clone());
        jwk.set_algorithm(alg.as_str());
        jwk.set_key_use("sig");
        let public_jwk =
            serde_json::to_string(jwk.as_ref()).map_err(|e| CryptoError::Backend(e.to_string()))?;
        Ok(GeneratedKey {
            kid,
            alg,
            public_jwk,
            private_der: der,
        })
    }
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url): distinct keys get distinct kids.
pub fn thumbprint(jwk: &Jwk) -> Result<String, CryptoError> {
    let member = |name: &str| {
        jwk.parameter(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| CryptoError::Backend(format!("public JWK lacks {name}")))
    };
    // Members in lexicographic order, no whitespace, as RFC 7638 §3 requires.
    let canonical = match jwk.key_type() {
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            member("crv")?,
            member("x")?,
            member("y")?
        ),
        "RSA" => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            member("e")?,
            member("n")?
        ),
        other => {
            return Err(CryptoError::Backend(format!(
                "unsupported key type {other}"
            )));
        }
    };
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

/// A private key able to sign, with its identity.
pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    signer: Box<dyn JwsSigner>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn from_der(alg: SigningAlg, kid: String, der: &[u8]) -> Result<Self, CryptoError> {
        let signer: Box<dyn JwsSigner> = match alg {
            SigningAlg::Es256 => Box::new(ES256.signer_from_der(der)?),
            SigningAlg::Rs256 => Box::new(RS256.signer_from_der(der)?),
            SigningAlg::Ps256 => Box::new(PS256.signer_from_der(der)?),
        };
        Ok(SigningKey { kid, alg, signer })
    }

    /// Signs `payload` as a compact JWS with `typ` and `kid` set.
    pub fn sign_jwt(&self, payload: &JwtPayload, typ: &str) -> Result<String, CryptoError> {
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(self.kid.clone());
        Ok(jwt::encode_with_signer(
            payload,
            &header,
            self.signer.as_ref(),
        )?)
    }
}

/// A published public key, able to verify what its private half signed.
pub struct PublicKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub jwk: Jwk,
    verifier: Box<dyn JwsVerifier>,
}

impl PublicKey {
    pub fn from_json(alg: SigningAlg, json: &str) -> Result<Self, CryptoError> {
        let jwk = Jwk::from_bytes(json.as_bytes())?;
        let kid = jwk
            .key_id()
            .ok_or_else(|| CryptoError::Backend("stored JWK lacks kid".into()))?
            .to_owned();
        let verifier: Box<dyn JwsVerifier> = match alg {
            SigningAlg::Es256 => Box::new(ES256.verifier_from_jwk(&jwk)?),
            SigningAlg::Rs256 => Box::new(RS256.verifier_from_jwk(&jwk)?),
            SigningAlg::Ps256 => Box::new(PS256.verifier_from_jwk(&jwk)?),
        };
        Ok(PublicKey {
            kid,
            alg,
            jwk,
            verifier,
        })
    }

    pub fn verifier(&self) -> &dyn JwsVerifier {
        self.verifier.as_ref()
    }
}

/// The keys one process signs and verifies with; replaced whole on reload.
pub struct KeySet {
    signing: BTreeMap<SigningAlg, Arc<SigningKey>>,
    published: Vec<PublicKey>,
    jwks_json: String,
}

impl KeySet {
    pub fn new(signing: Vec<SigningKey>, published: Vec<PublicKey>) -> Result<Self, CryptoError> {
        let keys: Vec<&serde_json::Map<String, serde_json::Value>> =
            published.iter().map(|k| k.jwk.as_ref()).collect();
        let jwks_json = serde_json::to_string(&serde_json::json!({ "keys": keys }))
            .map_err(|e| CryptoError::Backend(e.to_string()))?;
        Ok(KeySet {
            signing: signing.into_iter().map(|k| (k.alg, Arc::new(k))).collect(),
            published,
            jwks_json,
        })
    }

    /// An empty set, used before the first load.
    pub fn empty() -> Self {
        KeySet {
            signing: BTreeMap::new(),
            published: Vec::new(),
            jwks_json: r#"{"keys":[]}"#.to_owned(),
        }
    }

    pub fn signer(&self, alg: SigningAlg) -> Option<&Arc<SigningKey>> {
        self.signing.get(&alg)
    }

    /// Algorithms with an active key, for discovery.
    pub fn signing_algs(&self) -> impl Iterator<Item = SigningAlg> + '_ {
        self.signing.keys().copied()
    }

    /// The public key with this kid, active or retiring.
    pub fn public_key(&self, kid: &str) -> Option<&PublicKey> {
        self.published.iter().find(|k| k.kid == kid)
    }

    pub fn published(&self) -> &[PublicKey] {
        &self.published
    }

    /// `{"keys":[…]}` exactly as served at the JWKS endpoint.
    pub fn jwks_json(&self) -> &str {
        &self.jwks_json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_and_their_published_half_verifies() {
        for alg in SigningAlg::ALL {
            let generated = GeneratedKey::generate(alg).unwrap();
            let signer =
                SigningKey::from_der(alg, generated.kid.clone(), &generated.private_der).unwrap();
            let public = PublicKey::from_json(alg, &generated.public_jwk).unwrap();
            assert_eq!(public.kid, generated.kid);
            assert!(
                public.jwk.parameter("d").is_none(),
                "no private part in the JWK"
            );
            let mut payload = JwtPayload::new();
            payload.set_subject("abc");
            let token = signer.sign_jwt(&payload, "JWT").unwrap();
            let (decoded, header) = jwt::decode_with_verifier(&token, public.verifier()).unwrap();
            assert_eq!(decoded.subject(), Some("abc"));
            assert_eq!(header.key_id(), Some(generated.kid.as_str()));
            assert_eq!(header.algorithm(), Some(alg.as_str()));
        }
    }

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 §3.1 example key.
        let jwk = Jwk::from_bytes(br#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#).unwrap();
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
