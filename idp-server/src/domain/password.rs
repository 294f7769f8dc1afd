//! Passwords chosen at enrolment (DESIGN §7: ≥ 12 characters and not trivially weak).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordProblem {
    TooShort,
    TooLong,
    TooSimple,
    ContainsEmail,
}

/// Checks a new password. It is hashed right after, never stored as such.
pub fn check(password: &str, email: &str) -> Result<(), PasswordProblem> {
    let length = password.chars().count();
    if length < 12 {
        return Err(PasswordProblem::TooShort);
    }
    if length > 128 {
        return Err(PasswordProblem::TooLong);
    }
    let mut distinct: Vec<char> = password.to_lowercase().chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 5
        || is_sequence(password)
        || COMMON.iter().any(|c| password.to_lowercase().contains(c))
    {
        return Err(PasswordProblem::TooSimple);
    }
    let local = email.split('@').next().unwrap_or("").to_lowercase();
    if local.len() >= 4 && password.to_lowercase().contains(&local) {
        return Err(PasswordProblem::ContainsEmail);
    }
    Ok(())
}

/// `123456789012`, `abcdefghijkl`, `azertyuiopqs`…: a keyboard or counting run.
fn is_sequence(password: &str) -> bool {
    let lower = password.to_lowercase();
    [
        "0123456789012345678901234567890",
        "abcdefghijklmnopqrstuvwxyz",
        "azertyuiopqsdfghjklmwxcvbn",
        "qwertyuiopasdfghjklzxcvbnm",
    ]
    .iter()
    .any(|run| run.contains(&lower) || run.chars().rev().collect::<String>().contains(&lower))
}

/// Fragments that make a long password guessable anyway.
const COMMON: [&str; 12] = [
    "password",
    "motdepasse",
    "azerty",
    "qwerty",
    "123456",
    "soleil",
    "bonjour",
    "france",
    "sesame",
    "000000",
    "111111",
    "abcdef",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        let email = "marie.curie@example.fr";
        assert_eq!(check("Tr0mbone-Vert-42", email), Ok(()));
        assert_eq!(check("short", email), Err(PasswordProblem::TooShort));
        assert_eq!(
            check("aaaaaaaaaaaaaa", email),
            Err(PasswordProblem::TooSimple)
        );
        assert_eq!(
            check("123456789012", email),
            Err(PasswordProblem::TooSimple)
        );
        assert_eq!(
            check("azertyuiopqs", email),
            Err(PasswordProblem::TooSimple)
        );
        assert_eq!(
            check("MonMotDePasse2026!", email),
            Err(PasswordProblem::TooSimple)
        );
        assert_eq!(
            check("marie.curie-1984!", email),
            Err(PasswordProblem::ContainsEmail)
        );
        assert_eq!(
            check(&"x1y2z3".repeat(30), email),
            Err(PasswordProblem::TooLong)
        );
    }
}
