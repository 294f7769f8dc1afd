//! Message encryption for Web Push (RFC 8291) in the `aes128gcm` content
//! coding (RFC 8188), one record, on OpenSSL (ECDH P-256, AES-128-GCM) and
//! the `hkdf` crate the server already uses for its own key derivation.
//!
//! Implemented here rather than through a crate: it is some forty lines of
//! well-specified key schedule over primitives the server already links,
//! checked against the RFC's own test vector (below) and, end to end, by an
//! independent implementation (Python `http_ece`, tests/all/push.rs).

use hkdf::Hkdf;
use openssl::bn::BigNumContext;
use openssl::derive::Deriver;
use openssl::ec::{EcGroup, EcKey, EcPoint, PointConversionForm};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::symm::{Cipher, encrypt_aead};
use sha2::Sha256;

use super::PushError;

/// The record size announced in the header; one record carries the message.
const RECORD_SIZE: u32 = 4096;
/// Largest plaintext accepted (push services take 4096-byte bodies; the
/// header is 86 bytes, the tag 16, the delimiter 1).
pub const MAX_PLAINTEXT: usize = 3072;

fn group() -> Result<EcGroup, PushError> {
    Ok(EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?)
}

/// The uncompressed point (65 bytes) of a P-256 key.
pub fn public_bytes(key: &EcKey<Private>) -> Result<Vec<u8>, PushError> {
    let mut ctx = BigNumContext::new()?;
    Ok(key
        .public_key()
        .to_bytes(key.group(), PointConversionForm::UNCOMPRESSED, &mut ctx)?)
}

/// Checks that `raw` is an uncompressed point on P-256.
pub fn parse_public(raw: &[u8]) -> Result<EcKey<openssl::pkey::Public>, PushError> {
    if raw.len() != 65 || raw[0] != 4 {
        return Err(PushError::BadKey(
            "p256dh must be an uncompressed P-256 point",
        ));
    }
    let group = group()?;
    let mut ctx = BigNumContext::new()?;
    let point = EcPoint::from_bytes(&group, raw, &mut ctx)
        .map_err(|_| PushError::BadKey("p256dh is not a point on P-256"))?;
    let key = EcKey::from_public_key(&group, &point)
        .map_err(|_| PushError::BadKey("p256dh is not a valid P-256 key"))?;
    key.check_key()
        .map_err(|_| PushError::BadKey("p256dh is not a valid P-256 key"))?;
    Ok(key)
}

/// Encrypts `plaintext` for the subscription (`ua_public`, `auth`) with a
/// fresh sender key and salt; the message is padded to a multiple of 256
/// bytes so the push service cannot tell the kinds of message apart by size.
pub fn encrypt(ua_public: &[u8], auth: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, PushError> {
    let group = group()?;
    let sender = EcKey::generate(&group)?;
    let salt = crate::crypto::random_bytes::<16>()?;
    let padded = (plaintext.len() + 1).div_ceil(256) * 256;
    encrypt_with(
        &sender,
        &salt,
        ua_public,
        auth,
        plaintext,
        padded - plaintext.len() - 1,
    )
}

/// RFC 8291 §3.4 with a given sender key, salt and padding (the test vector).
fn encrypt_with(
    sender: &EcKey<Private>,
    salt: &[u8; 16],
    ua_public: &[u8],
    auth: &[u8],
    plaintext: &[u8],
    padding: usize,
) -> Result<Vec<u8>, PushError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(PushError::TooLarge);
    }
    if auth.len() != 16 {
        return Err(PushError::BadKey("auth must be 16 bytes"));
    }
    let peer = PKey::from_ec_key(parse_public(ua_public)?)?;
    let own = PKey::from_ec_key(sender.clone())?;
    let mut deriver = Deriver::new(&own)?;
    deriver.set_peer(&peer)?;
    let ecdh_secret = deriver.derive_to_vec()?;
    let as_public = public_bytes(sender)?;

    // PRK_key = HMAC(auth_secret, ecdh_secret); IKM = HKDF-Expand(PRK_key, key_info, 32)
    let mut key_info = Vec::with_capacity(14 + 65 + 65);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(ua_public);
    key_info.extend_from_slice(&as_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), &ecdh_secret)
        .expand(&key_info, &mut ikm)
        .map_err(|_| PushError::Crypto("HKDF".into()))?;
    // RFC 8188: PRK = HKDF-Extract(salt, IKM); CEK and NONCE expanded from it.
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .and_then(|()| prk.expand(b"Content-Encoding: nonce\0", &mut nonce))
        .map_err(|_| PushError::Crypto("HKDF".into()))?;

    // The only (so the last) record: plaintext, delimiter 2, zero padding.
    let mut record = Vec::with_capacity(plaintext.len() + 1 + padding);
    record.extend_from_slice(plaintext);
    record.push(2);
    record.resize(plaintext.len() + 1 + padding, 0);
    let mut tag = [0u8; 16];
    let ciphertext = encrypt_aead(
        Cipher::aes_128_gcm(),
        &cek,
        Some(&nonce),
        &[],
        &record,
        &mut tag,
    )?;

    let mut body = Vec::with_capacity(16 + 4 + 1 + 65 + ciphertext.len() + 16);
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&ciphertext);
    body.extend_from_slice(&tag);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use openssl::bn::BigNum;

    fn d(s: &str) -> Vec<u8> {
        B64.decode(s).unwrap()
    }

    /// RFC 8291, Appendix A.
    #[test]
    fn the_rfc_8291_test_vector() {
        let group = group().unwrap();
        let private =
            BigNum::from_slice(&d("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")).unwrap();
        let mut ctx = BigNumContext::new().unwrap();
        let public = EcPoint::from_bytes(
            &group,
            &d("BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"),
            &mut ctx,
        )
        .unwrap();
        let sender = EcKey::from_private_components(&group, &private, &public).unwrap();
        let salt: [u8; 16] = d("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
        let body = encrypt_with(
            &sender,
            &salt,
            &d("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"),
            &d("BTBZMqHH6r4Tts7J_aSIgg"),
            b"When I grow up, I want to be a watermelon",
            0,
        )
        .unwrap();
        assert_eq!(
            B64.encode(body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    #[test]
    fn keys_that_are_not_p256_points_are_refused() {
        assert!(parse_public(&[4; 65]).is_err());
        assert!(parse_public(&[4; 33]).is_err());
        let sender = EcKey::generate(&group().unwrap()).unwrap();
        let ua = public_bytes(&sender).unwrap();
        assert!(encrypt(&ua, &[0; 15], b"x").is_err());
        let body = encrypt(&ua, &[0; 16], b"x").unwrap();
        assert_eq!(body.len(), 86 + 256 + 16);
    }
}
