//! Cryptographic building blocks, no I/O except reading/creating the master key.
//!
//! The master key (32 random bytes) never encrypts anything itself: HKDF-SHA256
//! derives one subkey per purpose, so a leak of one purpose's key reveals nothing
//! about the others.

pub mod keyset;

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hkdf::Hkdf;
use sha2::Sha256;

pub use keyset::{KeySet, SigningKey};

pub const MASTER_KEY_LEN: usize = 32;
/// Environment variable carrying the master key as base64; wins over the file.
pub const MASTER_KEY_ENV: &str = "IDP_MASTER_KEY";

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("{0}")]
    MasterKey(String),
    #[error("decryption failed (wrong key or tampered data)")]
    Decrypt,
    #[error("cryptographic operation failed: {0}")]
    Backend(String),
}

impl From<openssl::error::ErrorStack> for CryptoError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        CryptoError::Backend(e.to_string())
    }
}

impl From<josekit::JoseError> for CryptoError {
    fn from(e: josekit::JoseError) -> Self {
        CryptoError::Backend(e.to_string())
    }
}

/// JWS algorithms the provider signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SigningAlg {
    Es256,
    Rs256,
    Ps256,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 3] = [SigningAlg::Es256, SigningAlg::Rs256, SigningAlg::Ps256];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ES256" => Some(SigningAlg::Es256),
            "RS256" => Some(SigningAlg::Rs256),
            "PS256" => Some(SigningAlg::Ps256),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Es256 => "ES256",
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Ps256 => "PS256",
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// HMAC-SHA256 keyed with a 32-byte subkey. HMAC pads a short key with
/// zeros to the block size, so this is the HMAC of `key` itself, built
/// without the fallible length check of `new_from_slice`.
pub fn hmac_sha256(key: &[u8; 32]) -> hmac::Hmac<Sha256> {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    <hmac::Hmac<Sha256> as hmac::digest::KeyInit>::new(&block.into())
}

/// HMAC-SHA256 of `data` under `key`, hex-encoded.
pub fn hmac_hex(key: &[u8; 32], data: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac_sha256(key);
    mac.update(data);
    hex(&mac.finalize().into_bytes())
}

/// Lower-case hexadecimal, into one allocation (formatting each byte with
/// `format!` allocated once per byte: it showed in profiles, since a login
/// computes several HMACs).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a, b)
}

/// Fills a fresh buffer from the OS-seeded CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut buf = [0u8; N];
    openssl::rand::rand_bytes(&mut buf)?;
    Ok(buf)
}

/// A random token for URLs and cookies: 32 bytes, base64url.
pub fn random_token() -> Result<String, CryptoError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// The 32-byte root secret. Deliberately neither `Debug` nor `Clone`.
pub struct MasterKey([u8; MASTER_KEY_LEN]);

impl Drop for MasterKey {
    /// Wipes the root secret once the subkeys are derived.
    fn drop(&mut self) {
        for byte in self.0.iter_mut() {
            // SAFETY: `byte` is a valid, exclusive reference into our own array.
            unsafe { std::ptr::write_volatile(byte, 0) };
        }
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    }
}

/// Where the master key came from, for the start-up log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKeySource {
    Environment,
    File,
    Generated,
}

impl MasterKey {
    pub fn from_bytes(bytes: [u8; MASTER_KEY_LEN]) -> Self {
        MasterKey(bytes)
    }

