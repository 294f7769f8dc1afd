//! French mobile numbers (metropolitan and overseas), stored in E.164.

use phonenumber::country::Id;
use phonenumber::{Mode, PhoneNumber, Type};

/// Regions whose mobile numbers count as French (metropole and overseas).
const FRENCH_REGIONS: [Id; 10] = [
    Id::FR,
    Id::RE,
    Id::GP,
    Id::GF,
    Id::MQ,
    Id::YT,
    Id::PM,
    Id::BL,
    Id::MF,
    Id::NC,
];

/// A valid French mobile number, in E.164 (`+33612345678`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FrenchMobile(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneError {
    Unparseable,
    NotFrench,
    NotMobile,
}

impl FrenchMobile {
    /// Accepts national (`06 12 34 56 78`) or international (`+33 6…`) input.
    pub fn parse(raw: &str) -> Result<Self, PhoneError> {
        let cleaned: String = raw
            .chars()
            .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
            .collect();
        if cleaned.is_empty() || cleaned.len() > 20 {
            return Err(PhoneError::Unparseable);
        }
        let number: PhoneNumber =
            phonenumber::parse(Some(Id::FR), &cleaned).map_err(|_| PhoneError::Unparseable)?;
        if !phonenumber::is_valid(&number) {
            return Err(PhoneError::Unparseable);
        }
        match number.country().id() {
            Some(id) if FRENCH_REGIONS.contains(&id) => {}
            _ => return Err(PhoneError::NotFrench),
        }
        if !matches!(
            number.number_type(&phonenumber::metadata::DATABASE),
            Type::Mobile | Type::FixedLineOrMobile
        ) {
            return Err(PhoneError::NotMobile);
        }
        Ok(FrenchMobile(number.format().mode(Mode::E164).to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `+33 6 ** ** ** 78`: enough to recognise one's own number, no more.
    pub fn masked(&self) -> String {
        let digits: Vec<char> = self.0.chars().collect();
        let tail: String = digits[digits.len().saturating_sub(2)..].iter().collect();
        let head: String = digits.iter().take(4).collect();
        format!("{head} ** ** ** {tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_french_mobiles_in_any_usual_form() {
        for raw in [
            "06 12 34 56 78",
            "0612345678",
            "+33 6 12 34 56 78",
            "+33756789012",
            "06.12.34.56.78",
        ] {
            assert!(FrenchMobile::parse(raw).is_ok(), "{raw}");
        }
        assert_eq!(
            FrenchMobile::parse("06 12 34 56 78").unwrap().as_str(),
            "+33612345678"
        );
        assert_eq!(
            FrenchMobile::parse("+262 692 12 34 56").unwrap().as_str(),
            "+262692123456",
        );
    }

    #[test]
    fn refuses_landlines_foreign_and_garbage() {
        assert_eq!(
            FrenchMobile::parse("01 42 00 00 00"),
            Err(PhoneError::NotMobile)
        );
        assert_eq!(
            FrenchMobile::parse("+49 151 23456789"),
            Err(PhoneError::NotFrench)
        );
        assert_eq!(FrenchMobile::parse("12"), Err(PhoneError::Unparseable));
        assert_eq!(FrenchMobile::parse("abc"), Err(PhoneError::Unparseable));
    }
}
