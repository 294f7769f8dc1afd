//! Protocol errors (RFC 6749 §4.1.2.1 and §5.2, OIDC Core §3.1.2.6, RFC 6750).
//! Services return them; `web` renders them as a redirect, a JSON body or a page.

use std::fmt;

use crate::ephemeral::EphemeralError;
use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    InvalidToken,
    UnsupportedTokenType,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
        }
    }
}

/// An error the protocol defines, with a description safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
        }
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::error::Error for OAuthError {}

macro_rules! constructors {
    ($($fn:ident => $code:ident),* $(,)?) => {
        impl OAuthError {
            $(pub fn $fn(description: impl Into<String>) -> Self {
                OAuthError::new(ErrorCode::$code, description)
            })*
        }
    };
}

constructors! {
    invalid_request => InvalidRequest,
    invalid_client => InvalidClient,
    invalid_grant => InvalidGrant,
    unauthorized_client => UnauthorizedClient,
    invalid_scope => InvalidScope,
    access_denied => AccessDenied,
    invalid_token => InvalidToken,
}

/// What an OIDC service can fail with: a protocol error for the client, or an
/// infrastructure fault (503/500).
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ephemeral(#[from] EphemeralError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::crypto::CryptoError> for OidcError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        OidcError::Internal(e.to_string())
    }
}

impl From<josekit::JoseError> for OidcError {
    fn from(e: josekit::JoseError) -> Self {
        OidcError::Internal(e.to_string())
    }
}

impl From<serde_json::Error> for OidcError {
    fn from(e: serde_json::Error) -> Self {
        OidcError::Internal(format!("serialisation: {e}"))
    }
}
