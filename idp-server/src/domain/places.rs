//! The places where a citizen can have their identity verified face to face
//! (post offices), as an operator lists them in `verification.places_file`,
//! and the search by postal code of the reference page. Parsed once at
//! start-up (`config`); a bad entry stops the start with one line naming it.

use serde::Deserialize;

/// At most this many places are shown at once.
pub const MAX_SHOWN: usize = 10;

/// One verification place.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Place {
    pub name: String,
    pub address: String,
    /// Five digits (checked by [`parse`]).
    pub postal_code: String,
    pub town: String,
    /// Opening hours as the citizen reads them ("lundi–vendredi 9 h–18 h").
    pub hours: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlacesFile {
    #[serde(default)]
    place: Vec<Place>,
}

/// Parses the places file (TOML, one `[[place]]` table per place). The
/// error is one line: the TOML error's position, or the entry (its number
/// from 1 and its name) and what is wrong with it.
pub fn parse(text: &str) -> Result<Vec<Place>, String> {
    let file: PlacesFile = toml::from_str(text).map_err(|e| one_line(&e.to_string()))?;
    for (i, place) in file.place.iter().enumerate() {
        check(place).map_err(|what| format!("entry {} ({:?}): {what}", i + 1, place.name))?;
    }
    if file.place.is_empty() {
        return Err("no [[place]] entry".to_owned());
    }
    Ok(file.place)
}

/// "TOML parse error at line 3, column 1: missing field `town`".
fn one_line(error: &str) -> String {
    let mut lines = error.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or_default().trim().to_owned();
    match lines.next_back() {
        Some(last) if !last.trim_start().starts_with('|') && last.trim() != first => {
            format!("{first}: {}", last.trim())
        }
        _ => first,
    }
}

fn check(place: &Place) -> Result<(), &'static str> {
    for (value, what) in [
        (&place.name, "name is empty"),
        (&place.address, "address is empty"),
        (&place.town, "town is empty"),
        (&place.hours, "hours is empty"),
    ] {
        if value.trim().is_empty() {
            return Err(what);
        }
    }
    if [&place.name, &place.address, &place.town, &place.hours]
        .iter()
        .any(|v| v.chars().count() > 200)
    {
        return Err("a value is longer than 200 characters");
    }
    if !is_postal_code(&place.postal_code) {
        return Err("postal_code must be 5 digits");
    }
    Ok(())
}

fn is_postal_code(code: &str) -> bool {
    code.len() == 5 && code.bytes().all(|b| b.is_ascii_digit())
}

/// A postal code typed in the search: 2 to 5 digits (spaces ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostalQuery(String);

impl PostalQuery {
    pub fn parse(raw: &str) -> Option<Self> {
        let digits: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        ((2..=5).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
            .then_some(PostalQuery(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many digits name the département of a postal code: 3 overseas
/// (97x, 98x), else 2 (Corsica's 20xxx included).
fn departement_len(code: &str) -> usize {
    if code.starts_with("97") || code.starts_with("98") {
        3
    } else {
        2
    }
}

/// The places for `query`, at most [`MAX_SHOWN`]: those whose postal code
/// starts with the query first (the longest common prefix first), then the
/// rest of the same département; by town and name within each. Without a
/// query, the first places of the file, in its order.
pub fn search<'a>(places: &'a [Place], query: Option<&PostalQuery>) -> Vec<&'a Place> {
    let Some(query) = query else {
        return places.iter().take(MAX_SHOWN).collect();
    };
    let q = query.as_str();
    let mut found: Vec<(usize, &Place)> = places
        .iter()
        .filter_map(|p| {
            let common = p
                .postal_code
                .bytes()
                .zip(q.bytes())
                .take_while(|(a, b)| a == b)
                .count();
            let same_departement = common >= departement_len(&p.postal_code);
            (common == q.len() || same_departement).then_some((common, p))
        })
        .collect();
    found.sort_by(|(a, p), (b, o)| {
        b.cmp(a)
            .then_with(|| p.town.cmp(&o.town))
            .then_with(|| p.name.cmp(&o.name))
    });
    found.into_iter().take(MAX_SHOWN).map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(name: &str, postal_code: &str, town: &str) -> Place {
        Place {
            name: name.into(),
            address: "1 rue de la Poste".into(),
            postal_code: postal_code.into(),
            town: town.into(),
            hours: "9 h–18 h".into(),
        }
    }

    #[test]
    fn the_shipped_example_file_is_valid() {
        let places = parse(include_str!("../../../config/places.toml")).unwrap();
        assert!(places.len() >= 5);
    }

    #[test]
    fn a_bad_entry_is_named_on_one_line() {
        let text = "[[place]]\nname = \"A\"\naddress = \"x\"\npostal_code = \"69001\"\ntown = \"Lyon\"\nhours = \"9 h\"\n\
                    [[place]]\nname = \"B\"\naddress = \"x\"\npostal_code = \"6900\"\ntown = \"Lyon\"\nhours = \"9 h\"\n";
        let error = parse(text).unwrap_err();
        assert_eq!(error, "entry 2 (\"B\"): postal_code must be 5 digits");
        let missing = parse("[[place]]\nname = \"A\"\n").unwrap_err();
        assert!(!missing.contains('\n'), "{missing}");
        assert!(missing.contains("line"), "{missing}");
        assert!(missing.contains("missing field"), "{missing}");
        let unknown = parse("[[place]]\nname = \"A\"\ncolour = \"red\"\n").unwrap_err();
        assert!(unknown.contains("colour"), "{unknown}");
        assert!(parse("").is_err());
    }

    #[test]
    fn queries_are_two_to_five_digits() {
        assert_eq!(PostalQuery::parse(" 69 003 ").unwrap().as_str(), "69003");
        assert!(PostalQuery::parse("6").is_none());
        assert!(PostalQuery::parse("690031").is_none());
        assert!(PostalQuery::parse("Lyon").is_none());
    }

    #[test]
    fn search_puts_the_prefix_first_then_the_departement() {
        let places = vec![
            place("Paris Louvre", "75001", "Paris"),
            place("Villeurbanne", "69100", "Villeurbanne"),
            place("Lyon Part-Dieu", "69003", "Lyon"),
            place("Lyon Bellecour", "69002", "Lyon"),
            place("Fort-de-France", "97200", "Fort-de-France"),
            place("Le Lamentin", "97232", "Le Lamentin"),
            place("Saint-Denis", "97400", "Saint-Denis"),
        ];
        let names = |q: &str| -> Vec<&str> {
            search(&places, PostalQuery::parse(q).as_ref())
                .iter()
                .map(|p| p.name.as_str())
                .collect()
        };
        assert_eq!(
            names("69003"),
            ["Lyon Part-Dieu", "Lyon Bellecour", "Villeurbanne"]
        );
        assert_eq!(
            names("69"),
            ["Lyon Bellecour", "Lyon Part-Dieu", "Villeurbanne"]
        );
        assert_eq!(names("97233"), ["Le Lamentin", "Fort-de-France"]);
        assert!(names("13001").is_empty());
        assert_eq!(search(&places, None).len(), places.len());
    }
}
