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
        match metropolitan_mobile(&cleaned) {
            Some(mobile) => Ok(mobile),
            None => parse_with_metadata(&cleaned),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `06 ** ** ** 78`, the way French people write their number: the
    /// national form (a 0 and the nine digits every French region shares),
    /// with only the first two and last two digits shown.
    pub fn masked(&self) -> String {
        let digits: Vec<char> = self.0.chars().filter(char::is_ascii_digit).collect();
        let national = &digits[digits.len().saturating_sub(9)..];
        let second = national.first().copied().unwrap_or('0');
        let tail: String = national[national.len().saturating_sub(2)..]
            .iter()
            .collect();
        format!("0{second} ** ** ** {tail}")
    }
}

/// Any French mobile, through libphonenumber's metadata (all regions, all
/// input shapes the library knows).
fn parse_with_metadata(cleaned: &str) -> Result<FrenchMobile, PhoneError> {
    let number: PhoneNumber =
        phonenumber::parse(Some(Id::FR), cleaned).map_err(|_| PhoneError::Unparseable)?;
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

/// The usual shapes of a metropolitan mobile (`0612345678`, `+33612345678`,
/// `0033612345678`), recognised without the general parser, which costs
/// tens of microseconds per number (docs/performance.md). The accepted
/// numbers are exactly those of libphonenumber's FR mobile pattern
/// (`6[0-24-8]…`, `63[0-8]…`, `69[589]…`, `7[3-9]…`, nine digits), which a test
/// checks against [`parse_with_metadata`]; any other input goes through it.
fn metropolitan_mobile(cleaned: &str) -> Option<FrenchMobile> {
    let national = cleaned
        .strip_prefix("+33")
        .or_else(|| cleaned.strip_prefix("0033"))
        .or_else(|| cleaned.strip_prefix('0'))?;
    let d = national.as_bytes();
    if d.len() != 9 || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mobile = matches!(
        (d[0], d[1], d[2]),
        (b'6', b'0'..=b'2' | b'4'..=b'8', _)
            | (b'6', b'3', b'0'..=b'8')
            | (b'6', b'9', b'5' | b'8' | b'9')
            | (b'7', b'3'..=b'9', _)
    );
    mobile.then(|| FrenchMobile(format!("+33{national}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_numbers_read_as_french_people_write_them() {
        let mobile = |raw| FrenchMobile::parse(raw).map(|m| m.masked()).ok();
        assert_eq!(mobile("06 12 34 56 78").as_deref(), Some("06 ** ** ** 78"));
        assert_eq!(
            mobile("+33 7 81 23 45 99").as_deref(),
            Some("07 ** ** ** 99")
        );
        // La Réunion: +262 692…, written 0692…
        assert_eq!(
            mobile("+262 692 12 34 56").as_deref(),
            Some("06 ** ** ** 56")
        );
    }

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
    fn the_fast_path_agrees_with_the_parser() {
        // Every three-digit start of a national number from 600 to 799 (and
        // a few others), with varied tails, in the three shapes: the fast
        // path accepts exactly what the parser accepts as a French mobile,
        // with the same E.164 form.
        let mut checked = 0;
        for start in (100..1000).filter(|s| (600..800).contains(s) || s % 50 == 0) {
            for tail in ["000000", "123456", "999999", "508172"] {
                for prefix in ["0", "+33", "0033"] {
                    let cleaned = format!("{prefix}{start}{tail}");
                    let fast = metropolitan_mobile(&cleaned).map(|m| m.0);
                    let slow = parse_with_metadata(&cleaned).ok().map(|m| m.0);
                    if fast.is_some() {
                        assert_eq!(fast, slow, "{cleaned}");
                    } else {
                        assert!(
                            slow.as_deref().is_none_or(|e164| !e164.starts_with("+33")),
                            "{cleaned}: the parser accepts {slow:?}, the fast path does not"
                        );
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 2_000);
        // Shapes the fast path leaves to the parser.
        for cleaned in ["+330612345678", "612345678", "00612345678", "+3361234567"] {
            assert!(metropolitan_mobile(cleaned).is_none(), "{cleaned}");
        }
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
