//! The connection history: how a login to a partner site ended.

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
pub enum LoginResult {
    /// Password login, or approved on the app with the PIN.
    Approved,
    /// Refused on the app.
    Refused,
    /// "Ce n'est pas moi" on the app.
    FraudReported,
    /// Nobody answered before the approval's expiry.
    Expired,
}

impl LoginResult {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginResult::Approved => "approved",
            LoginResult::Refused => "refused",
            LoginResult::FraudReported => "fraud_reported",
            LoginResult::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "approved" => LoginResult::Approved,
            "refused" => LoginResult::Refused,
            "fraud_reported" => LoginResult::FraudReported,
            "expired" => LoginResult::Expired,
            _ => return None,
        })
    }
}

impl fmt::Display for LoginResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_round_trip() {
        for r in [
            LoginResult::Approved,
            LoginResult::Refused,
            LoginResult::FraudReported,
            LoginResult::Expired,
        ] {
            assert_eq!(LoginResult::parse(r.as_str()), Some(r));
        }
        assert_eq!(LoginResult::parse("denied"), None);
    }
}
