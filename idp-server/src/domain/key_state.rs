//! The life of a stored key pair (signing keys and VAPID keys).

use std::fmt;

use serde::Serialize;

/// Stored as text (`store::text_enum!`), the values of `as_str`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Signs; one per algorithm (one VAPID key).
    Active,
    /// A signing key that no longer signs but is still published in the
    /// JWKS until its `publish_until`, so tokens it signed still verify.
    Retiring,
    /// Kept for the record (a VAPID key: still signs for the
    /// subscriptions made with it).
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Retiring => "retiring",
            KeyState::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => KeyState::Active,
            "retiring" => KeyState::Retiring,
            "retired" => KeyState::Retired,
            _ => return None,
        })
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names() {
        for s in [KeyState::Active, KeyState::Retiring, KeyState::Retired] {
            assert_eq!(KeyState::parse(s.as_str()), Some(s));
        }
        assert_eq!(KeyState::parse("Active"), None);
    }
}
