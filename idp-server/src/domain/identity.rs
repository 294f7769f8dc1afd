//! The identity a person declares, checked against the rules of DESIGN §7
//! and the INSEE code lists.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::insee;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Female,
    Male,
}

impl Gender {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "female" => Some(Gender::Female),
            "male" => Some(Gender::Male),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Female => "female",
            Gender::Male => "male",
        }
    }
}

/// A declared identity whose every field is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredIdentity {
    /// Birth name.
    pub family_name: String,
    /// Usage name (married name…), if any.
    pub usage_name: Option<String>,
    /// All given names, space separated.
    pub given_names: String,
    pub gender: Gender,
    pub birthdate: NaiveDate,
    /// INSEE country code; `99100` is France.
    pub birth_country: String,
    /// INSEE commune code when born in France, else `None`.
    pub birth_commune: Option<String>,
}

/// Which field is wrong and why (the web layer words it in French).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityProblem {
    FamilyName,
    UsageName,
    GivenNames,
    Gender,
    Birthdate,
    Underage,
    BirthCountry,
    BirthCommuneMissing,
    BirthCommuneUnknown,
    BirthCommuneAbroad,
}

/// Raw form values.
pub struct IdentityForm<'a> {
    pub family_name: &'a str,
    pub usage_name: &'a str,
    pub given_names: &'a str,
    pub gender: &'a str,
    pub birthdate: &'a str,
    pub birth_country: &'a str,
    pub birth_commune: &'a str,
}

/// Collapses spaces; accepts letters (accented too), spaces, hyphens, apostrophes.
fn name(raw: &str) -> Option<String> {
    let value = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let ok = !value.is_empty()
        && value.chars().count() <= 100
        && value.chars().any(char::is_alphabetic)
        && value
            .chars()
            .all(|c| c.is_alphabetic() || matches!(c, ' ' | '-' | '\'' | '’'));
    ok.then_some(value.replace('’', "'"))
}

/// Age in whole years on `today`.
pub fn age(birthdate: NaiveDate, today: NaiveDate) -> i32 {
    let mut years = today.year() - birthdate.year();
    if (today.month(), today.day()) < (birthdate.month(), birthdate.day()) {
        years -= 1;
    }
    years
}

impl DeclaredIdentity {
    /// Every problem of the form, so the page can flag all fields at once.
    pub fn parse(form: &IdentityForm<'_>, today: NaiveDate) -> Result<Self, Vec<IdentityProblem>> {
        let mut problems = Vec::new();
        let family_name = name(form.family_name);
        if family_name.is_none() {
            problems.push(IdentityProblem::FamilyName);
        }
        let usage_name = if form.usage_name.trim().is_empty() {
            Some(None)
        } else {
            name(form.usage_name).map(Some)
        };
        if usage_name.is_none() {
            problems.push(IdentityProblem::UsageName);
        }
        let given_names = name(form.given_names);
        if given_names.is_none() {
            problems.push(IdentityProblem::GivenNames);
        }
        let gender = Gender::parse(form.gender);
        if gender.is_none() {
            problems.push(IdentityProblem::Gender);
        }
        let birthdate = NaiveDate::parse_from_str(form.birthdate.trim(), "%Y-%m-%d")
            .ok()
            .filter(|d| d.year() >= 1900 && *d <= today);
        match birthdate {
            None => problems.push(IdentityProblem::Birthdate),
            Some(d) if age(d, today) < 18 => problems.push(IdentityProblem::Underage),
            Some(_) => {}
        }
        let country = form.birth_country.trim().to_ascii_uppercase();
        let commune = form.birth_commune.trim().to_ascii_uppercase();
        let birth_commune = if !insee::is_country(&country) {
            problems.push(IdentityProblem::BirthCountry);
            None
        } else if country == insee::FRANCE {
            if commune.is_empty() {
                problems.push(IdentityProblem::BirthCommuneMissing);
                None
            } else if !insee::is_commune(&commune) {
                problems.push(IdentityProblem::BirthCommuneUnknown);
                None
            } else {
                Some(commune)
            }
        } else {
            if !commune.is_empty() {
                problems.push(IdentityProblem::BirthCommuneAbroad);
            }
            None
        };
        match (family_name, usage_name, given_names, gender, birthdate) {
            (
                Some(family_name),
                Some(usage_name),
                Some(given_names),
                Some(gender),
                Some(birthdate),
            ) if problems.is_empty() => Ok(DeclaredIdentity {
                family_name,
                usage_name,
                given_names,
                gender,
                birthdate,
                birth_country: country,
                birth_commune,
            }),
            _ => Err(problems),
        }
    }

    /// The `birthplace` claim: the commune code, or "" when born abroad.
    pub fn birthplace(&self) -> &str {
        self.birth_commune.as_deref().unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    fn form<'a>(birthdate: &'a str, country: &'a str, commune: &'a str) -> IdentityForm<'a> {
        IdentityForm {
            family_name: " Dupont ",
            usage_name: "",
            given_names: "Jean  Pierre",
            gender: "male",
            birthdate,
            birth_country: country,
            birth_commune: commune,
        }
    }

    #[test]
    fn a_valid_identity_born_in_france_or_abroad() {
        let id = DeclaredIdentity::parse(&form("1980-01-31", "99100", "75056"), today()).unwrap();
        assert_eq!(id.family_name, "Dupont");
        assert_eq!(id.given_names, "Jean Pierre");
        assert_eq!(id.birthplace(), "75056");
        let abroad = DeclaredIdentity::parse(&form("1980-01-31", "99109", ""), today()).unwrap();
        assert_eq!(abroad.birthplace(), "");
    }

    #[test]
    fn each_rule_is_reported() {
        let cases = [
            (
                form("2010-01-01", "99100", "75056"),
                IdentityProblem::Underage,
            ),
            (
                form("2008-11-24", "99100", "75056"),
                IdentityProblem::Underage,
            ),
            (
                form("31/01/1980", "99100", "75056"),
                IdentityProblem::Birthdate,
            ),
            (
                form("1980-01-31", "99999", ""),
                IdentityProblem::BirthCountry,
            ),
            (
                form("1980-01-31", "99100", ""),
                IdentityProblem::BirthCommuneMissing,
            ),
            (
                form("1980-01-31", "99100", "00000"),
                IdentityProblem::BirthCommuneUnknown,
            ),
            (
                form("1980-01-31", "99109", "75056"),
                IdentityProblem::BirthCommuneAbroad,
            ),
        ];
        for (f, problem) in cases {
            assert_eq!(
                DeclaredIdentity::parse(&f, today()).unwrap_err(),
                vec![problem]
            );
        }
        assert!(
            DeclaredIdentity::parse(&form("2008-11-23", "99100", "75056"), today()).is_ok(),
            "18 today"
        );
        let mut bad = form("1980-01-31", "99100", "75056");
        bad.family_name = "R2D2";
        bad.gender = "x";
        assert_eq!(
            DeclaredIdentity::parse(&bad, today()).unwrap_err(),
            vec![IdentityProblem::FamilyName, IdentityProblem::Gender]
        );
    }
}