    /// Finds the master key: `IDP_MASTER_KEY` (base64), else the file, else a new
    /// one written to the file (0600) — but only when `generate` is allowed and
    /// the database does not already hold data encrypted under some key.
    pub fn resolve(
        env_value: Option<&str>,
        file: &Path,
        generate: bool,
        database_has_encrypted_data: bool,
    ) -> Result<(Self, MasterKeySource), CryptoError> {
        if let Some(value) = env_value {
            let bytes = STANDARD
                .decode(value.trim())
                .or_else(|_| URL_SAFE_NO_PAD.decode(value.trim()))
                .map_err(|_| {
                    CryptoError::MasterKey(format!("{MASTER_KEY_ENV} is not valid base64"))
                })?;
            let key = <[u8; MASTER_KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
                CryptoError::MasterKey(format!(
                    "{MASTER_KEY_ENV} must decode to {MASTER_KEY_LEN} bytes, got {}",
                    bytes.len()
                ))
            })?;
            return Ok((MasterKey(key), MasterKeySource::Environment));
        }
        match std::fs::read(file) {
            Ok(bytes) => {
                let key = <[u8; MASTER_KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
                    CryptoError::MasterKey(format!(
                        "{} must hold exactly {MASTER_KEY_LEN} bytes, found {} (corrupt or not a master key)",
                        file.display(),
                        bytes.len()
                    ))
                })?;
                Ok((MasterKey(key), MasterKeySource::File))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if database_has_encrypted_data {
                    return Err(CryptoError::MasterKey(format!(
                        "{} is missing but the database holds data encrypted under a master key; \
                         restore the file or set {MASTER_KEY_ENV} (a new key would make that data unreadable)",
                        file.display()
                    )));
                }
                if !generate {
                    return Err(CryptoError::MasterKey(format!(
                        "{} not found and keys.generate_if_missing is false; provide it or set {MASTER_KEY_ENV}",
                        file.display()
                    )));
                }
                let key = random_bytes::<MASTER_KEY_LEN>()?;
                match write_new_key_file(file, &key) {
                    Ok(()) => Ok((MasterKey(key), MasterKeySource::Generated)),
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::resolve(None, file, false, database_has_encrypted_data)
                    }
                    Err(e) => Err(CryptoError::MasterKey(format!(
                        "cannot create {}: {e}",
                        file.display()
                    ))),
                }
            }
            Err(e) => Err(CryptoError::MasterKey(format!(
                "cannot read {}: {e}",
                file.display()
            ))),
        }
    }

    fn derive(&self, label: &str) -> [u8; 32] {
        let hk = Hkdf::<Sha256>::new(Some(b"sesame/master/v1"), &self.0);
        let mut out = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
        let _ = hk.expand(label.as_bytes(), &mut out);
        out
    }

    /// Derives every purpose-bound subkey.
    pub fn subkeys(&self) -> Subkeys {
        Subkeys {
            kek: std::sync::Arc::new(Aead::new(self.derive("key-encryption"))),
            pin_pepper: self.derive("pin-pepper"),
            document_hash_key: self.derive("document-number-hash"),
            client_secret_key: self.derive("client-secret-hash"),
            pairwise_key: self.derive("pairwise-subject"),
            token_hash_key: self.derive("token-hash"),
            audit_key: self.derive("audit-chain-mac"),
            erasure_key: self.derive("erasure-pseudonym"),
            check: URL_SAFE_NO_PAD.encode(self.derive("key-check")),
        }
    }
}

