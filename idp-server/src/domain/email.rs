//! Email addresses, parsed once at the edge.

use std::fmt;

/// A syntactically valid, lower-cased email address (RFC 5321 lengths).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let value = raw.trim().to_lowercase();
        if value.is_empty() {
            return Err("empty");
        }
        if value.len() > 254 {
            return Err("too long");
        }
        let (local, domain) = value.rsplit_once('@').ok_or("missing @")?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err("invalid local part");
        }
        let labels_ok = domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
        if !domain.contains('.') || !labels_ok {
            return Err("invalid domain");
        }
        let local_ok = local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        if !local_ok || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err("invalid local part");
        }
        Ok(Email(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn parses_and_normalises() {
        assert_eq!(
            Email::parse(" Marie.Curie@Example.FR ").unwrap().as_str(),
            "marie.curie@example.fr"
        );
        for bad in [
            "",
            "a",
            "a@b",
            "@b.fr",
            "a@@b.fr",
            "a b@c.fr",
            "a..b@c.fr",
            "a@-b.fr",
            "a@b..fr",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
