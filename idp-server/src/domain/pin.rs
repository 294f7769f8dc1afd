//! The 4-digit secret typed on the device (DESIGN §7).

use std::fmt;

/// Why a PIN is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("the PIN must be exactly 4 digits")]
    Format,
    #[error("the PIN is too easy to guess (repeated or consecutive digits)")]
    Trivial,
}

/// Four ASCII digits. `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

impl Pin {
    /// A PIN as typed at each approval: exactly four digits.
    pub fn parse(raw: &str) -> Result<Self, PinError> {
        if raw.len() == 4 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Pin(raw.to_owned()))
        } else {
            Err(PinError::Format)
        }
    }

    /// A PIN chosen at activation: four digits, and not 0000-style nor a
    /// run such as 1234, 4321 or 8901.
    pub fn choose(raw: &str) -> Result<Self, PinError> {
        let pin = Self::parse(raw)?;
        let d: Vec<i16> = pin.0.bytes().map(|b| i16::from(b - b'0')).collect();
        let steps: Vec<i16> = d.windows(2).map(|w| (w[1] - w[0]).rem_euclid(10)).collect();
        let constant_step = steps.iter().all(|s| *s == steps[0]);
        // Step 0: repeated digit; 1: ascending run; 9: descending run (mod 10).
        if constant_step && matches!(steps[0], 0 | 1 | 9) {
            return Err(PinError::Trivial);
        }
        Ok(pin)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(****)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format() {
        assert!(Pin::parse("0427").is_ok());
        for bad in ["", "123", "12345", "12a4", "١٢٣٤", " 123"] {
            assert_eq!(Pin::parse(bad), Err(PinError::Format), "{bad:?}");
        }
    }

    #[test]
    fn trivial_pins_are_refused_at_activation_only() {
        for weak in [
            "0000", "7777", "1234", "6789", "8901", "4321", "9876", "1098",
        ] {
            assert_eq!(Pin::choose(weak), Err(PinError::Trivial), "{weak}");
            assert!(Pin::parse(weak).is_ok());
        }
        for fine in ["0427", "1357", "2580", "1122", "9182"] {
            assert!(Pin::choose(fine).is_ok(), "{fine}");
        }
    }

    #[test]
    fn debug_hides_the_digits() {
        assert_eq!(format!("{:?}", Pin::parse("0427").unwrap()), "Pin(****)");
    }
}
