//! eIDAS assurance levels (DESIGN §5): `acr = min(proofing, authentication)`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An `acr` value. Ordered: eidas1 < eidas2 < eidas3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Acr {
    Eidas1,
    Eidas2,
    Eidas3,
}

impl Acr {
    pub const ALL: [Acr; 3] = [Acr::Eidas1, Acr::Eidas2, Acr::Eidas3];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "eidas1" => Some(Acr::Eidas1),
            "eidas2" => Some(Acr::Eidas2),
            "eidas3" => Some(Acr::Eidas3),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Acr::Eidas1 => "eidas1",
            Acr::Eidas2 => "eidas2",
            Acr::Eidas3 => "eidas3",
        }
    }
}

impl fmt::Display for Acr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the identity was proofed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proofing {
    /// Declared only (or no identity at all).
    Declared,
    /// Verified by online review of the document and video.
    Remote,
    /// Verified by a clerk, document in hand.
    FaceToFace,
}

impl Proofing {
    fn ceiling(self) -> Acr {
        match self {
            Proofing::Declared => Acr::Eidas1,
            Proofing::Remote => Acr::Eidas2,
            Proofing::FaceToFace => Acr::Eidas3,
        }
    }
}

/// How the person authenticated in this session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Authentication {
    /// Email + password.
    Password,
    /// Email + password + TOTP.
    PasswordOtp,
    /// Approval on an active device with the 4-digit PIN.
    DevicePin,
    /// WebAuthn authenticator with user verification.
    HardwareKey,
}

impl Authentication {
    fn ceiling(self) -> Acr {
        match self {
            Authentication::Password | Authentication::PasswordOtp => Acr::Eidas1,
            Authentication::DevicePin => Acr::Eidas2,
            Authentication::HardwareKey => Acr::Eidas3,
        }
    }

    /// `amr` values (RFC 8176) for this authentication.
    pub fn amr(self) -> &'static [&'static str] {
        match self {
            Authentication::Password => &["pwd"],
            Authentication::PasswordOtp => &["pwd", "otp", "mfa"],
            Authentication::DevicePin => &["pop", "pin", "mfa"],
            Authentication::HardwareKey => &["hwk", "pin", "mfa"],
        }
    }
}

/// The level a session reaches: the weaker of proofing and authentication.
pub fn achieved(proofing: Proofing, authentication: Authentication) -> Acr {
    proofing.ceiling().min(authentication.ceiling())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acr_is_the_minimum_of_proofing_and_authentication() {
        use Authentication::*;
        use Proofing::*;
        assert_eq!(achieved(Declared, DevicePin), Acr::Eidas1);
        assert_eq!(achieved(FaceToFace, Password), Acr::Eidas1);
        assert_eq!(achieved(Remote, DevicePin), Acr::Eidas2);
        assert_eq!(achieved(FaceToFace, DevicePin), Acr::Eidas2);
        assert_eq!(achieved(Remote, HardwareKey), Acr::Eidas2);
        assert_eq!(achieved(FaceToFace, HardwareKey), Acr::Eidas3);
        assert!(Acr::Eidas1 < Acr::Eidas2 && Acr::Eidas2 < Acr::Eidas3);
        assert_eq!(Acr::parse("eidas2"), Some(Acr::Eidas2));
        assert_eq!(Acr::parse("EIDAS2"), None);
    }
}
