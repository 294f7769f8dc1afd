//! The authenticator app (DESIGN §8): activation, device-signed requests,
//! approval challenges and decisions, and the citizen's device list.
//!
//! Durable state (devices, PIN failure counts, account state) is in SQL and
//! changes through conditional updates in one transaction with its audit
//! entry. Challenges live in the ephemeral store and move between states by
//! compare-and-set, so of concurrent decisions on any replica exactly one
//! wins; wake-ups travel over pub/sub and every waiter re-reads on a timer.

pub mod activation;
pub mod challenge;
pub mod devices;
pub mod key;
pub mod request;

use crate::domain::device::LockReason;
use crate::enrol::EnrolError;
use crate::ephemeral::EphemeralError;
use crate::oidc::error::OidcError;
use crate::store::StoreError;

pub const API_PREFIX: &str = "/api/device/v1";

/// Everything a device-API call can answer besides success. Rendered in
/// `web::error` (status, `error` code, description).
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("{0}")]
    InvalidRequest(String),
    /// The device signature is missing or not acceptable; says why.
    #[error("{0}")]
    InvalidDeviceRequest(&'static str),
    #[error("this device has been revoked; activate the app again")]
    DeviceRevoked,
    #[error("{}", locked_text(*reason))]
    DeviceLocked { reason: LockReason },
    #[error("the PIN must be exactly 4 digits")]
    InvalidPin,
    #[error("this PIN is too easy to guess: avoid repeated or consecutive digits")]
    WeakPin,
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("wrong activation code")]
    InvalidActivationCode { attempts_left: i32 },
    #[error("too many wrong activation codes: request a new one")]
    ActivationCodeVoid,
    #[error("the activation code has expired: request a new one")]
    ActivationCodeExpired,
    #[error("there is no activation code for this account: request one")]
    NoActivationCode,
    #[error("the account cannot activate an app in its current state")]
    NotActivatable,
    #[error("too many attempts; retry later")]
    Throttled { retry_after: u64 },
    #[error("no such challenge")]
    UnknownChallenge,
    #[error("this challenge belongs to another account")]
    ForeignChallenge,
    #[error("the nonce does not match the challenge")]
    NonceMismatch,
    #[error("wrong PIN")]
    WrongPin { attempts_left: i32 },
    #[error("the chosen number is not the one shown in the browser; the login is cancelled")]
    WrongNumber { attempts_left: i32 },
    #[error("this challenge has already been decided or cancelled")]
    ChallengeDecided,
    #[error("this challenge has expired")]
    ChallengeExpired,
    #[error("no such device on this account")]
    UnknownDevice,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ephemeral(#[from] EphemeralError),
    #[error(transparent)]
    Enrol(#[from] EnrolError),
    #[error("the request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("internal error: {0}")]
    Internal(String),
}

fn locked_text(reason: LockReason) -> &'static str {
    match reason {
        LockReason::WrongPins => {
            "this device is locked after 3 wrong PINs; request a new activation code"
        }
        LockReason::WrongNumbers => {
            "this device is locked after 3 wrong numbers chosen; request a new activation code"
        }
    }
}

impl From<OidcError> for DeviceError {
    fn from(e: OidcError) -> Self {
        match e {
            OidcError::Store(inner) => DeviceError::Store(inner),
            OidcError::Ephemeral(inner) => DeviceError::Ephemeral(inner),
            other => DeviceError::Internal(other.to_string()),
        }
    }
}

impl From<crate::crypto::CryptoError> for DeviceError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        DeviceError::Internal(e.to_string())
    }
}

impl From<serde_json::Error> for DeviceError {
    fn from(e: serde_json::Error) -> Self {
        DeviceError::Internal(format!("JSON: {e}"))
    }
}

/// HMAC(pepper, device ‖ PIN), hex: what a device row keeps of its PIN.
pub fn pin_verifier(pepper: &[u8; 32], device_id: &str, pin: &crate::domain::pin::Pin) -> String {
    crate::crypto::hmac_hex(
        pepper,
        format!("{device_id}\u{0}{}", pin.as_str()).as_bytes(),
    )
}
