//! Authenticator devices: the states a device can be in.

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
pub enum DeviceState {
    /// Can approve logins.
    Active,
    /// Three wrong PINs, or three wrong numbers, in a row: refuses everything
    /// until a new activation.
    Locked,
    /// Revoked by the citizen, support, or a new activation after a lock.
    Revoked,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::Active => "active",
            DeviceState::Locked => "locked",
            DeviceState::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => DeviceState::Active,
            "locked" => DeviceState::Locked,
            "revoked" => DeviceState::Revoked,
            _ => return None,
        })
    }
}

/// What locked a device: three wrong PINs in a row, or three wrong numbers
/// chosen in a row (number matching), counted apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockReason {
    #[default]
    WrongPins,
    WrongNumbers,
}

impl LockReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LockReason::WrongPins => "wrong_pins",
            LockReason::WrongNumbers => "wrong_numbers",
        }
    }

    /// The reason a locked device's counters tell (wrong PINs when both or
    /// neither reached the limit: a lock from before the number count).
    pub fn of_counts(number_failures: i32, limit: i32) -> Self {
        if number_failures >= limit {
            LockReason::WrongNumbers
        } else {
            LockReason::WrongPins
        }
    }
}

impl fmt::Display for DeviceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names() {
        for s in [
            DeviceState::Active,
            DeviceState::Locked,
            DeviceState::Revoked,
        ] {
            assert_eq!(DeviceState::parse(s.as_str()), Some(s));
        }
        assert_eq!(DeviceState::parse("lost"), None);
    }

    #[test]
    fn what_locked_a_device() {
        assert_eq!(LockReason::of_counts(3, 3), LockReason::WrongNumbers);
        assert_eq!(LockReason::of_counts(2, 3), LockReason::WrongPins);
        // A lock from before numbers were counted: wrong PINs.
        assert_eq!(LockReason::of_counts(0, 3), LockReason::WrongPins);
        assert_eq!(LockReason::WrongNumbers.as_str(), "wrong_numbers");
        assert_eq!(
            serde_json::to_string(&LockReason::WrongPins).unwrap(),
            "\"wrong_pins\""
        );
    }
}
