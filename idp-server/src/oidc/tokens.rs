//! Signed (and optionally encrypted) JWTs for relying parties.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwe::{ECDH_ES, JweEncrypter, JweHeader, RSA_OAEP, RSA_OAEP_256};
use josekit::jwk::Jwk;
use josekit::jwt::JwtPayload;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::Provider;
use super::clients::Client;
use super::error::OidcError;
use crate::crypto::SigningAlg;
use crate::domain::client::Encryption;

/// `at_hash` (OIDC Core §3.1.3.6): left half of SHA-256 of the token (all our
/// algorithms hash with SHA-256), base64url.
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Signs `claims` with the active key of `alg`, then encrypts the JWS for the
/// client when `encryption` is set (nested JWT, `cty: JWT`).
pub async fn sign_for_client(
    provider: &Provider,
    client: &Client,
    claims: Map<String, Value>,
    alg: SigningAlg,
    encryption: Option<&Encryption>,
) -> Result<String, OidcError> {
    let keys = provider.core.keys.current();
    let signer = keys
        .signer(alg)
        .ok_or_else(|| OidcError::Internal(format!("no active {alg} signing key")))?;
    let payload = JwtPayload::from_map(claims)?;
    let jws = signer.sign_jwt(&payload, "JWT")?;
    match encryption {
        None => Ok(jws),
        Some(encryption) => {
            let client_keys = provider.clients.client_keys(client).await?;
            encrypt(&client_keys, encryption, &jws)
        }
    }
}

/// Encrypts a compact JWS for the first suitable key of the client.
pub fn encrypt(keys: &[Jwk], encryption: &Encryption, jws: &str) -> Result<String, OidcError> {
    let wanted_kty = if encryption.alg == "ECDH-ES" {
        "EC"
    } else {
        "RSA"
    };
    let jwk = keys
        .iter()
        .find(|k| {
            k.key_type() == wanted_kty
                && k.key_use() != Some("sig")
                && k.algorithm().is_none_or(|a| a == encryption.alg)
        })
        .ok_or_else(|| {
            OidcError::Internal(format!(
                "client has no {wanted_kty} key for {} encryption",
                encryption.alg
            ))
        })?;
    let encrypter: Box<dyn JweEncrypter> = match encryption.alg.as_str() {
        "RSA-OAEP-256" => Box::new(RSA_OAEP_256.encrypter_from_jwk(jwk)?),
        "RSA-OAEP" => Box::new(RSA_OAEP.encrypter_from_jwk(jwk)?),
        "ECDH-ES" => Box::new(ECDH_ES.encrypter_from_jwk(jwk)?),
        other => return Err(OidcError::Internal(format!("unsupported JWE alg {other}"))),
    };
    let mut header = JweHeader::new();
    header.set_content_encryption(&encryption.enc);
    header.set_content_type("JWT");
    if let Some(kid) = jwk.key_id() {
        header.set_key_id(kid);
    }
    Ok(josekit::jwe::serialize_compact(
        jws.as_bytes(),
        &header,
        encrypter.as_ref(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_oidc_core_example() {
        // OIDC Core A.3: access_token jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