/// Creates the key file atomically (written to a temporary file, then
/// hard-linked into place, which fails if the name exists), readable by the
/// owner only, and never replacing an existing key.
fn write_new_key_file(path: &Path, key: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let suffix = URL_SAFE_NO_PAD.encode(random_bytes::<9>().map_err(std::io::Error::other)?);
    let tmp = dir.join(format!(".master.key.{suffix}"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(key)?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    linked
}

/// Keys derived from the master key, one per purpose.
pub struct Subkeys {
    /// Encrypts secrets at rest (signing keys, TOTP secrets, document copies).
    pub kek: std::sync::Arc<Aead>,
    /// Mixed into every PIN verifier.
    pub pin_pepper: [u8; 32],
    /// Keys the hash of identity-document numbers.
    pub document_hash_key: [u8; 32],
    /// Keys the stored hash of client secrets.
    pub client_secret_key: [u8; 32],
    /// Keys pairwise subject identifiers.
    pub pairwise_key: [u8; 32],
    /// Keys the lookup hash of codes, access and refresh tokens and session cookies.
    pub token_hash_key: [u8; 32],
    /// Keys the audit chain (HMAC-SHA256 per entry), so that write access to
    /// the database is not enough to rebuild it.
    pub audit_key: [u8; 32],
    /// Keys the digests that stand for an erased account's email and phone
    /// in its last audit entry (`citizen::rgpd`): an operator holding the
    /// master key can tell whether an address had an account, a dump alone
    /// cannot.
    pub erasure_key: [u8; 32],
    /// Public check value stored in the database to detect a wrong master key.
    pub check: String,
}

/// AES-256-GCM with a random 96-bit nonce per message.
/// Layout: `0x01 ‖ nonce (12) ‖ tag (16) ‖ ciphertext`.
pub struct Aead {
    key: [u8; 32],
}

const AEAD_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

impl Aead {
    pub fn new(key: [u8; 32]) -> Self {
        Aead { key }
    }

    /// Encrypts `plaintext`; `aad` binds the ciphertext to its context (e.g. a row id).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce = random_bytes::<NONCE_LEN>()?;
        let mut tag = [0u8; TAG_LEN];
        let ciphertext = openssl::symm::encrypt_aead(
            openssl::symm::Cipher::aes_256_gcm(),
            &self.key,
            Some(&nonce),
            aad,
            plaintext,
            &mut tag,
        )?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + TAG_LEN + ciphertext.len());
        out.push(AEAD_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&tag);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != AEAD_VERSION {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, rest) = sealed[1..].split_at(NONCE_LEN);
        let (tag, ciphertext) = rest.split_at(TAG_LEN);
        openssl::symm::decrypt_aead(
            openssl::symm::Cipher::aes_256_gcm(),
            &self.key,
            Some(nonce),
            aad,
            ciphertext,
            tag,
        )
        .map_err(|_| CryptoError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_hmac_known_answers() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
        // Python: hmac.new(bytes([7] * 32), b"abc", hashlib.sha256).hexdigest()
        assert_eq!(
            hmac_hex(&[7u8; 32], b"abc"),
            "127da4ced6a839b8f6118bc244684d2663e70cb5ff0adeefca89d7e74d5a0525"
        );
    }

    #[test]
    fn aead_round_trips_and_rejects_tampering() {
        let aead = Aead::new([7u8; 32]);
        let sealed = aead.seal(b"secret", b"row-1").unwrap();
        assert_eq!(aead.open(&sealed, b"row-1").unwrap(), b"secret");
        assert!(matches!(
            aead.open(&sealed, b"row-2"),
            Err(CryptoError::Decrypt)
        ));
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(
            aead.open(&flipped, b"row-1"),
            Err(CryptoError::Decrypt)
        ));
        assert!(matches!(
            Aead::new([8u8; 32]).open(&sealed, b"row-1"),
            Err(CryptoError::Decrypt)
        ));
    }

    #[test]
    fn subkeys_differ_per_purpose_and_per_master_key() {
        let a = MasterKey::from_bytes([1u8; 32]).subkeys();
        let b = MasterKey::from_bytes([2u8; 32]).subkeys();
        assert_ne!(a.pin_pepper, a.document_hash_key);
        assert_ne!(a.erasure_key, a.audit_key);
        assert_ne!(a.erasure_key, a.token_hash_key);
        assert_ne!(a.check, b.check);
        assert_ne!(a.pin_pepper, b.pin_pepper);
    }

    #[test]
    fn master_key_file_is_created_once_with_owner_only_permissions() {
        let dir = tempdir();
        let file = dir.join("keys/master.key");
        let (first, source) = MasterKey::resolve(None, &file, true, false).unwrap();
        assert_eq!(source, MasterKeySource::Generated);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, source) = MasterKey::resolve(None, &file, true, false).unwrap();
        assert_eq!(source, MasterKeySource::File);
        assert_eq!(first.subkeys().check, again.subkeys().check);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn master_key_problems_are_reported_not_papered_over() {
        let dir = tempdir();
        let file = dir.join("master.key");
        let err = MasterKey::resolve(None, &file, true, true).err().unwrap();
        assert!(
            err.to_string()
                .contains("is missing but the database holds data")
        );
        assert!(
            !file.exists(),
            "must not generate over existing encrypted data"
        );
        let err = MasterKey::resolve(None, &file, false, false).err().unwrap();
        assert!(err.to_string().contains("generate_if_missing is false"));
        std::fs::write(&file, b"short").unwrap();
        let err = MasterKey::resolve(None, &file, true, false).err().unwrap();
        assert!(
            err.to_string().contains("exactly 32 bytes, found 5"),
            "{err}"
        );
        let err = MasterKey::resolve(Some("!!"), &file, true, false)
            .err()
            .unwrap();
        assert!(err.to_string().contains("not valid base64"));
        let err = MasterKey::resolve(Some(&STANDARD.encode([0u8; 16])), &file, true, false)
            .err()
            .unwrap();
        assert!(err.to_string().contains("got 16"));
        let (_, source) =
            MasterKey::resolve(Some(&STANDARD.encode([9u8; 32])), &file, true, false).unwrap();
        assert_eq!(source, MasterKeySource::Environment);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempdir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "idp-crypto-{}-{}",
            std::process::id(),
            URL_SAFE_NO_PAD.encode(random_bytes::<6>().unwrap())
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
