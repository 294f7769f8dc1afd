//! Identity documents accepted for proofing (DESIGN §7): French identity
//! card, passport, residence permit valid for at least 5 years.

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    IdentityCard,
    Passport,
    ResidencePermit,
}

impl DocumentKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "identity_card" => Some(DocumentKind::IdentityCard),
            "passport" => Some(DocumentKind::Passport),
            "residence_permit" => Some(DocumentKind::ResidencePermit),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::IdentityCard => "identity_card",
            DocumentKind::Passport => "passport",
            DocumentKind::ResidencePermit => "residence_permit",
        }
    }
}

/// A document number in its canonical form (upper case, no spaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentNumber(String);

impl DocumentNumber {
    /// Formats per kind: identity card 12 alphanumerics (before 2021) or 9
    /// (card issued since 2021); passport 2 digits, 2 letters, 5 digits;
    /// residence permit 10 alphanumerics.
    pub fn parse(kind: DocumentKind, raw: &str) -> Result<Self, &'static str> {
        let value: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_ascii_uppercase();
        let alnum = value.chars().all(|c| c.is_ascii_alphanumeric());
        let ok = alnum
            && match kind {
                DocumentKind::IdentityCard => value.len() == 12 || value.len() == 9,
                DocumentKind::Passport => {
                    let b = value.as_bytes();
                    b.len() == 9
                        && b[..2].iter().all(u8::is_ascii_digit)
                        && b[2..4].iter().all(u8::is_ascii_uppercase)
                        && b[4..].iter().all(u8::is_ascii_digit)
                }
                DocumentKind::ResidencePermit => value.len() == 10,
            };
        if ok {
            Ok(DocumentNumber(value))
        } else {
            Err("format")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateProblem {
    IssuedInFuture,
    ExpiresBeforeIssue,
    Expired,
    /// A residence permit must be valid for at least 5 years.
    PermitTooShort,
}

/// Checks the document's dates on `today`.
pub fn check_dates(
    kind: DocumentKind,
    issued: NaiveDate,
    expires: NaiveDate,
    today: NaiveDate,
) -> Result<(), DateProblem> {
    if issued > today {
        return Err(DateProblem::IssuedInFuture);
    }
    if expires <= issued {
        return Err(DateProblem::ExpiresBeforeIssue);
    }
    if expires < today {
        return Err(DateProblem::Expired);
    }
    if kind == DocumentKind::ResidencePermit
        && issued
            .checked_add_months(Months::new(60))
            .is_none_or(|five| expires < five)
    {
        return Err(DateProblem::PermitTooShort);
    }
    Ok(())
}

/// Whether a stored expiry date (`YYYY-MM-DD`, as `documents.expires_on`
/// holds it) has passed on `today`: a document is valid through its expiry
/// day, as [`check_dates`] reads it. A date that does not parse (never
/// written so) does not count as passed.
pub fn has_expired(expires_on: &str, today: NaiveDate) -> bool {
    NaiveDate::parse_from_str(expires_on, "%Y-%m-%d").is_ok_and(|expires| expires < today)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn numbers_per_kind() {
        use DocumentKind::*;
        assert_eq!(
            DocumentNumber::parse(IdentityCard, "8806 9231 0285")
                .unwrap()
                .as_str(),
            "880692310285"
        );
        assert!(DocumentNumber::parse(IdentityCard, "x4rtbpfw4").is_ok());
        assert!(DocumentNumber::parse(IdentityCard, "12345").is_err());
        assert!(DocumentNumber::parse(Passport, "18AA12345").is_ok());
        assert!(DocumentNumber::parse(Passport, "AA1812345").is_err());
        assert!(DocumentNumber::parse(ResidencePermit, "1234567890").is_ok());
        assert!(DocumentNumber::parse(ResidencePermit, "12345-678*9").is_err());
    }

    #[test]
    fn a_document_is_valid_through_its_expiry_day() {
        let today = d("2026-12-03");
        assert!(!has_expired("2026-12-03", today));
        assert!(has_expired("2026-12-02", today));
        assert!(!has_expired("2030-01-01", today));
        assert!(!has_expired("", today));
    }

    #[test]
    fn dates() {
        use DocumentKind::*;
        let today = d("2026-11-23");
        assert_eq!(
            check_dates(Passport, d("2020-01-01"), d("2030-01-01"), today),
            Ok(())
        );
        assert_eq!(
            check_dates(Passport, d("2014-01-01"), d("2024-01-01"), today),
            Err(DateProblem::Expired)
        );
        assert_eq!(
            check_dates(Passport, d("2027-01-01"), d("2037-01-01"), today),
            Err(DateProblem::IssuedInFuture)
        );
        assert_eq!(
            check_dates(Passport, d("2020-01-01"), d("2019-01-01"), today),
            Err(DateProblem::ExpiresBeforeIssue)
        );
        assert_eq!(
            check_dates(ResidencePermit, d("2025-01-01"), d("2029-12-31"), today),
            Err(DateProblem::PermitTooShort)
        );
        assert_eq!(
            check_dates(ResidencePermit, d("2025-01-01"), d("2035-01-01"), today),
            Ok(())
        );
    }
}
