//! Console agents and what each role may do (DESIGN §9).

use serde::{Deserialize, Serialize};

/// Stored as text (`store::text_enum!`), the values of `as_str`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Face-to-face verification, at their office or at home.
    Clerk,
    /// The online review queue.
    Reviewer,
    /// Clients, keys, agents, account support; may also verify.
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "clerk" => Some(Role::Clerk),
            "reviewer" => Some(Role::Reviewer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Clerk => "clerk",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }

    pub fn verifies_face_to_face(self) -> bool {
        matches!(self, Role::Clerk | Role::Admin)
    }

    pub fn reviews_remote(self) -> bool {
        matches!(self, Role::Reviewer | Role::Admin)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A post-office code: 5 to 10 letters or digits.
pub fn parse_office(raw: &str) -> Option<String> {
    let value = raw.trim().to_ascii_uppercase();
    ((5..=10).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_offices() {
        assert!(Role::Clerk.verifies_face_to_face() && !Role::Clerk.reviews_remote());
        assert!(Role::Reviewer.reviews_remote() && !Role::Reviewer.verifies_face_to_face());
        assert!(Role::Admin.reviews_remote() && Role::Admin.verifies_face_to_face());
        assert_eq!(parse_office(" lyon01 "), Some("LYON01".into()));
        assert_eq!(parse_office("x"), None);
        assert_eq!(parse_office("75 001"), None);
    }
}
